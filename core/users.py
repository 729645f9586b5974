"""Staff accounts."""

from __future__ import annotations

from core.auth import hash_password
from core.model import ROLES
from core.tables import Department, User


async def add_user(username: str, *, role: str, password: str, department: str | None = None,
                   display_name: str = "") -> int:
    """Create a user; a handler must belong to an existing department."""
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
                                  department=department, password_hash=hash_password(password))).returning(User.id)
    return rows[0]["id"]
