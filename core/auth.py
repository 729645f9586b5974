"""Who is asking: password hashes, signed bearer tokens for staff, API keys for integrations.

Tokens are stateless (``<user id>.<token version>.<expiry>.<hmac>``) and re-checked against the user
row on every request (through a cache of a few seconds), so deactivating a user, resetting their
password or moving them to another department takes effect at once. Throttling and auditing sign-ins
is ``core/signin.py``'s.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

import msgspec

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
    """What a credential or a user id resolved to a moment ago: every request is authenticated, and
    the user or key row changes rarely, so a lookup is reused for ``TTL`` seconds. The process that
    changes a user clears it at once; every other process sees the change within ``TTL``."""

    TTL = 5.0

    def __init__(self):
        self._seen: dict[str, tuple[float, Any]] = {}

    def get(self, credential: str) -> Any:
        hit = self._seen.get(credential)
        if hit and time.monotonic() - hit[0] < self.TTL:
            return hit[1]
        return None

    def put(self, credential: str, value: Any) -> Any:
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[credential] = (time.monotonic(), value)
        return value

    def forget(self, credential: str) -> None:
        self._seen.pop(credential, None)

    def clear(self) -> None:
        self._seen.clear()


recent = _Recent()


class StaffUser(msgspec.Struct, frozen=True):
    """The parts of an active user a request needs, with the token version it must match."""

    id: int
    username: str
    role: str
    department: str | None
    token_version: int
    trained: bool = True

    @property
    def actor(self) -> Actor:
        return Actor(name=self.username, role=self.role, department=self.department, trained=self.trained)


async def active_user(user_id: int) -> StaffUser | None:
    """The active user with this id (cached for ``recent.TTL`` seconds), or None."""
    key = f"user:{user_id}"
    if (hit := recent.get(key)) is not None:
        return hit or None
    row = await User.select(User.id, User.username, User.role, User.department, User.token_version,
                            User.trained).where(
        (User.id == user_id) & (User.active == True)).first()  # noqa: E712
    return recent.put(key, StaffUser(**row) if row else False) or None


def _sign(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def issue_token(user_id: int, secret: str, ttl: int, version: int = 1) -> tuple[str, int]:
    """``<user id>.<token version>.<expiry>.<hmac>``: a later password change, reset, deactivation or
    re-activation raises the user's version and so ends every token issued before it."""
    expires = int(time.time()) + ttl
    body = f"{user_id}.{version}.{expires}"
    return f"{body}.{_sign(secret, body)}", expires


async def actor_from_token(token: str, secret: str) -> Actor:
    try:
        user_id, version, expires, signature = token.split(".")
        valid = hmac.compare_digest(signature.encode(), _sign(secret, f"{user_id}.{version}.{expires}").encode())
        expired = int(expires) < time.time()
        valid = valid and 0 < int(user_id) < 2 ** 31 and 0 < int(version) < 2 ** 31
    except ValueError:
        valid, expired = False, False
    if not valid:
        raise Unauthorized("登录凭证无效")
    if expired:
        raise Unauthorized("登录已过期，请重新登录")
    user = await active_user(int(user_id))
    if user is None:
        raise Unauthorized("用户不存在或已停用")
    if user.token_version != int(version):
        raise Unauthorized("登录凭证已失效（密码已修改或账号状态已变更），请重新登录")
    return user.actor


_decoy_hash: dict[int, str] = {}


def _decoy(cost: int) -> str:
    """A hash of nothing at the current cost: checked when the user does not exist, so a wrong
    username takes as long as a wrong password and usernames cannot be told apart by timing."""
    if cost not in _decoy_hash:
        _decoy_hash[cost] = hash_password(secrets.token_urlsafe(16), cost)
    return _decoy_hash[cost]


async def check_credentials(username: str, password: str) -> dict | None:
    """The active user for these credentials, or None. An unknown user, a wrong password and a
    deactivated account take the same time (a hash of the same cost is checked for each)."""
    user = await User.select().where(User.username == username).first()
    known = user is not None and user["active"]
    stored = user["password_hash"] if known else _decoy(SCRYPT_COST)
    # scrypt takes tens of milliseconds: in a thread, so other requests go on meanwhile
    matches = await asyncio.to_thread(verify_password, password, stored)
    return user if known and matches else None


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
