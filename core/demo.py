"""Demo data at scale: the district's departments, a user of each role, and years of order history.

Orders are real, public, anonymised citizen messages (``demo_data/``, see its README) spread over
the calendar the way a hotline's calls are — by hour of day, day of week, season and public holiday —
and walked through the lifecycle (dispatch, returns, acceptance, extensions, replies, review,
callback, appeals, rework) at plausible times up to now. Hundreds of thousands of orders are needed
to try the reports, so rows are written in bulk (``core.demo_writer``) rather than one request at a
time; every order's status, deadlines and rating agree with its audit events, exactly as the service
would have left them.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import random
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import chinese_calendar
import msgspec

from core import clock
from core.calendar import SHANGHAI, WorkCalendar
from core.channels import describe_fields
from core.confidential import Sealer
from core.tables import Department, Order, Team, TeamMember, User
from core.users import add_user

DATA = Path(__file__).parent / "demo_data"
DEMO_PASSWORD = "huying-demo"
UTC = dt.timezone.utc

# code, name, parent
DEPARTMENTS: tuple[tuple[str, str, str | None], ...] = (
    ("hotline_center", "12345热线事务中心", None),
    ("general_office", "管委会办公室", None),
    ("development", "经济发展局", None),
    ("housing", "住房和城乡建设局", None),
    ("urban_mgmt", "城市管理和综合执法局", None),
    ("eco_env", "生态环境分局", None),
    ("natural_resources", "自然资源和规划局", None),
    ("transport", "交通运输局", None),
    ("education", "教育局", None),
    ("hrss", "人力资源和社会保障局", None),
    ("health", "卫生健康局", None),
    ("commerce", "商务局", None),
    ("emergency", "应急管理局", None),
    ("market", "市场监督管理局", None),
    ("market_meixihu", "市场监督管理局梅溪湖所", "market"),
    ("market_lugu", "市场监督管理局麓谷所", "market"),
    ("market_gaotangling", "市场监督管理局高塘岭所", "market"),
    ("yuelu", "岳麓区片区", None),
    ("meixihu_street", "梅溪湖街道办事处", "yuelu"),
    ("lugu_street", "麓谷街道办事处", "yuelu"),
    ("guanshaling_street", "观沙岭街道办事处", "yuelu"),
    ("wangcheng", "望城区片区", None),
    ("gaotangling_street", "高塘岭街道办事处", "wangcheng"),
)
# area → places in it, so an order's address always lies in its area
AREAS: dict[str, tuple[str, ...]] = {
    "梅溪湖街道": ("梅溪湖路", "环湖路", "桃花岭小区", "梅溪青秀", "金茂湾", "节庆路"),
    "麓谷街道": ("麓谷大道", "文轩路", "麓谷林语", "信息产业园", "桐梓坡西路", "麓松路"),
    "观沙岭街道": ("滨江路", "观沙岭社区", "茶子山东路", "金星北路", "西湖公园", "湘江世纪城"),
    "高塘岭街道": ("郭亮路", "高塘岭大道", "斑马湖小区", "望城大道", "金星北路北段", "雷锋大道"),
    "坪塘街道": ("坪塘大道", "桐溪港", "山塘社区", "潇湘南大道", "新坪塘小区", "白泉村"),
    "洋湖街道": ("洋湖大道", "湘府西路", "洋湖湿地", "先导路", "依云曲畔", "连湖路"),
}
STREET_OFFICE = {"梅溪湖街道": "meixihu_street", "麓谷街道": "lugu_street", "观沙岭街道": "guanshaling_street",
                 "高塘岭街道": "gaotangling_street"}
# level-1 category → departments answering it
CATEGORY_DEPARTMENTS = {
    "城乡建设": ("housing", "urban_mgmt", "natural_resources"),
    "环境保护": ("eco_env",),
    "交通运输": ("transport",),
    "教育文体": ("education",),
    "劳动和社会保障": ("hrss",),
    "商贸旅游": ("commerce", "market"),
    "卫生计生": ("health",),
}
HANDLER_DEPARTMENTS = ("eco_env", "housing", "urban_mgmt", "education", "hrss", "transport", "general_office",
                       "emergency", "health", "commerce", "natural_resources", "development", "market",
                       "market_meixihu", "market_lugu", "market_gaotangling",
                       "meixihu_street", "lugu_street", "guanshaling_street", "gaotangling_street")
STAFF = (("agent", "agent", None, "话务员 小周"), ("dispatcher", "dispatcher", None, "派单员 小陈"),
         ("supervisor", "supervisor", None, "督办员 老王"), ("admin", "admin", None, "系统管理员"))
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
# the hotline's staff agents besides ``agent`` (话务员 小周): 36 in all, in three teams (班组) of 12 whose
# first member leads it; the tender asks for at least 30
TEAM_AGENTS = tuple((f"agent{n:02d}", f"话务员 {SURNAMES[n % len(SURNAMES)]}{'一二三四五六七八九十'[n % 10]}")
                    for n in range(2, 37))
TEAMS = ("话务一组", "话务二组", "话务三组")
KIND_WORDS = (("举报", "report"), ("投诉", "complaint"), ("建议", "suggestion"), ("咨询", "consult"),
              ("请问", "consult"), ("求助", "help"), ("感谢", "praise"))
SOURCES = (("phone", 55), ("city_transfer", 20), ("hongwang", 7), ("renminwang", 5), ("web_form", 8), ("mailbox", 3),
           ("api", 2))
# the share of calls in each hour of the day (a 12345 line answers around the clock)
HOURLY = (3, 2, 1, 1, 1, 2, 5, 14, 38, 52, 55, 48, 30, 28, 44, 50, 47, 40, 26, 20, 16, 12, 8, 5)
WEEKDAY = (1.18, 1.08, 1.02, 1.0, 0.98, 0.62, 0.55)  # Monday first
MONTH = (0.9, 0.85, 1.0, 1.0, 1.02, 1.08, 1.15, 1.15, 1.05, 0.95, 1.0, 1.02)  # summer: heat, noise, water
HOLIDAY = 0.5
SPECIAL_SHARE = 0.12  # orders in the special channels
REPEAT_SHARE = 0.05  # callers ringing again about the same matter within 30 days
BURST_SHARE = 0.002  # start of a cluster of orders about one place (a mass incident)
# (satisfaction, resolved) as citizens answer callbacks
RATINGS = ((("satisfied", True), 66), (("basically_satisfied", True), 17), (("basically_satisfied", False), 4),
           (("unsatisfied", True), 3), (("unsatisfied", False), 10))
CALL_SECONDS = (90, 420)  # a phone intake's talk time, recorded on its intake event


def _messages() -> list[dict[str, str]]:
    with open(DATA / "labelled-messages.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _replies() -> list[str]:
    with open(DATA / "messages-with-replies.csv", encoding="utf-8") as f:
        return [r["reply"][:600] for r in csv.DictReader(f) if r["reply"].strip()]


def _subcategories() -> dict[str, list[str]]:
    tree: dict[str, list[str]] = {}
    with open(DATA / "message-categories.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            name = f"{row['level1']}/{row['level2']}"
            if name not in tree.setdefault(row["level1"], []):
                tree[row["level1"]].append(name)
    return tree


def _kind(text: str) -> str:
    return next((kind for word, kind in KIND_WORDS if word in text), "complaint")


async def seed_reference() -> None:
    await Department.insert(*[Department(code=c, name=n, parent=p, sort=i)
                              for i, (c, n, p) in enumerate(DEPARTMENTS)])
    for username, role, department, name in STAFF:
        await add_user(username, role=role, department=department, password=DEMO_PASSWORD, display_name=name,
                       trained=True)
    for department in HANDLER_DEPARTMENTS:
        await add_user(f"h_{department}", role="handler", department=department, password=DEMO_PASSWORD)
    agents = ["agent"]
    for username, name in TEAM_AGENTS:
        await add_user(username, role="agent", password=DEMO_PASSWORD, display_name=name, trained=True)
        agents.append(username)
    size = -(-len(agents) // len(TEAMS))
    for i, name in enumerate(TEAMS):
        members = agents[i * size:(i + 1) * size]
        team = await Team.insert(Team(name=name, leader=members[0])).returning(Team.id)
        await TeamMember.insert(*[TeamMember(username=m, team_id=team[0]["id"]) for m in members])


def demo_details(channel) -> dict | None:
    """Field values for a channel's demo orders, read from its declaration alone (``sample_value``:
    a declared example, else the first choice — a list of it for a multi-choice —, else the least
    value its limits allow); optional free texts stay empty. None when the result does not satisfy
    the channel's own Struct (``Generator.skipped`` then names the channel, and why)."""
    return demo_details_or_reason(channel)[0]


