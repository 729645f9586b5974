"""Staff accounts."""

from __future__ import annotations

from core import access_audit
from core.auth import hash_password, recent
from core.errors import FieldError, InvalidInput, NotFound
from core.model import ROLES
from core.tables import ConsoleSession, Department, User


async def add_user(username: str, *, role: str, password: str, department: str | None = None,
                   display_name: str = "", trained: bool = False) -> int:
    """Create a user; a handler must belong to an existing department. A new account is not yet
    已培训上岗 unless ``trained`` says so (the demo's and the test data's staff)."""
    if role not in ROLES:
        raise ValueError(f"未知角色 {role}，可选：{', '.join(ROLES)}")
    if role == "handler" and not department:
        raise ValueError("承办人必须指定所属单位（--department）")
    if department and not await Department.exists().where(Department.code == department):
        raise ValueError(f"单位 {department} 不存在")
    if len(password) < 8:
        raise ValueError("密码至少 8 位")
    if await User.exists().where(User.username == username):
        raise ValueError(f"用户 {username} 已存在")
    rows = await User.insert(User(username=username, display_name=display_name or username, role=role,
                                  department=department, password_hash=hash_password(password),
                                  trained=trained)).returning(User.id)
    return rows[0]["id"]


async def display_names() -> dict[str, str]:
    """Each staff username's name as colleagues know it (小周), for pages that show who did what."""
    rows = await User.select(User.username, User.display_name)
    return {r["username"]: r["display_name"] or r["username"] for r in rows}


async def _revoke(user_id: int) -> None:
    """Every token and console session issued to the user so far stops working."""
    await User.update({User.token_version: User.token_version + 1}).where(User.id == user_id)
    await ConsoleSession.delete().where(ConsoleSession.user_id == user_id)


async def set_password(user_id: int, password: str, *, by: str, address: str = "") -> None:
    """A new password (an admin's reset or the user's own change): earlier sign-ins end everywhere."""
    if len(password) < 8 or len(password) > 256:
        raise ValueError("新密码至少 8 位")
    hashed = hash_password(password)
    async with User._meta.db.transaction():
        user = await User.select(User.username).where(User.id == user_id).first()
        await User.update({User.password_hash: hashed}).where(User.id == user_id)
        await _revoke(user_id)
        await access_audit.record("account_changed", actor=by, address=address, target=user["username"],
                                  detail={"change": "password"})
    recent.clear()  # this process at once; the others within recent.TTL seconds


async def set_active(user_id: int, active: bool, *, by: str, address: str = "") -> None:
    """Deactivate or re-activate: both end earlier sign-ins, so a re-activated account starts afresh
    (its old tokens and sessions are not revived)."""
    async with User._meta.db.transaction():
        user = await User.select(User.username).where(User.id == user_id).first()
        await User.update({User.active: active}).where(User.id == user_id)
        await _revoke(user_id)
        await access_audit.record("account_changed", actor=by, address=address, target=user["username"],
                                  detail={"change": "activate" if active else "deactivate"})
    recent.clear()


async def set_role(user_id: int, role: str, department: str | None, *, by: str, address: str = "") -> None:
    """Move a user to another role or department; their sessions go on, acting as what they now are."""
    async with User._meta.db.transaction():
        user = await User.select(User.username).where(User.id == user_id).first()
        await User.update({User.role: role, User.department: department}).where(User.id == user_id)
        await access_audit.record("account_changed", actor=by, address=address, target=user["username"],
                                  detail={"change": "role", "role": role, "department": department or ""})
    recent.clear()


DISPLAY_NAME_MAX = 64


def checked_display_name(name: str) -> str:
    """The name as colleagues will read it (小周, 王科长): 1–64 characters, no control characters."""
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput([FieldError("display_name", "请填写姓名")])
    if len(name) > DISPLAY_NAME_MAX:
        raise InvalidInput([FieldError("display_name", f"姓名不能超过 {DISPLAY_NAME_MAX} 个字")])
    if any(not ch.isprintable() for ch in name):
        raise InvalidInput([FieldError("display_name", "姓名含有不可显示的字符")])
    return name


async def set_display_name(username: str, name: str, *, by: str, role: str = "", address: str = "") -> dict:
    """Change the name shown for a member of staff wherever a person is shown (timelines, lists,
    pickers, documents); audited with the old and new name. The username (to sign in) stays."""
    name = checked_display_name(name)
    async with User._meta.db.transaction():
        user = await User.select(User.id, User.username, User.display_name).where(User.username == username).first()
        if user is None:
            raise NotFound(f"用户 {username} 不存在")
        if user["display_name"] != name:
            await User.update({User.display_name: name}).where(User.id == user["id"])
            await access_audit.record("account_changed", actor=by, role=role, address=address, target=username,
                                      detail={"change": "display_name", "old": user["display_name"], "new": name})
    recent.clear()
    return {"username": username, "display_name": name, "changed": user["display_name"] != name}
