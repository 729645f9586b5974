"""The working calendar over the API: a year's days with their source, the centre's own days, the
import of a year's official schedule and the office hours (``core.calendar_admin``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Request, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from api.schemas import CalendarDayIn, CalendarDayOut, CalendarImportIn, OfficeHoursIn, errors
from api.security import require_role
from core import calendar_admin
from core.errors import NotFound
from core.model import Actor
from core.tables import CalendarDay

TAGS = ["工作日历"]


def _staff(actor: Actor) -> None:
    require_role(actor, "agent", "dispatcher", "handler", "supervisor", "admin", "auditor")


@get("/api/calendar/days", tags=TAGS, summary="中心设定的工作日和休息日（覆盖其他来源）", responses=errors(401))
async def list_calendar_days(actor: NamedDependency[Actor]) -> list[CalendarDayOut]:
    rows = await CalendarDay.select().order_by(CalendarDay.day)
    return [CalendarDayOut(day=r["day"], workday=r["workday"], note=r["note"]) for r in rows]


@post("/api/calendar/days", tags=TAGS, summary="设定某天为工作日或休息日（仅管理员；受影响的在办工单时限随之重算）",
      status_code=200, responses=errors(400, 401, 403, 409))
async def set_calendar_day(request: Request, data: JSONBody[CalendarDayIn], actor: NamedDependency[Actor]) -> CalendarDayOut:
    require_role(actor, "admin")
    moved = await calendar_admin.set_day(request.app.state.platform, data.day, data.workday, data.note, actor)
    return CalendarDayOut(day=data.day, workday=data.workday, note=data.note, moved_orders=moved)


@delete("/api/calendar/days/{day:date}", tags=TAGS, summary="取消中心对某天的设定（仅管理员）", status_code=200,
        responses=errors(400, 401, 403, 404, 409))
async def remove_calendar_day(request: Request, day: FromPath[dt.date], actor: NamedDependency[Actor]) -> dict[str, Any]:
    require_role(actor, "admin")
    moved = await calendar_admin.remove_day(request.app.state.platform, day, actor)
    if moved is None:
        raise NotFound(f"{day} 没有中心设定")
    return {"day": day.isoformat(), "removed": True, "moved_orders": moved}


@get("/api/calendar/office-hours", tags=TAGS, summary="办公时间（计算时限和排班预测所用）", responses=errors(401, 403))
async def get_office_hours(actor: NamedDependency[Actor]) -> dict[str, Any]:
    _staff(actor)
    return await calendar_admin.office_hours_setting()


@put("/api/calendar/office-hours", tags=TAGS, summary="修改办公时间（仅管理员；此后计算的时限按新时间）",
     responses=errors(400, 401, 403))
async def set_office_hours(request: Request, data: JSONBody[OfficeHoursIn], actor: NamedDependency[Actor]) -> dict[str, Any]:
    require_role(actor, "admin")
    await calendar_admin.set_office_hours(request.app.state.platform, data.office_hours, actor)
    return await calendar_admin.office_hours_setting()


@get("/api/calendar/changes", tags=TAGS, summary="工作日历的修改记录（谁、何时、影响多少工单）", responses=errors(401, 403))
async def list_calendar_changes(actor: NamedDependency[Actor]) -> list[dict[str, Any]]:
    require_role(actor, "admin", "supervisor", "auditor")
    return await calendar_admin.changes()


@get("/api/calendar/{year:int}", tags=TAGS, summary="某年每一天：是否工作日、节日名称、是否推算，以及办公时间",
     responses=errors(400, 401, 403, 404))
async def get_calendar_year(request: Request, year: FromPath[int], actor: NamedDependency[Actor]) -> dict[str, Any]:
    _staff(actor)
    calendar_admin.check_year(year)
    platform = request.app.state.platform
    await platform.sla.refresh()
    notes = {r["day"]: r["note"] for r in await CalendarDay.select(CalendarDay.day, CalendarDay.note).where(
        (CalendarDay.day >= dt.date(year, 1, 1)) & (CalendarDay.day <= dt.date(year, 12, 31)))}
    return calendar_admin.year_view(platform.calendar, year, notes)


@post("/api/calendar/{year:int}/import", tags=TAGS, status_code=200,
      summary="导入国务院公布的某年节假日安排（仅管理员；替换该年的推算或日历包数据，受影响的在办工单时限随之重算）",
      responses=errors(400, 401, 403, 404, 409))
async def import_calendar_year(request: Request, year: FromPath[int], data: JSONBody[CalendarImportIn],
                               actor: NamedDependency[Actor]) -> dict[str, Any]:
    require_role(actor, "admin")
    return await calendar_admin.import_year(request.app.state.platform, year, msgspec.to_builtins(data.holidays),
                                            msgspec.to_builtins(data.workdays), actor)


ROUTES = [list_calendar_days, set_calendar_day, remove_calendar_day, get_office_hours, set_office_hours,
          list_calendar_changes, get_calendar_year, import_calendar_year]