def demo_details_or_reason(channel) -> tuple[dict | None, str]:
    """``demo_details`` and, when there are none, the channel's own refusal of the sample."""
    details = {}
    for info in describe_fields(channel.fields):
        if info.required or info.example is not None or info.choices or info.type in ("boolean", "integer", "number"):
            details[info.name] = info.sample
        elif info.type in ("string", "text"):
            details[info.name] = ""
    try:
        msgspec.convert(details, channel.fields, strict=False)
    except msgspec.ValidationError as exc:
        return None, str(exc)
    return details, ""


class _Life:
    """One order's path through the lifecycle, recorded as the service would record it."""

    def __init__(self, order: dict, now: dt.datetime, calendar: WorkCalendar, sla, days_due):
        self.order, self.now, self.calendar, self.sla, self.days_due = order, now, calendar, sla, days_due
        self.events: list[tuple] = []
        self.at = order["received_at"]
        self.over = False
        self.merge_into: str | None = None  # an earlier order a duplicate may be folded into

    def step(self, after_hours: float, action: str, actor: tuple[str, str, str | None], to: str | None,
             payload: dict | None = None, reason: str = "") -> bool:
        """Take one action ``after_hours`` later; False (and nothing recorded) when that is in the future."""
        if self.over:
            return False
        at = self.at + dt.timedelta(hours=after_hours)
        if at >= self.now:
            self.over = True
            return False
        self.at = at
        order = self.order
        before = order["status"]
        if to is not None and to != before:
            order["version"] += 1
        elif action in ("approve_extension", "request_extension"):
            order["version"] += 1
        order["status"] = to or before
        order["updated_at"] = at
        self.events.append((action, actor[0], actor[1], actor[2], before, order["status"], reason,
                            payload or {}, at))
        return True

    def due(self, name: str, start: dt.datetime) -> dict:
        """A deadline as the service stores it (instants stay datetimes until written)."""
        o = self.order
        if name == "dispatch" or (name == "handle" and o["priority"] == "urgent"):
            due = self.sla.due(name, start, channel=o["channel"], kind=o["kind"], priority=o["priority"])
        else:  # a whole-working-days limit depends only on the local day it starts
            due = self.days_due(name, o["channel"], o["kind"], start.astimezone(SHANGHAI).date())
        return {"start": start, "due": due, "done": None}

    def done(self, name: str) -> None:
        d = self.order["deadlines"].get(name)
        if d is not None and not d["done"]:
            d["done"] = self.at


