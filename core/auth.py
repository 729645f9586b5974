"""Who is asking: password hashes, signed bearer tokens for staff, API keys for integrations.

Tokens are stateless (``<user id>.<expiry>.<hmac>``) and re-checked against the user row on every
request, so deactivating a user or moving them to another department takes effect at once.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import hmac
import math
import secrets
import time

from core.errors import TooManyRequests, Unauthorized
from core.model import Actor
from core.tables import ApiKey, User

SCRYPT_COST = 2 ** 14  # the work factor is stored with each hash, so it can be raised later


def hash_password(password: str, cost: int | None = None) -> str:
    cost = cost or SCRYPT_COST
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=cost, r=8, p=1, dklen=32)
    return f"scrypt${cost}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, cost, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(cost), r=8, p=1, dklen=32)
    except ValueError:
        return False
    return hmac.compare_digest(computed, base64.b64decode(digest))


class _Recent:
    """Who a token or key resolved to a moment ago: every request is authenticated, and the user or
    key row changes rarely, so a lookup is reused for ``TTL`` seconds (a deactivation or revocation
    takes effect within that time on every process)."""

    TTL = 5.0

    def __init__(self):
        self._seen: dict[str, tuple[float, Actor]] = {}

    def get(self, credential: str) -> Actor | None:
        hit = self._seen.get(credential)
        if hit and time.monotonic() - hit[0] < self.TTL:
            return hit[1]
        return None

    def put(self, credential: str, actor: Actor) -> Actor:
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[credential] = (time.monotonic(), actor)
        return actor

    def clear(self) -> None:
        self._seen.clear()


recent = _Recent()


def _sign(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def issue_token(user_id: int, secret: str, ttl: int) -> tuple[str, int]:
    expires = int(time.time()) + ttl
    body = f"{user_id}.{expires}"
    return f"{body}.{_sign(secret, body)}", expires


async def actor_from_token(token: str, secret: str) -> Actor:
    try:
        user_id, expires, signature = token.split(".")
        valid = hmac.compare_digest(signature.encode(), _sign(secret, f"{user_id}.{expires}").encode())
        expired = int(expires) < time.time()
        valid = valid and 0 < int(user_id) < 2 ** 31
    except ValueError:
        valid, expired = False, False
    if not valid:
        raise Unauthorized("登录凭证无效")
    if expired:
        raise Unauthorized("登录已过期，请重新登录")
    if actor := recent.get(token):
        return actor
    user = await User.select().where((User.id == int(user_id)) & (User.active == True)).first()  # noqa: E712
    if user is None:
        raise Unauthorized("用户不存在或已停用")
    return recent.put(token, Actor(name=user["username"], role=user["role"], department=user["department"]))


class LoginThrottle:
    """Failed logins counted per account and per address in a sliding window (this process's memory).

    Past the limit every attempt is refused with 429 before any password is checked, so guessing stops
    being worth it; a success clears the account's count. Limits are ``(failures, seconds)``.
    """

    MAX_TRACKED = 50_000

    def __init__(self, per_account: tuple[int, int], per_address: tuple[int, int], clock=time.monotonic):
        self.limits = {"account": per_account, "address": per_address}
        self.clock = clock
        self._failures: dict[tuple[str, str], collections.deque[float]] = {}

    def _recent(self, kind: str, who: str, now: float) -> collections.deque[float]:
        failures = self._failures.setdefault((kind, who), collections.deque())
        window = self.limits[kind][1]
        while failures and failures[0] <= now - window:
            failures.popleft()
        return failures

    def check(self, username: str, address: str) -> None:
        now = self.clock()
        for kind, who, what in (("account", username, "该账号"), ("address", address, "您所在的网络")):
            failures = self._recent(kind, who, now)
            count, window = self.limits[kind]
            if len(failures) >= count:
                wait = max(1, math.ceil(failures[0] + window - now))
                raise TooManyRequests(f"{what}登录失败次数过多，请 {wait} 秒后再试", wait,
                                      "username" if kind == "account" else "address")

    def failed(self, username: str, address: str) -> None:
        now = self.clock()
        if len(self._failures) > self.MAX_TRACKED:
            self._failures.clear()
        self._recent("account", username, now).append(now)
        self._recent("address", address, now).append(now)

    def succeeded(self, username: str) -> None:
        self._failures.pop(("account", username), None)


_decoy_hash: dict[int, str] = {}


def _decoy(cost: int) -> str:
    """A hash of nothing at the current cost: checked when the user does not exist, so a wrong
    username takes as long as a wrong password and usernames cannot be told apart by timing."""
    if cost not in _decoy_hash:
        _decoy_hash[cost] = hash_password(secrets.token_urlsafe(16), cost)
    return _decoy_hash[cost]


async def login(username: str, password: str, *, address: str = "",
                throttle: LoginThrottle | None = None) -> dict:
    """The user for these credentials, or 401 (the same answer, in the same time, for an unknown user,
    a wrong password or a deactivated account), or 429 after too many failures."""
    if throttle:
        throttle.check(username, address)
    user = await User.select().where(User.username == username).first()
    known = user is not None and user["active"]
    stored = user["password_hash"] if known else _decoy(SCRYPT_COST)
    # scrypt takes tens of milliseconds: in a thread, so other requests go on meanwhile
    matches = await asyncio.to_thread(verify_password, password, stored)
    if not (known and matches):
        if throttle:
            throttle.failed(username, address)
        raise Unauthorized("用户名或密码错误")
    if throttle:
        throttle.succeeded(username)
    return user


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_api_key(name: str, channels: list[str], reply_url: str | None = None) -> str:
    """Store a new key (only its hash) and return it; it is shown once."""
    prefix = secrets.token_hex(4)
    key = f"hy_{prefix}_{secrets.token_urlsafe(24)}"
    await ApiKey.insert(ApiKey(name=name, prefix=prefix, key_hash=_key_hash(key), channels=channels,
                               reply_url=reply_url))
    return key


async def actor_from_api_key(key: str) -> Actor:
    if actor := recent.get(key):
        return actor
    parts = key.split("_")
    row = None
    if len(parts) >= 3 and parts[0] == "hy":
        row = await ApiKey.select().where((ApiKey.prefix == parts[1]) & (ApiKey.active == True)).output(  # noqa: E712
            load_json=True).first()
    if row is None or not hmac.compare_digest(row["key_hash"].encode(), _key_hash(key).encode()):
        raise Unauthorized("API Key 无效")
    return recent.put(key, Actor(name=f"api:{row['name']}", role="integration", kind="api_key",
                                 channels=tuple(row["channels"] or ())))
