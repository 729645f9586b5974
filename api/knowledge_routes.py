"""Knowledge base, suggestions and the category tree over the API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter, QueryParameter
from litestar.response import Template

from api.schemas import errors
from api.security import require_role
from core import areas, categories
from core.errors import Forbidden
from core.knowledge import ArticleIn, Review
from core.model import CENTRE_ROLES, Actor
from core.routing import suggest
from core.tables import Department


# -- knowledge base -----------------------------------------------------------------------------------

@post("/api/knowledge", tags=["知识库"], summary="提交一条新知识（承办单位；中心可代单位提交），待中心审核",
      status_code=201)
async def submit_article(request: Request, data: JSONBody[ArticleIn], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await request.app.state.platform.knowledge.submit(data, actor)


@get("/api/knowledge", tags=["知识库"], summary="知识列表；带 q 时检索已发布且在有效期内的知识（常用的在前）")
async def list_articles(
    request: Request, actor: NamedDependency[Actor], q: FromQuery[str | None] = None,
    department: FromQuery[str | None] = None,
    article_state: Annotated[Literal["pending", "published"] | None, QueryParameter(name="state")] = None,
    page: Annotated[int, Parameter(ge=1, le=10000)] = 1,
    page_size: Annotated[int, Parameter(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    return await request.app.state.platform.knowledge.list(actor, q=q, department=department, state=article_state,
                                                           page=page, page_size=page_size)


@get("/api/knowledge/{article_id:int}", tags=["知识库"], summary="一条知识：发布版本、历史版本和审核记录")
async def get_article(request: Request, article_id: FromPath[int], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await request.app.state.platform.knowledge.get(article_id, actor)


@post("/api/knowledge/{article_id:int}/revisions", tags=["知识库"], summary="修订：提交新版本，待中心审核",
      status_code=201, responses=errors(400, 401, 403, 404, 409, 413))
async def revise_article(request: Request, article_id: FromPath[int], data: JSONBody[ArticleIn],
                         actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await request.app.state.platform.knowledge.revise(article_id, data, actor)


@post("/api/knowledge/{article_id:int}/review", tags=["知识库"], summary="审核：通过（发布）或退回（写明原因）",
      status_code=200, responses=errors(400, 401, 403, 404, 409, 413))
async def review_article(request: Request, article_id: FromPath[int], data: JSONBody[Review],
                         actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await request.app.state.platform.knowledge.review(article_id, data, actor)


@get("/api/public/faq", tags=["知识库"], summary="常见问题（公开的已发布知识，无需登录）")
async def public_faq(request: Request, q: FromQuery[str | None] = None,
                     page: Annotated[int, Parameter(ge=1, le=1000)] = 1) -> dict[str, Any]:
    result = await request.app.state.platform.knowledge.list(
        Actor(name="public", role="citizen", kind="public"), q=q, public_only=True, page=page, page_size=20)
    result["items"] = [{"id": i["id"], "question": i["published"]["question"], "answer": i["published"]["answer"],
                        "category": i["published"]["category"]} for i in result["items"]]
    return result


@get("/faq", tags=["知识库"], summary="常见问题页面", include_in_schema=False)
async def faq_page(request: Request, q: FromQuery[str | None] = None) -> Template:
    result = await public_faq.fn(request, q=q, page=1)
    return Template(template_name="faq.html", context={"items": result["items"], "q": q or "",
                                                       "total": result["total"]})


# -- suggestions ---------------------------------------------------------------------------------------

class SuggestionRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    content: Annotated[str, msgspec.Meta(max_length=20000)] = ""
    channel: Annotated[str, msgspec.Meta(max_length=64)] = "hotline"
    kind: Annotated[str, msgspec.Meta(max_length=32)] = ""
    category: Annotated[str, msgspec.Meta(max_length=128)] = ""
    area: Annotated[str, msgspec.Meta(max_length=64)] = ""


@post("/api/suggestions", tags=["派单"], status_code=200,
      summary="派单与分类建议：匹配的派单规则优先，模型给出前三名单位、置信度和理由")
async def suggestions(request: Request, data: JSONBody[SuggestionRequest], actor: NamedDependency[Actor]) -> dict[str, Any]:
    if actor.role not in CENTRE_ROLES:
        raise Forbidden("只有中心人员可以查看派单建议")
    platform = request.app.state.platform
    rule = suggest(await platform.orders.reference.routing(data.channel), subject=data.subject,
                   content=data.content, category=data.category, area=data.area, kind=data.kind)
    await platform.orders.learned.refresh()
    order = {"subject": data.subject, "content": data.content, "channel": data.channel, "kind": data.kind,
             "category": data.category, "area": data.area}
    names = {r["code"]: r["name"] for r in await Department.select(Department.code, Department.name)}
    departments = [{"department": r.label, "name": names.get(r.label, r.label), "confidence": r.confidence,
                    "reasons": r.reasons} for r in platform.orders.learned.rank("department", **order)]
    categories_ = [{"category": r.label, "confidence": r.confidence, "reasons": r.reasons}
                   for r in platform.orders.learned.rank("category", **{**order, "category": ""})]
    return {"rule": {"department": rule.department, "name": names.get(rule.department, rule.department),
                     "reason": rule.reason} if rule else None,
            "departments": departments, "categories": categories_}


@get("/api/dispatch-models", tags=["派单"], summary="建议模型的各个版本及其评估结果")
async def list_models(actor: NamedDependency[Actor]) -> list[dict[str, Any]]:
    require_role(actor, "supervisor", "admin", "dispatcher")
    from core.tables import DispatchModel

    rows = await DispatchModel.select(DispatchModel.id, DispatchModel.target, DispatchModel.number,
                                      DispatchModel.trained_at, DispatchModel.samples, DispatchModel.evaluation,
                                      DispatchModel.active).order_by(DispatchModel.id, ascending=False).output(
        load_json=True)
    return [{**r, "trained_at": r["trained_at"].isoformat()} for r in rows]


@post("/api/dispatch-models/train", tags=["派单"], status_code=200, summary="立即用历史工单重新训练（仅管理员）")
async def train_models(request: Request, actor: NamedDependency[Actor]) -> list[dict[str, Any]]:
    require_role(actor, "admin")
    from core.suggestions import TARGETS, train

    keep = request.app.state.platform.settings.dispatch_models_kept
    results = [await train(target, keep=keep) for target in TARGETS]  # each in a child process
    await request.app.state.platform.orders.learned.refresh(force=True)
    return results


# -- the category tree ---------------------------------------------------------------------------------

@get("/api/categories", tags=["分类"], summary="中心的三级分类树")
async def list_categories(actor: NamedDependency[Actor], include_inactive: FromQuery[bool] = False) -> list[dict[str, Any]]:
    return await categories.tree(include_inactive=include_inactive and actor.role == "admin")


@post("/api/categories", tags=["分类"], summary="新增分类（仅管理员）", status_code=201,
      responses=errors(400, 401, 403, 404, 409, 413))
async def add_category(data: JSONBody[categories.CategoryIn], actor: NamedDependency[Actor]) -> dict[str, Any]:
    require_role(actor, "admin")
    return await categories.add(data)


@patch("/api/categories/{category_id:int}", tags=["分类"], summary="改名、排序或停用分类（仅管理员）")
async def change_category(category_id: FromPath[int], data: JSONBody[categories.CategoryChange],
                          actor: NamedDependency[Actor]) -> dict[str, Any]:
    require_role(actor, "admin")
    return await categories.change(category_id, data)


# -- the streets and towns (街道、乡镇) --------------------------------------------------------------------

@get("/api/areas", tags=["街道"], summary="湘江新区的街道（乡镇）列表：工单的 area 只能取其中的名称")
async def list_areas(actor: NamedDependency[Actor], include_inactive: FromQuery[bool] = False) -> list[dict[str, Any]]:
    return await areas.listed(include_inactive=include_inactive and actor.role == "admin")


@post("/api/areas", tags=["街道"], summary="新增街道（乡镇）（仅管理员）", status_code=201,
      responses=errors(400, 401, 403, 409, 413))
async def add_area(request: Request, data: JSONBody[areas.AreaIn], actor: NamedDependency[Actor]) -> dict[str, Any]:
    require_role(actor, "admin")
    added = await areas.add(data)
    request.app.state.platform.orders.forget_reference_data()
    return added


@patch("/api/areas/{area_id:int}", tags=["街道"], summary="改名、别名、排序或停用街道（乡镇）（仅管理员）；改名后旧名作为别名保留",
       responses=errors(400, 401, 403, 404, 409, 413))
async def change_area(request: Request, area_id: FromPath[int], data: JSONBody[areas.AreaChange],
                      actor: NamedDependency[Actor]) -> dict[str, Any]:
    require_role(actor, "admin")
    changed = await areas.change(area_id, data)
    request.app.state.platform.orders.forget_reference_data()
    return changed


ROUTES = [list_areas, add_area, change_area, submit_article, list_articles, get_article, revise_article, review_article, public_faq, faq_page,
          suggestions, list_models, train_models, list_categories, add_category, change_category]