def _deadline_summary(deadlines: dict, calendar: WorkCalendar) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The order's soonest open deadline and its 临期 instant, as the service keeps them."""
    from core.sla import deadline_summary

    still_open = {name: {"start": d["start"].isoformat(), "due": d["due"].isoformat(), "done": None}
                  for name, d in deadlines.items() if not d["done"]}
    return deadline_summary(still_open, calendar) if still_open else (None, None)


AGENT = ("agent", "agent", None)
DISPATCHER = ("dispatcher", "dispatcher", None)
SUPERVISOR = ("supervisor", "supervisor", None)


def _handler(department: str) -> tuple[str, str, str]:
    return (f"h_{department}", "handler", department)


def _walk(life: _Life, rng: random.Random, replies: list[str], department: str, other: str) -> None:
    """Move an order along a plausible path; stops at the first step that would lie in the future."""
    o = life.order
    r = rng.random
    if o["source"] == "phone" and o["kind"] in ("consult", "help") and r() < 0.3:
        if life.step(rng.uniform(0.05, 0.3), "resolve_at_intake", AGENT, "completed",
                     {"reply": rng.choice(replies)[:200]}):
            life.done("dispatch"), life.done("handle")
            o["deadlines"]["callback"] = life.due("callback", life.at)
            _callback(life, rng, replies, None)
        return
    if r() < 0.008:
        if life.merge_into and life.step(rng.uniform(0.1, 2), "merge", DISPATCHER, "merged",
                                         {"into": life.merge_into, "reason": "重复诉求"}):
            o["merged_into"] = life.merge_into
        return
    late = r() < 0.06  # a slow department: the order runs past its limits
    if not _dispatch(life, rng, "dispatch", department, late):
        return
    if r() < 0.05:  # not our remit: returned
        if not life.step(rng.uniform(1, 12), "return", _handler(department), "returned", {"reason": "不属于本单位职责"},
                         "不属于本单位职责"):
            return
        if r() < 0.6:
            if not life.step(rng.uniform(0.5, 6), "uphold_return", DISPATCHER, "received", {"note": ""}):
                return
            o["department"] = None
            department = other
            if not _dispatch(life, rng, "dispatch", department, late):
                return
        elif not life.step(rng.uniform(0.5, 6), "reject_return", DISPATCHER, "dispatched",
                           {"reason": "属于本单位职责，请签收办理"}, "属于本单位职责，请签收办理"):
            return
    elif r() < 0.02:
        department = other
        if not _dispatch(life, rng, "redispatch", department, late):
            return
    if not life.step(rng.uniform(0.2, 30 if late else 8), "accept", _handler(department), "accepted"):
        return
    life.done("accept")
    _handle(life, rng, replies, department, late)


