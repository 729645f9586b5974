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
    "MetricsToken": {"type": "http", "scheme": "bearer", "description": "指标抓取令牌（HUYING_METRICS_TOKEN）"},
    "CitySignature": {"type": "apiKey", "in": "header", "name": "X-Huying-Signature",
                      "description": "市级平台推送的 HMAC-SHA256 签名（与 X-Huying-Timestamp 一起）"},
}
SECURED = [{"BearerToken": []}, {"ApiKey": []}]
PUBLIC = [{}]  # anyone, no credentials


def needs_actor(handler) -> bool:
    """Whether a route answers only a caller who proves who they are: it takes the ``actor``."""
    return "actor" in handler.parsed_fn_signature.parameters


def document_security(handler) -> None:
    """The OpenAPI requirement of a route, from what it does: one that takes the ``actor`` needs a
    token or a key; one that does not, and says nothing of its own, is open to anyone."""
    if handler.security is None and not needs_actor(handler):
        handler.security = PUBLIC


async def authenticated_first(connection, handler) -> None:
    """A caller without valid credentials gets 401 before the body is read: otherwise a bad body
    would be answered 400 to anyone, and the document's 401 would not be what they meet first."""
    if connection.scope.get("type") == "http" and needs_actor(handler):
        await provide_actor(connection)


async def provide_actor(request: Request) -> Actor:
    known = request.scope.get("state", {}).get("actor")
    if known is not None:  # resolved already, before the body (``authenticated_first``)
        return known
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
