"""On-site verification (实地核实) over the API (``core.site_visits``): schedule one on an order, record
its findings, conclusion, place and photos, add photos, list an order's and one's own. Who may see a
verification is who may see its order; photos are the order's attachments, checked like every upload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, JSONBody

from api.schemas import errors
from core.errors import FieldError, InvalidInput
from core.model import Actor
from core.site_visits import Photo, Record, Schedule, Visit
from core.storage import MAX_BYTES

TAGS = ["实地核实"]


@dataclass
class PhotoUpload:
    """The multipart body: one photo in the part named ``data``."""

    data: UploadFile


def _visits(request: Request):
    return request.app.state.platform.site_visits


@post("/api/orders/{number:str}/site-visits", tags=TAGS, status_code=201,
      summary="安排实地核实（申诉、复查或企业走访；督办员、派单员、管理员）", responses=errors(400, 401, 403, 404, 409))
async def schedule_visit(request: Request, number: FromPath[str], data: JSONBody[Schedule],
                         actor: NamedDependency[Actor]) -> Visit:
    return await _visits(request).schedule(number, data, actor)


@get("/api/orders/{number:str}/site-visits", tags=TAGS, summary="工单的实地核实（照片、地点、结论）",
     responses=errors(400, 401, 404))
async def order_visits(request: Request, number: FromPath[str], actor: NamedDependency[Actor]) -> list[Visit]:
    return await _visits(request).for_order(number, actor)


@get("/api/site-visits/mine", tags=TAGS, summary="等我去核实的实地核实（按预约时间）", responses=errors(401))
async def my_visits(request: Request, actor: NamedDependency[Actor]) -> list[Visit]:
    return await _visits(request).mine(actor)


@get("/api/site-visits/{visit_id:int}", tags=TAGS, summary="一次实地核实", responses=errors(400, 401, 404))
async def one_visit(request: Request, visit_id: FromPath[int], actor: NamedDependency[Actor]) -> Visit:
    return await _visits(request).get(visit_id, actor)


@post("/api/site-visits/{visit_id:int}/record", tags=TAGS, status_code=200,
      summary="记录实地核实：核实情况、结论、地点（定位或地址）、照片", responses=errors(400, 401, 403, 404, 409))
async def record_visit(request: Request, visit_id: FromPath[int], data: JSONBody[Record],
                       actor: NamedDependency[Actor]) -> Visit:
    return await _visits(request).record(visit_id, data, actor)


@post("/api/site-visits/{visit_id:int}/photos", tags=TAGS, status_code=201,
      summary="为实地核实上传一张照片（JPG、PNG；存为工单附件）", request_max_body_size=MAX_BYTES + 64 * 1024,
      responses=errors(400, 401, 403, 404, 409, 413))
async def add_photo(request: Request, visit_id: FromPath[int], actor: NamedDependency[Actor],
                    data: Annotated[PhotoUpload, Body(media_type=RequestEncodingType.MULTI_PART)]) -> Photo:
    upload = data.data
    if not isinstance(upload, UploadFile):
        raise InvalidInput([FieldError("data", "请在 data 中上传一张照片")])
    platform = request.app.state.platform
    return await _visits(request).add_photo(visit_id, upload.filename or "", await upload.read(), actor,
                                            platform.attachments)


ROUTES = [schedule_visit, order_visits, my_visits, one_visit, record_visit, add_photo]