def _dispatch(life: _Life, rng: random.Random, action: str, department: str, late: bool) -> bool:
    if not life.step(rng.uniform(0.1, 5 if late else 1.8), action, DISPATCHER, "dispatched",
                     {"department": department, "note": ""}):
        return False
    o = life.order
    o["department"] = department
    life.done("dispatch")
    o["deadlines"]["accept"] = life.due("accept", life.at)
    return True


def _handle(life: _Life, rng: random.Random, replies: list[str], department: str, late: bool) -> None:
    o = life.order
    handler = _handler(department)
    limit_hours = (o["deadlines"]["handle"]["due"] - life.at).total_seconds() / 3600
    if rng.random() < 0.03 and limit_hours > 10:
        days = rng.choice((3, 5, 10))
        if not life.step(rng.uniform(1, limit_hours / 2), "request_extension", handler, None,
                         {"days": days, "reason": "需协调多个部门现场处置"}, "需协调多个部门现场处置"):
            return
        o["extensions"].append({"id": 1, "days": days, "reason": "需协调多个部门现场处置", "status": "approved",
                                "requested_by": handler[0], "requested_at": life.at})
        if not life.step(rng.uniform(0.5, 4), "approve_extension", DISPATCHER, None, {"reason": ""}):
            o["extensions"][-1]["status"] = "requested"
            return
        handle = o["deadlines"]["handle"]
        handle["due"] = life.calendar.add_working_days(handle["due"], days)
        handle["extended"] = True
        o["extensions"][-1].update(decided_by="dispatcher", decided_at=life.at, decision_reason="")
        limit_hours += days * 24
    spend = rng.uniform(limit_hours * 1.05, limit_hours * 1.6) if late else rng.uniform(2, max(limit_hours * 0.7, 3))
    reply = rng.choice(replies)
    if not life.step(max(spend, 0.5), "reply", handler, "replied", {"reply": reply, "public_reply": ""}):
        return
    life.done("handle")
    if rng.random() < 0.03:
        if not life.step(rng.uniform(1, 8), "reject_reply", DISPATCHER, "accepted",
                         {"reason": "答复内容不完整"}, "答复内容不完整"):
            return
        if not life.step(rng.uniform(2, 24), "reply", handler, "replied", {"reply": reply, "public_reply": ""}):
            return
    if not life.step(rng.uniform(0.5, 10), "approve", DISPATCHER, "completed"):
        return
    o["deadlines"]["callback"] = life.due("callback", life.at)
    _callback(life, rng, replies, department)


