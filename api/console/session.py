"""Staff sign-in for the console: a signed, HttpOnly, SameSite cookie with an idle timeout.

The cookie holds ``<user id>.<signed in at>.<last seen>.<hmac>``: nothing secret, nothing the browser
can change without breaking the signature. Every request re-reads the user (through a cache of a few
seconds, cleared when an admin changes a user), so a deactivated user's session stops at once, and
a moved user acts with their new role and department. Idle longer than ``idle_seconds``, or signed
in longer than ``max_seconds``, and the session is over. Logging out deletes the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from litestar import Request
from litestar.datastructures import Cookie

from core.auth import recent
from core.model import Actor
from core.tables import User

COOKIE = "huying_console"
REFRESH_AFTER = 60  # seconds between re-signings of "last seen" (not on every request)


class NotSignedIn(Exception):
    """No valid session: the console answers with its sign-in page."""

    def __init__(self, reason: str = ""):
        super().__init__(reason)
        self.reason = reason


class Sessions:
    def __init__(self, secret: str, *, idle_seconds: int = 30 * 60, max_seconds: int = 12 * 3600,
                 secure: bool = False):
        self._key = hashlib.sha256(b"huying-console-session:" + secret.encode()).digest()
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self.secure = secure

    def _sign(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()

    def issue(self, user_id: int, signed_in: int | None = None, now: int | None = None) -> str:
        now = int(time.time()) if now is None else now
        body = f"{user_id}.{signed_in or now}.{now}"
        return f"{body}.{self._sign(body)}"

    def cookie(self, value: str) -> Cookie:
        return Cookie(key=COOKIE, value=value, path="/console", httponly=True, samesite="strict",
                      secure=self.secure, max_age=self.max_seconds)

    def expired_cookie(self) -> Cookie:
        return Cookie(key=COOKIE, value="", path="/console", httponly=True, samesite="strict",
                      secure=self.secure, max_age=0, expires=0)

    def read(self, value: str | None, now: int | None = None) -> tuple[int, int, int]:
        """(user id, signed in at, last seen) of a valid, live session; else ``NotSignedIn``."""
        now = int(time.time()) if now is None else now
        try:
            user_id, signed_in, seen, signature = (value or "").split(".")
            valid = hmac.compare_digest(signature, self._sign(f"{user_id}.{signed_in}.{seen}"))
            user_id, signed_in, seen = int(user_id), int(signed_in), int(seen)
        except ValueError:
            raise NotSignedIn() from None
        if not valid:
            raise NotSignedIn()
        if now - seen > self.idle_seconds or now - signed_in > self.max_seconds:
            raise NotSignedIn("长时间未操作，已自动退出，请重新登录")
        return user_id, signed_in, seen


async def actor_for_user(user_id: int) -> Actor:
    """The active user behind a session, as an actor; ``NotSignedIn`` once deactivated."""
    credential = f"console:{user_id}"
    if actor := recent.get(credential):
        return actor
    user = await User.select().where((User.id == user_id) & (User.active == True)).first()  # noqa: E712
    if user is None:
        raise NotSignedIn("该账号已停用或不存在，请联系管理员")
    return recent.put(credential, Actor(name=user["username"], role=user["role"], department=user["department"]))


async def current_actor(request: Request) -> Actor:
    """Who is signed in; marks the session for a fresh "last seen" when it is due."""
    sessions: Sessions = request.app.state.console.sessions
    user_id, signed_in, seen = sessions.read(request.cookies.get(COOKIE))
    actor = await actor_for_user(user_id)
    if time.time() - seen > REFRESH_AFTER:
        request.scope.setdefault("state", {})["console_session"] = sessions.issue(user_id, signed_in)
    return actor
