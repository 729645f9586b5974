"""Who is calling: a staff bearer token or an integration's ``X-API-Key``, resolved on each request."""

from __future__ import annotations

from litestar import Request

from core.auth import actor_from_api_key, actor_from_token
from core.errors import Forbidden, Unauthorized
from core.model import Actor


# OpenAPI: how callers prove who they are (every route needs one of them unless it says PUBLIC)
SECURITY_SCHEMES = {
    "BearerToken": {"type": "http", "scheme": "bearer", "description": "POST /api/auth/token 换取的令牌"},
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "管理员创建的对接系统密钥"},
}
SECURED = [{"BearerToken": []}, {"ApiKey": []}]
PUBLIC = [{}]  # anyone, no credentials


async def provide_actor(request: Request) -> Actor:
    actor = await _resolve(request)
    request.scope.setdefault("state", {})["actor"] = actor  # the request log audits exports by it
    return actor


async def _resolve(request: Request) -> Actor:
    platform = request.app.state.platform
    api_key = request.headers.get("x-api-key")
    if api_key:
        return await actor_from_api_key(api_key)
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token:
        return await actor_from_token(token.strip(), platform.settings.secret_key)
    raise Unauthorized("请先登录（Authorization: Bearer <token>）或提供 X-API-Key")


def require_role(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        raise Forbidden("无权执行此操作")