def _callback(life: _Life, rng: random.Random, replies: list[str], department: str | None) -> None:
    o = life.order
    (satisfaction, resolved), = rng.choices([r for r, _ in RATINGS], weights=[w for _, w in RATINGS])
    good = satisfaction != "unsatisfied" and resolved
    if not life.step(rng.uniform(2, 30), "callback", AGENT, "archived" if good else "completed",
                     {"satisfaction": satisfaction, "resolved": resolved, "note": ""}):
        return
    life.done("callback")
    o["rating"] = {"satisfaction": satisfaction, "resolved": resolved, "note": "", "rated_at": life.at,
                   "valid": True}
    if good:
        return
    o["deadlines"]["appeal"] = life.due("appeal", life.at)
    choice = rng.random()
    if department and choice < 0.3:  # the department contests the rating
        reason = "已按政策答复到位，市民诉求超出政策范围"
        if not life.step(rng.uniform(2, 40), "appeal", _handler(department), "appealing",
                         {"reason": reason, "evidence": "", "attachments": []}, reason):
            return
        life.done("appeal")
        o["rating"]["appeal"] = {"reason": reason, "evidence": "", "attachments": [], "by": f"h_{department}",
                                 "at": life.at}
        upheld = rng.random() < 0.45
        if not life.step(rng.uniform(2, 48), "uphold_appeal" if upheld else "reject_appeal", SUPERVISOR,
                         "archived" if upheld else "completed", {"reason": "经核实" + ("申诉成立" if upheld else "申诉不成立")},
                         "经核实" + ("申诉成立" if upheld else "申诉不成立")):
            return
        o["rating"]["appeal"].update(decision="upheld" if upheld else "rejected", decided_by="supervisor",
                                     decided_at=life.at, decision_reason="")
        if upheld:
            o["rating"]["valid"] = False
            return
        life.step(rng.uniform(1, 24), "archive", DISPATCHER, "archived")
    elif department and choice < 0.55 and o["rework_count"] == 0:  # back to the department
        if not life.step(rng.uniform(1, 24), "rework", DISPATCHER, "accepted",
                         {"reason": "市民反映问题未解决，请重新办理"}, "市民反映问题未解决，请重新办理"):
            return
        life.done("appeal"), life.done("callback")
        o["rework_count"] += 1
        o["rating"] = None
        o["deadlines"]["handle"] = life.due("handle", life.at)
        _handle(life, rng, replies, department, False)
    else:
        life.step(rng.uniform(1, 48), "archive", DISPATCHER, "archived")


def _hour_weights(first: dt.date, days: int) -> list[float]:
    weights = []
    for i in range(days):
        day = first + dt.timedelta(days=i)
        factor = WEEKDAY[day.weekday()] * MONTH[day.month - 1]
        try:
            if chinese_calendar.is_holiday(day) and day.weekday() < 5:
                factor *= HOLIDAY
            elif chinese_calendar.is_workday(day) and day.weekday() >= 5:
                factor = WEEKDAY[3] * MONTH[day.month - 1]  # a make-up working day (调休) is busy
        except NotImplementedError:
            pass
        weights.extend(factor * h for h in HOURLY)
    return weights


