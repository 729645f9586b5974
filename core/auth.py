"""Who is asking: password hashes, signed bearer tokens for staff, API keys for integrations.

Tokens are stateless (``<user id>.<expiry>.<hmac>``) and re-checked against the user row on every
request, so deactivating a user or moving them to another department takes effect at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from core.errors import Unauthorized
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
        valid = hmac.compare_digest(signature, _sign(secret, f"{user_id}.{expires}"))
        expired = int(expires) < time.time()
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


async def login(username: str, password: str) -> dict:
    user = await User.select().where(User.username == username).first()
    if user is None or not user["active"] or not verify_password(password, user["password_hash"]):
        raise Unauthorized("用户名或密码错误")
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
    if row is None or not hmac.compare_digest(row["key_hash"], _key_hash(key)):
        raise Unauthorized("API Key 无效")
    return recent.put(key, Actor(name=f"api:{row['name']}", role="integration", kind="api_key",
                                 channels=tuple(row["channels"] or ())))
