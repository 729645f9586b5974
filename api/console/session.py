"""Staff sign-in for the console: a server-side session behind an HttpOnly, SameSite cookie.

The cookie holds a random key and nothing else; the database keeps the key's SHA-256 with the user,
the user's token version at sign-in, when they signed in and when they were last seen. So a session
ends for good, on every process, when its row goes: on 退出 (a replayed cookie then opens nothing),
when the user's password is changed or reset or the user is deactivated (their token version moves
on, and with it every session and bearer token issued before), after ``idle_seconds`` without a
request, and ``max_seconds`` after signing in whatever the activity (``HUYING_CONSOLE_MAX_HOURS``).

Every request reads the session and the user through a cache of a few seconds (``core.auth.recent``),
cleared at once in the process that ends a session or changes a user; other processes notice
within that time. "Last seen" is written at most once a minute. Why this and not litestar's
server-side session middleware: docs/operations.md, section "Sign-in and sessions".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

import msgspec
from litestar import Request
from litestar.datastructures import Cookie

from core import clock
from core.auth import StaffUser, active_user, recent
from core.model import Actor
from core.tables import ConsoleSession

COOKIE = "huying_console"
REFRESH_AFTER = dt.timedelta(seconds=60)  # between writes of "last seen" (not on every request)
_KEY = re.compile(r"^[A-Za-z0-9_-]{40,64}$")


class NotSignedIn(Exception):
    """No valid session: the console answers with its sign-in page."""

    def __init__(self, reason: str = ""):
        super().__init__(reason)
        self.reason = reason


class Session(msgspec.Struct, frozen=True):
    key_hash: str
    user_id: int
    token_version: int
    signed_in_at: dt.datetime
    last_seen_at: dt.datetime


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Sessions:
    def __init__(self, *, idle_seconds: int = 30 * 60, max_seconds: int = 12 * 3600, secure: bool = False):
        self.idle = dt.timedelta(seconds=idle_seconds)
        self.max = dt.timedelta(seconds=max_seconds)
        self.secure = secure

    @property
    def idle_seconds(self) -> int:
        return int(self.idle.total_seconds())

    async def open(self, user: dict, address: str = "") -> str:
        """A new session for a user who just proved their password; the cookie's value."""
        key = secrets.token_urlsafe(32)
        now = clock.now()
        # sessions that ran out (anyone's) are cleared here, so the table holds little more than the live ones
        await ConsoleSession.delete().where(
            (ConsoleSession.last_seen_at < now - self.idle) | (ConsoleSession.signed_in_at < now - self.max))
        await ConsoleSession.insert(ConsoleSession(
            key_hash=_hash(key), user_id=user["id"], token_version=user["token_version"], signed_in_at=now,
            last_seen_at=now, address=address[:64]))
        return key

    def cookie(self, value: str) -> Cookie:
        return Cookie(key=COOKIE, value=value, path="/console", httponly=True, samesite="strict",
                      secure=self.secure, max_age=int(self.max.total_seconds()))

    def expired_cookie(self) -> Cookie:
        return Cookie(key=COOKIE, value="", path="/console", httponly=True, samesite="strict",
                      secure=self.secure, max_age=0, expires=0)

    async def find(self, value: str | None) -> Session | None:
        """The session this cookie names, whether or not it is still live; None if there is none."""
        if not value or not _KEY.match(value):
            return None
        key_hash = _hash(value)
        cached = recent.get(f"session:{key_hash}")
        if cached is not None:
            return cached or None
        row = await ConsoleSession.select(
            ConsoleSession.key_hash, ConsoleSession.user_id, ConsoleSession.token_version,
            ConsoleSession.signed_in_at, ConsoleSession.last_seen_at).where(ConsoleSession.key_hash == key_hash).first()
        return recent.put(f"session:{key_hash}", Session(**row) if row else False) or None

    async def read(self, value: str | None) -> Session:
        """The live session behind a cookie; else ``NotSignedIn`` (an ended one is deleted)."""
        session = await self.find(value)
        if session is None:
            raise NotSignedIn()
        now = clock.now()
        if now - session.last_seen_at > self.idle:
            await self.end(session)
            raise NotSignedIn("长时间未操作，已自动退出，请重新登录")
        if now - session.signed_in_at > self.max:
            await self.end(session)
            raise NotSignedIn(f"登录已满 {self.max.total_seconds() / 3600:g} 小时，请重新登录")
        return session

    async def touch(self, session: Session) -> None:
        """Move "last seen" on (at most once per ``REFRESH_AFTER``)."""
        now = clock.now()
        if now - session.last_seen_at < REFRESH_AFTER:
            return
        await ConsoleSession.update({ConsoleSession.last_seen_at: now}).where(
            ConsoleSession.key_hash == session.key_hash)
        recent.put(f"session:{session.key_hash}", msgspec.structs.replace(session, last_seen_at=now))

    async def end(self, session: Session) -> None:
        await ConsoleSession.delete().where(ConsoleSession.key_hash == session.key_hash)
        recent.forget(f"session:{session.key_hash}")


async def signed_in_user(request: Request) -> tuple[Session, StaffUser]:
    """The live session and its active user, or ``NotSignedIn``; marks the session as seen."""
    sessions: Sessions = request.app.state.console.sessions
    session = await sessions.read(request.cookies.get(COOKIE))
    user = await active_user(session.user_id)
    if user is None:
        await sessions.end(session)
        raise NotSignedIn("该账号已停用或不存在，请联系管理员")
    if user.token_version != session.token_version:
        await sessions.end(session)
        raise NotSignedIn("密码已修改或账号状态已变更，请重新登录")
    await sessions.touch(session)
    return session, user


async def current_actor(request: Request) -> Actor:
    """Who is signed in."""
    return (await signed_in_user(request))[1].actor