def history_days(count: int) -> int:
    """How far back the history reaches: a month for a small demo, two years (for 同比) at scale."""
    return max(30, min(730, count // 550))


class Generator:
    """Builds order rows and their events; a writer stores them (``core.demo_writer``)."""

    def __init__(self, platform, now: dt.datetime, seed: int = 12345, days: int | None = None):
        self.platform = platform
        self.days = days
        self.now = now
        self.rng = random.Random(seed)
        self.messages = _messages()
        self.replies = _replies()
        self.subcategories = _subcategories()
        calendar = platform.calendar.copy()  # the same days and office hours; remembers the days it works out
        self.calendar = calendar
        from core.sla import SlaClock

        self.sla = SlaClock(calendar, platform.channels)
        self.days_due = functools.lru_cache(maxsize=None)(self._days_due)
        self.kinds = [_kind(m["subject"] + m["detail"]) for m in self.messages]
        self.sealer = Sealer(platform.settings.data_key or platform.settings.secret_key)
        default = platform.channels.default.code
        self.channels = [(default, None)]
        self.skipped: dict[str, str] = {}  # channel code → why its sample details were refused
        for channel in platform.channels:
            if channel.code == default or not channel.public:  # demo orders are what citizens file
                continue
            details, why = demo_details_or_reason(channel) if channel.fields is not None else ({}, "")
            if details is None:
                self.skipped[channel.code] = why
            else:
                self.channels.append((channel.code, details))

    def _days_due(self, name: str, channel: str, kind: str, day: dt.date) -> dt.datetime:
        start = dt.datetime.combine(day, dt.time(12), SHANGHAI)
        return self.sla.due(name, start, channel=channel, kind=kind, priority="normal")

    def times(self, count: int) -> list[dt.datetime]:
        days = self.days or history_days(count)
        first = (self.now.astimezone(SHANGHAI) - dt.timedelta(days=days)).date()
        weights = _hour_weights(first, days + 1)
        start = dt.datetime.combine(first, dt.time(), SHANGHAI)
        limit = self.now - dt.timedelta(minutes=1)
        rng = self.rng
        hours = rng.choices(range(len(weights)), weights=weights, k=count)
        moments = sorted(start + dt.timedelta(hours=h, seconds=rng.uniform(0, 3600)) for h in hours)
        return [min(m, limit).astimezone(UTC) for m in moments]

    def orders(self, count: int, numbers: Callable[[dt.datetime], str], first_id: int) -> Iterator[tuple[dict, list]]:
        rng = self.rng
        recent: list[tuple[str, str, str, str, str]] = []  # phone, name, channel, category, area
        burst: list = []
        previous = None
        for i, received in enumerate(self.times(count)):
            pick = rng.randrange(len(self.messages))
            message = self.messages[pick]
            channel, details = self.channels[0]
            if len(self.channels) > 1 and rng.random() < SPECIAL_SHARE:
                channel, details = rng.choice(self.channels[1:])
            level1 = message["category"]
            category = rng.choice(self.subcategories.get(level1) or [level1])
            area = rng.choice(tuple(AREAS))
            place = rng.choice(AREAS[area])
            name = rng.choice(SURNAMES) + rng.choice(("先生", "女士"))
            phone = f"1{rng.choice('3589')}{rng.randrange(10 ** 9):09d}"
            if recent and rng.random() < REPEAT_SHARE:
                phone, name, channel_was, category, area = rng.choice(recent[-400:])
                place = rng.choice(AREAS[area])
                if channel_was != channel:
                    channel, details = next(c for c in self.channels if c[0] == channel_was)
            if burst and burst[0] > 0:
                burst[0] -= 1
                category, area, place = burst[1], burst[2], burst[3]
            elif rng.random() < BURST_SHARE:
                burst[:] = [rng.randint(6, 14), category, area, place]
            anonymous = rng.random() < 0.06
            kind = self.kinds[pick]
            channel_decl = self.platform.channels.get(channel)
            if kind not in channel_decl.kinds:
                kind = rng.choice(channel_decl.kinds)
            source = rng.choices([s for s, _ in SOURCES], weights=[w for _, w in SOURCES])[0]
            if channel != self.channels[0][0]:
                source = rng.choice(("web_form", "phone"))
            stored = dict(details or {})
            if channel_decl.consent_field:  # most letter writers agree to publication, some do not
                stored[channel_decl.consent_field] = zlib.crc32(str(first_id + i).encode()) % 10 < 7
            citizen_name, citizen_phone, sealed = ("", "", "") if anonymous else (name, phone, "")
            if channel_decl.protect_reporter:
                sealed = self.sealer.seal(json.dumps([citizen_name, citizen_phone], ensure_ascii=False))
                citizen_name = citizen_phone = ""
            for key in channel_decl.confidential:
                if isinstance(stored.get(key), str):
                    stored[key] = self.sealer.seal(stored[key])
            options = CATEGORY_DEPARTMENTS.get(level1, ("general_office",))
            department = STREET_OFFICE[area] if area in STREET_OFFICE and rng.random() < 0.2 else rng.choice(options)
            other = rng.choice([d for d in HANDLER_DEPARTMENTS if d != department])
            priority = "urgent" if rng.random() < 0.02 else "normal"
            order = {
                "id": first_id + i, "number": numbers(received),
                "query_code": "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", k=8)),
                "channel": channel, "kind": kind, "source": source,
                "subject": message["subject"][:200], "content": (message["detail"] or message["subject"])[:2000],
                "citizen_name": citizen_name, "citizen_phone": citizen_phone, "citizen_sealed": sealed,
                "anonymous": anonymous, "address": f"{area}{place}{rng.randint(1, 300)}号", "area": area,
                "category": category, "details": stored, "status": "received", "status_before_suspend": None,
                "department": None, "suggested_department": department,
                "suggestion_reason": f"问题分类「{level1}」由该单位办理", "priority": priority,
                "received_at": received, "rating": None, "external_id": None, "rework_count": 0,
                "merged_into": None, "suspended_at": None, "extensions": [], "supervisions": [],
                "flags": [], "assisting": [],
                "sla_limits": None,  # history counts by the plugins' own limits
                "version": 1, "created_at": received, "updated_at": received, "legacy_number": None,
            }
            life = _Life(order, self.now, self.calendar, self.sla, self.days_due)
            order["deadlines"] = {"dispatch": life.due("dispatch", received), "handle": life.due("handle", received)}
            intake = {"source": source, "priority": priority, "flags": []}
            if source == "phone":
                intake["call_seconds"] = round(rng.triangular(*CALL_SECONDS, 200))
            life.events.append(("intake", "agent", "agent", None, None, "received", "", intake, received))
            life.merge_into = previous
            _walk(life, rng, self.replies, department, other)
            order["due_at"], order["at_risk_at"] = _deadline_summary(order["deadlines"], self.calendar)
            previous = order["number"]
            if not anonymous and citizen_phone:
                recent.append((phone, name, channel, category, area))
            yield order, life.events


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int, label: str, stream=None):
        self.total, self.label, self.stream = max(total, 1), label, stream or sys.stderr
        self.shown = -1

    def update(self, done: int) -> None:
        percent = done * 100 // self.total
        if percent != self.shown:
            self.shown = percent
            bar = "#" * (percent // 4) + "-" * (25 - percent // 4)
            self.stream.write(f"\r{self.label} [{bar}] {percent:3d}% {done:,}/{self.total:,}")
            if done >= self.total:
                self.stream.write("\n")
            self.stream.flush()


async def seed_orders(platform, count: int, *, seed: int = 12345, progress: bool = True,
                      now: dt.datetime | None = None, days: int | None = None) -> int:
    """Write ``count`` orders of history (over ``days`` days, by default as many as the volume
    suggests), with their events, in bulk; then derive the report facts."""
    from core.demo_writer import writer_for
    from core.reports import facts

    now = now or clock.now()
    generator = Generator(platform, now, seed, days)
    writer = await writer_for(platform)
    bar = Progress(count, "生成演示工单") if progress and count >= 1000 else None
    made = await writer.write(generator, count, bar)
    await facts.refresh(full=True)
    return made


DEMO_EXTENSION = "8001"  # the demo agent's phone extension (the simulator answers there)
CALL_LOG_DAYS = 28


async def seed_calls(platform, *, seed: int = 12345, now: dt.datetime | None = None) -> int:
    """The call log of the last four weeks: a call for each phone intake (its recorded talk time,
    a wait of a few seconds, linked to the order) and, around them, the missed and abandoned ones."""
    from core.db import write_transaction
    from core.tables import Call, CallLink, OrderEvent

    now = now or clock.now()
    rng = random.Random(seed)
    await User.update({User.extension: DEMO_EXTENSION}).where(User.username == "agent")
    orders = await Order.select(Order.id, Order.number, Order.citizen_phone, Order.received_at).where(
        (Order.source == "phone") & (Order.received_at >= now - dt.timedelta(days=CALL_LOG_DAYS))
        & (Order.citizen_phone != ""))
    made = 0
    for start in range(0, len(orders), 500):
        part = orders[start:start + 500]
        talk = {e["order_id"]: (e["payload"] or {}).get("call_seconds") for e in await OrderEvent.select(
            OrderEvent.order_id, OrderEvent.payload).where(
            OrderEvent.order_id.is_in([o["id"] for o in part]) & (OrderEvent.action == "intake")).output(load_json=True)}
        calls, links = [], []
        for o in part:
            seconds = talk.get(o["id"]) or round(rng.triangular(*CALL_SECONDS, 200))
            wait = rng.randint(2, 40)
            answered = o["received_at"] - dt.timedelta(seconds=seconds)
            key = f"0:demo-{o['id']}"
            calls.append(Call(call_key=key, connection_id=0, call_id=f"demo-{o['id']}", direction="in",
                              number=o["citizen_phone"], from_number=o["citizen_phone"], to_number="12345",
                              queue="12345热线", extension=DEMO_EXTENSION, agent="agent",
                              ringing_at=answered - dt.timedelta(seconds=wait), answered_at=answered,
                              ended_at=o["received_at"], cause="normalClearing",
                              outcome="short" if seconds < 10 else "answered", wait_seconds=wait,
                              talk_seconds=seconds, updated_at=o["received_at"]))
            links.append(CallLink(call_key=key, order_number=o["number"], linked_by="agent", linked_at=o["received_at"]))
            if rng.random() < 0.15:  # a caller who did not get through
                ringing = o["received_at"] - dt.timedelta(minutes=rng.randint(20, 600))
                wait = rng.randint(5, 90)
                abandoned = rng.random() < 0.5
                calls.append(Call(call_key=f"{key}-m", connection_id=0, call_id=f"demo-{o['id']}-m", direction="in",
                                  number=o["citizen_phone"], from_number=o["citizen_phone"], to_number="12345",
                                  queue="12345热线", ringing_at=ringing, ended_at=ringing + dt.timedelta(seconds=wait),
                                  cause="cancel" if abandoned else "noAnswer",
                                  outcome="abandoned" if abandoned else "missed", wait_seconds=wait,
                                  callback="called_back" if ringing < now - dt.timedelta(days=1) else "pending",
                                  callback_by="agent" if ringing < now - dt.timedelta(days=1) else "",
                                  updated_at=ringing))
        async with write_transaction(platform.engine):
            await Call.insert(*calls)
            await CallLink.insert(*links)
        made += len(calls)
    return made


async def seed(platform, orders: int = 300, *, progress: bool = True) -> str:
    if not await Department.exists().where(Department.code == "hotline_center"):
        await seed_reference()
        platform.orders.forget_reference_data()
    made = await seed_orders(platform, orders, progress=progress)
    await seed_calls(platform)
    return (f"演示数据已写入：{made} 张工单。演示账号（密码均为 {DEMO_PASSWORD}）：agent 话务员、dispatcher 派单员、"
            f"supervisor 督办员、admin 管理员、h_<单位代码> 承办人（如 h_eco_env）；"
            f"另有话务员 agent02–agent36，与 agent 共 36 人分为话务一组、二组、三组")


async def seed_if_empty(platform, orders: int = 300) -> str | None:
    """First run only: an installation that has any user or order is left alone."""
    if await User.exists() or await Order.exists():
        return None
    return await seed(platform, orders)
