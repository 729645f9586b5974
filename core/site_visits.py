"""On-site verification (实地核实): the centre's own staff go and look.

A supervisor, dispatcher or admin schedules a verification of an order for one of three purposes:
an appeal awaiting its ruling, a recheck (a channel declaring ``site_visit="recheck"``) or an
enterprise visit (``site_visit="enterprise_visit"``); a department's handler may schedule one on its
own orders except for an appeal, which is the department's own claim. One of the people sent (or a
scheduler) records it, usually from a phone: findings, photos (kept as the order's attachments, checked
like every upload), the place (the phone's position where allowed, or a typed address) and a
conclusion the appeal's ruling reads. Each step is an audited event on the order's timeline, written
in the same transaction; who may see a verification is who may see its order.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from core.attachments import NewAttachment, attachments_of
from core.clock import SHANGHAI
from core.db import insert_row, read_transaction, write_transaction
from core.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from core.lifecycle import STATUSES as ORDER_STATUSES
from core.lifecycle import TERMINAL
from core.model import CENTRE_ROLES, Actor, OrderRecord, as_record
from core.storage import check_file, clean_filename
from core.tables import Order, SiteVisit, User

PURPOSES = {"appeal": "申诉核实", "recheck": "复查核实", "enterprise_visit": "企业走访核实"}
CHANNEL_PURPOSES = ("recheck", "enterprise_visit")  # what a channel may declare as its ``site_visit``
CONCLUSIONS = {"confirmed": "属实", "partly": "部分属实", "unfounded": "不属实", "unverifiable": "无法核实"}
STATUSES = {"scheduled": "待核实", "recorded": "已核实"}
EVENTS = {"site_visit_scheduled": "安排实地核实", "site_visit_recorded": "记录实地核实",
          "site_visit_photo": "实地核实照片"}
# how the timeline names the keys of these events' payloads, and their choices
TIMELINE_KEYS = {"site_visit": ("核实编号", {}), "purpose": ("核实事由", PURPOSES),
                 "conclusion": ("核实结论", CONCLUSIONS)}
SCHEDULERS = frozenset({"dispatcher", "supervisor", "admin"})
MAX_PHOTOS = 20
MAX_PHOTOS_AT_ONCE = 6
MINE_LIMIT = 200
SCHEDULE_PAST = dt.timedelta(days=30)  # a visit made before it was entered can still be scheduled
SCHEDULE_AHEAD = dt.timedelta(days=366)

Username = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Schedule(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    purpose: Annotated[Literal[tuple(PURPOSES)],
                       msgspec.Meta(description="核实事由：appeal 申诉核实、recheck 复查核实、enterprise_visit 企业走访核实")]
    scheduled_at: Annotated[dt.datetime, msgspec.Meta(description="预约时间（带时区）")]
    staff: Annotated[list[Username], msgspec.Meta(min_length=1, max_length=10, description="核实人员的用户名")]
    note: Annotated[str, msgspec.Meta(max_length=2000, description="安排说明")] = ""


class Place(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    latitude: Annotated[float, msgspec.Meta(ge=-90, le=90, description="纬度")]
    longitude: Annotated[float, msgspec.Meta(ge=-180, le=180, description="经度")]
    accuracy: Annotated[float, msgspec.Meta(ge=0, le=100_000, description="定位精度（米）")] = 0


class Record(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    findings: Annotated[str, msgspec.Meta(min_length=1, max_length=4000, description="核实情况")]
    conclusion: Annotated[Literal[tuple(CONCLUSIONS)],
                          msgspec.Meta(description="核实结论：confirmed 属实、partly 部分属实、unfounded 不属实、unverifiable 无法核实")]
    place: Place | None = None
    address: Annotated[str, msgspec.Meta(max_length=200, description="核实地点（未定位时填写）")] = ""
    photos: Annotated[list[Annotated[str, msgspec.Meta(max_length=128)]],
                      msgspec.Meta(max_length=MAX_PHOTOS, description="已上传到本工单的图片附件编号")] = []


class Photo(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    filename: str


class Visit(msgspec.Struct, kw_only=True):
    """A verification as the API and the pages show it (labels beside codes; no citizen data)."""

    id: int
    order: str
    order_subject: str
    purpose: str
    purpose_label: str
    status: str
    status_label: str
    scheduled_at: dt.datetime
    staff: list[str]
    note: str
    findings: str
    conclusion: str
    conclusion_label: str
    place: Place | None
    address: str
    photos: list[Photo]
    department: str | None
    created_by: str
    created_at: dt.datetime
    recorded_by: str
    recorded_at: dt.datetime | None


def purposes_for(channel, status: str) -> dict[str, str]:
    """What an order of ``channel`` in ``status`` may be verified for now, by label."""
    fits = {}
    if status == "appealing":
        fits["appeal"] = PURPOSES["appeal"]
    if channel is not None and channel.site_visit and status not in TERMINAL:
        fits[channel.site_visit] = PURPOSES[channel.site_visit]
    return fits


def may_schedule(actor: Actor, department: str | None, purposes) -> bool:
    """Whether ``actor`` may schedule a verification for any of ``purposes`` on an order of ``department``."""
    return actor.role in SCHEDULERS or (actor.role == "handler" and actor.department == department
                                        and any(p != "appeal" for p in purposes))


def _bad(key: str, message: str) -> InvalidInput:
    return InvalidInput([FieldError(key, message)], message)


class SiteVisits:
    """The verifications of the platform's orders, written through the order service's transaction
    and audit events."""

    def __init__(self, orders):
        self.orders = orders

    # -- writes ---------------------------------------------------------------------------------------

    async def schedule(self, number: str, data: Schedule, actor: Actor) -> Visit:
        now = self.orders.clock()
        if data.scheduled_at.tzinfo is None:
            raise _bad("scheduled_at", "预约时间须带时区，例如 2026-12-08T09:00:00+08:00")
        if not now - SCHEDULE_PAST <= data.scheduled_at <= now + SCHEDULE_AHEAD:
            raise _bad("scheduled_at", "预约时间须在 30 天前至一年后之间")
        async with write_transaction(self.orders.engine):
            order = await self.orders.queries.load(number, actor)
            self._may_schedule(order, data.purpose, actor)
            self._purpose_fits(order, data.purpose)
            staff = await self._check_staff(order, data.purpose, data.staff)
            visit_id = await insert_row(SiteVisit, {
                "order_id": order.id, "purpose": data.purpose, "status": "scheduled",
                "scheduled_at": data.scheduled_at, "staff": staff, "note": data.note.strip(), "findings": "",
                "conclusion": "", "place": {}, "address": "", "photos": [], "department": order.department,
                "created_by": actor.name, "created_at": now, "recorded_by": "", "version": 1})
            names = await _names()
            when = data.scheduled_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
            reason = f"{PURPOSES[data.purpose]}，预约 {when}，人员：{'、'.join(names.get(s, s) for s in staff)}"
            await self.orders.record_event(order, "site_visit_scheduled", actor, order.status, order.status,
                                           reason + (f"。{data.note.strip()}" if data.note.strip() else ""),
                                           {"site_visit": visit_id, "purpose": data.purpose}, now)
        return await self.get(visit_id, actor)

    async def record(self, visit_id: int, data: Record, actor: Actor, *,
                     uploads: list[tuple[str, bytes]] = (), store=None) -> Visit:
        """Findings, conclusion, place and photos, in one transaction; ``uploads`` are photos sent with
        the record (the phone's form), each checked by its content like every attachment."""
        if data.place is None and not data.address.strip():
            raise _bad("address", "请用手机定位，或填写核实地点")
        checked = await _checked_photos(uploads, "photos")
        now = self.orders.clock()
        async with write_transaction(self.orders.engine):
            row, order = await self._load(visit_id, actor)
            self._may_record(row, actor)
            if row["status"] != "scheduled":
                raise Conflict("这次实地核实已经记录，不能再次记录")
            keys = list(dict.fromkeys([*row["photos"], *data.photos]))
            if data.photos:
                images = {a.key for a in await attachments_of(order, keys=data.photos)
                          if a.content_type.startswith("image/")}
                if set(data.photos) - images:
                    raise _bad("photos", "照片须是本工单的图片附件，请先上传再填写附件编号")
            if len(keys) + len(checked) > MAX_PHOTOS:
                raise _bad("photos", f"一次核实最多 {MAX_PHOTOS} 张照片")
            keys += [await self._keep_photo(order, filename, blob, content_type, actor, store, now)
                     for filename, blob, content_type in checked]
            place = msgspec.to_builtins(data.place) if data.place else {}
            await _update(row, {
                SiteVisit.status: "recorded", SiteVisit.findings: data.findings.strip(),
                SiteVisit.conclusion: data.conclusion, SiteVisit.place: place,
                SiteVisit.address: data.address.strip(), SiteVisit.photos: keys,
                SiteVisit.recorded_by: actor.name, SiteVisit.recorded_at: now})
            where = data.address.strip() or _place_text(place)
            reason = (f"{PURPOSES[row['purpose']]}结论：{CONCLUSIONS[data.conclusion]}。{data.findings.strip()}"
                      f"（地点：{where}；照片 {len(keys)} 张）")
            await self.orders.record_event(order, "site_visit_recorded", actor, order.status, order.status, reason,
                                           {"site_visit": visit_id, "purpose": row["purpose"],
                                            "conclusion": data.conclusion}, now)
        return await self.get(visit_id, actor)

    async def add_photo(self, visit_id: int, filename: str, data: bytes, actor: Actor, store) -> Photo:
        """One more photo of a verification (before or after it is recorded)."""
        (checked,) = await _checked_photos([(filename, data)], "data")
        now = self.orders.clock()
        async with write_transaction(self.orders.engine):
            row, order = await self._load(visit_id, actor)
            self._may_record(row, actor)
            if len(row["photos"]) >= MAX_PHOTOS:
                raise _bad("data", f"一次核实最多 {MAX_PHOTOS} 张照片")
            key = await self._keep_photo(order, *checked, actor, store, now)
            await _update(row, {SiteVisit.photos: [*row["photos"], key]})
            await self.orders.record_event(order, "site_visit_photo", actor, order.status, order.status,
                                           f"{PURPOSES[row['purpose']]}照片：{clean_filename(filename)}",
                                           {"site_visit": visit_id}, now)
        return Photo(key=key, filename=clean_filename(filename))

    async def _keep_photo(self, order: OrderRecord, filename: str, blob: bytes, content_type: str, actor: Actor,
                          store, now: dt.datetime) -> str:
        if order.status in TERMINAL:
            raise Conflict(f"工单已{ORDER_STATUSES[order.status]}，不能再上传照片")
        key = store.save(blob, content_type)
        await self.orders.attachment_desk.record(order, NewAttachment(
            key=key, filename=clean_filename(filename), content_type=content_type, size=len(blob)), actor, now)
        return key

    # -- reads ----------------------------------------------------------------------------------------

    async def get(self, visit_id: int, actor: Actor) -> Visit:
        async with read_transaction(self.orders.engine):
            row, order = await self._load(visit_id, actor)
            return (await _shown([row], {order.id: order}))[0]

    async def for_order(self, number: str, actor: Actor) -> list[Visit]:
        async with read_transaction(self.orders.engine):
            order = await self.orders.queries.load(number, actor)
            rows = await SiteVisit.select().where(SiteVisit.order_id == order.id).order_by(
                SiteVisit.id).output(load_json=True)
            return await _shown(rows, {order.id: order})

    async def mine(self, actor: Actor) -> list[Visit]:
        """The verifications waiting for ``actor`` (one of the people sent), soonest first."""
        from core.visibility import visible

        async with read_transaction(self.orders.engine):
            rows = await SiteVisit.select().where(SiteVisit.status == "scheduled").order_by(
                SiteVisit.scheduled_at).limit(MINE_LIMIT * 5).output(load_json=True)
            rows = [r for r in rows if actor.name in r["staff"]][:MINE_LIMIT]
            ids = list({r["order_id"] for r in rows})
            orders = {o["id"]: as_record(o) for o in await Order.select().where(
                Order.id.is_in(ids or [0])).output(load_json=True) if visible(o, actor)}
            return await _shown([r for r in rows if r["order_id"] in orders], orders)

    # -- rules ----------------------------------------------------------------------------------------

    async def _load(self, visit_id: int, actor: Actor) -> tuple[dict, OrderRecord]:
        row = await SiteVisit.select().where(SiteVisit.id == visit_id).output(load_json=True).first()
        if row is None:
            raise NotFound("实地核实记录不存在")
        number = await Order.select(Order.number).where(Order.id == row["order_id"]).first()
        try:
            order = await self.orders.queries.load(number["number"], actor)
        except NotFound:
            raise NotFound("实地核实记录不存在") from None
        return row, order

    @staticmethod
    def _may_schedule(order: OrderRecord, purpose: str, actor: Actor) -> None:
        if may_schedule(actor, order.department, [purpose]):
            return
        raise Forbidden("只有督办员、派单员、管理员（或本工单承办单位，申诉除外）可以安排实地核实")

    @staticmethod
    def _may_record(row: dict, actor: Actor) -> None:
        if actor.name in row["staff"] or actor.role in SCHEDULERS:
            return
        raise Forbidden("只有安排的核实人员或中心督办员、派单员、管理员可以记录实地核实")

    def _purpose_fits(self, order: OrderRecord, purpose: str) -> None:
        if purpose in purposes_for(self.orders.channels.get(order.channel), order.status):
            return
        if purpose == "appeal":
            raise _bad("purpose", "这件工单没有待裁定的申诉")
        if order.status in TERMINAL:
            raise Conflict(f"工单已{ORDER_STATUSES[order.status]}，不能再安排实地核实")
        raise _bad("purpose", f"这件工单不能安排{PURPOSES[purpose]}")

    @staticmethod
    async def _check_staff(order: OrderRecord, purpose: str, staff: list[str]) -> list[str]:
        staff = list(dict.fromkeys(s.strip() for s in staff))
        rows = {r["username"]: r for r in await User.select(User.username, User.role, User.department).where(
            User.username.is_in(staff) & (User.active == True))}  # noqa: E712
        for username in staff:
            user = rows.get(username)
            if user is None:
                raise _bad("staff", f"没有在岗的工作人员「{username}」")
            own_handler = user["role"] == "handler" and user["department"] == order.department
            if not (user["role"] in CENTRE_ROLES or own_handler and purpose != "appeal"):
                raise _bad("staff", f"「{username}」不能参加这次核实（申诉须由中心人员核实）"
                           if own_handler else f"「{username}」不是中心或本工单承办单位的工作人员")
        return staff


async def _update(row: dict, changes: dict) -> None:
    """Change a verification as it was read; a change made meanwhile by someone else refuses this one."""
    updated = await SiteVisit.update({**changes, SiteVisit.version: row["version"] + 1}).where(
        (SiteVisit.id == row["id"]) & (SiteVisit.version == row["version"])).returning(SiteVisit.id)
    if not updated:
        raise Conflict("这次实地核实刚被他人修改，请刷新后重试")


async def _checked_photos(uploads, key: str) -> list[tuple[str, bytes, str]]:
    from core.storage import AttachmentRefused

    if len(uploads) > MAX_PHOTOS_AT_ONCE:
        raise _bad(key, f"一次最多上传 {MAX_PHOTOS_AT_ONCE} 张照片")
    checked = []
    for filename, blob in uploads:
        try:
            content_type = await check_file(blob)
        except AttachmentRefused as refused:
            raise _bad(key, str(refused)) from None
        if not content_type.startswith("image/"):
            raise _bad(key, "照片须是 JPG 或 PNG 图片")
        checked.append((filename or "photo.jpg", blob, content_type))
    return checked


def _place_text(place: dict) -> str:
    if not place:
        return ""
    text = f"北纬 {place['latitude']:.5f}，东经 {place['longitude']:.5f}"
    return text + (f"（误差约 {round(place['accuracy'])} 米）" if place.get("accuracy") else "")


async def _names() -> dict[str, str]:
    from core.users import display_names

    return await display_names()


async def _shown(rows: list[dict], orders: dict[int, OrderRecord]) -> list[Visit]:
    shown = []
    for r in rows:
        order = orders[r["order_id"]]
        files = {a.key: a.filename for a in await attachments_of(order, keys=r["photos"])}
        shown.append(Visit(
            id=r["id"], order=order.number, order_subject=order.subject, purpose=r["purpose"],
            purpose_label=PURPOSES.get(r["purpose"], ""), status=r["status"], status_label=STATUSES[r["status"]],
            scheduled_at=r["scheduled_at"].astimezone(SHANGHAI), staff=r["staff"], note=r["note"], findings=r["findings"],
            conclusion=r["conclusion"], conclusion_label=CONCLUSIONS.get(r["conclusion"], ""),
            place=msgspec.convert(r["place"], Place) if r["place"] else None, address=r["address"],
            photos=[Photo(key=k, filename=files[k]) for k in r["photos"] if k in files],
            department=r["department"], created_by=r["created_by"], created_at=r["created_at"].astimezone(SHANGHAI),
            recorded_by=r["recorded_by"], recorded_at=r["recorded_at"] and r["recorded_at"].astimezone(SHANGHAI)))
    return shown


async def site_visits_of(order: OrderRecord) -> list[Visit]:
    """The on-site verifications of an order, oldest first (for plugins: the caller has already read
    the order as its actor may see it)."""
    rows = await SiteVisit.select().where(SiteVisit.order_id == order.id).order_by(SiteVisit.id).output(load_json=True)
    return await _shown(rows, {order.id: order})


def place_text(visit: Visit) -> str:
    """Where a verification was made, as people read it."""
    return visit.address or _place_text(msgspec.to_builtins(visit.place) if visit.place else {})
