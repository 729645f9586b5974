"""Demo data: the district's departments, a user of each role, and orders with realistic history.

Orders are real, public, anonymised citizen messages (``demo_data/``, see its README), taken in
through the same service as any request and walked through the lifecycle at past times, so lists,
deadlines and audit trails look like a working centre's.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import re
from pathlib import Path

import msgspec

from core.channels import describe_fields
from core.errors import HuyingError
from core.model import Actor, Citizen
from core.orders import IntakeRequest
from core.tables import Department, Order, User
from core.users import add_user

DATA = Path(__file__).parent / "demo_data"
DEMO_PASSWORD = "huying-demo"

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
    ("yuelu", "岳麓区片区", None),
    ("meixihu_street", "梅溪湖街道办事处", "yuelu"),
    ("lugu_street", "麓谷街道办事处", "yuelu"),
    ("guanshaling_street", "观沙岭街道办事处", "yuelu"),
    ("wangcheng", "望城区片区", None),
    ("gaotangling_street", "高塘岭街道办事处", "wangcheng"),
)
AREAS = ("梅溪湖街道", "麓谷街道", "观沙岭街道", "高塘岭街道", "坪塘街道", "洋湖街道")
HANDLER_DEPARTMENTS = ("eco_env", "housing", "urban_mgmt", "education", "hrss", "transport", "general_office",
                       "emergency", "health", "commerce", "natural_resources", "development")
STAFF = (("agent", "agent", None, "话务员 小周"), ("dispatcher", "dispatcher", None, "派单员 小陈"),
         ("supervisor", "supervisor", None, "督办员 老王"), ("admin", "admin", None, "系统管理员"))
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
KIND_WORDS = (("举报", "report"), ("投诉", "complaint"), ("建议", "suggestion"), ("咨询", "consult"),
              ("请问", "consult"), ("求助", "help"), ("感谢", "praise"))


def _messages() -> list[dict[str, str]]:
    with open(DATA / "labelled-messages.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _replies() -> list[str]:
    with open(DATA / "messages-with-replies.csv", encoding="utf-8") as f:
        return [r["reply"][:1500] for r in csv.DictReader(f) if r["reply"].strip()]


def _kind(text: str) -> str:
    return next((kind for word, kind in KIND_WORDS if word in text), "complaint")


async def seed_reference() -> None:
    await Department.insert(*[Department(code=c, name=n, parent=p, sort=i)
                              for i, (c, n, p) in enumerate(DEPARTMENTS)])
    for username, role, department, name in STAFF:
        await add_user(username, role=role, department=department, password=DEMO_PASSWORD, display_name=name)
    for department in HANDLER_DEPARTMENTS:
        await add_user(f"h_{department}", role="handler", department=department, password=DEMO_PASSWORD)


def _request(rng: random.Random, message: dict[str, str], channel: str, received_at: dt.datetime) -> IntakeRequest:
    text = message["subject"] + message["detail"]
    anonymous = rng.random() < 0.1
    citizen = Citizen() if anonymous else Citizen(
        name=rng.choice(SURNAMES) + rng.choice(("先生", "女士")),
        phone="1" + rng.choice("3589") + "".join(rng.choice("0123456789") for _ in range(9)))
    return IntakeRequest(
        kind=_kind(text), subject=message["subject"][:200], content=message["detail"][:5000] or message["subject"],
        source=rng.choice(("phone", "phone", "city_transfer", "netboard", "web_form")),
        citizen=citizen, anonymous=anonymous, area=rng.choice(AREAS),
        address=re.sub(r"\s+", "", rng.choice(AREAS) + "某小区"), category=message["category"],
        received_at=received_at, external_id=None)


def _fillable_channels(platform) -> list[tuple[str, dict]]:
    """Special channels whose fields a demo can fill from their declarations alone (the first choice
    of each choice, booleans off); a channel needing real values (a credit code) is left out."""
    fillable = []
    for channel in platform.channels:
        if channel.code == platform.channels.default.code or channel.fields is None:
            continue
        details = {}
        for f in describe_fields(channel.fields):
            if f.choices:
                details[f.name] = next(iter(f.choices))
            elif f.type == "boolean":
                details[f.name] = False
        try:
            msgspec.convert(details, channel.fields, strict=False)
        except msgspec.ValidationError:
            continue
        fillable.append((channel.code, details))
    return fillable


async def seed_orders(platform, count: int, *, seed: int = 12345) -> int:
    """Take ``count`` messages in and move each some way along its life, at plausible past times."""
    rng = random.Random(seed)
    messages, replies = _messages(), _replies()
    service = platform.orders
    agent = Actor(name="agent", role="agent")
    dispatcher = Actor(name="dispatcher", role="dispatcher")
    now = dt.datetime.now(dt.timezone.utc)
    special = _fillable_channels(platform)
    made = 0
    try:
        for i in range(count):
            message = messages[i % len(messages)]
            received = now - dt.timedelta(days=rng.uniform(0, 45), minutes=rng.uniform(0, 600))
            clock = [received]
            service.clock = lambda: clock[0]
            channel, details = platform.channels.default.code, {}
            if special and rng.random() < 0.15:
                channel, details = rng.choice(special)
            request = _request(rng, message, channel, received)
            if details:
                request = msgspec.structs.replace(request, source="web_form", details=details,
                                                  kind=rng.choice(platform.channels.get(channel).kinds))
            try:
                _, order = await service.intake(channel, request, agent)
            except HuyingError:
                continue
            made += 1
            department = order.suggested_department or rng.choice(HANDLER_DEPARTMENTS)
            handler = Actor(name=f"h_{department}", role="handler", department=department)
            steps = [
                (dispatcher, "dispatch", {"department": department}),
                (handler, "accept", {}),
                (handler, "reply", {"reply": rng.choice(replies)}),
                (dispatcher, "approve", {}),
                (agent, "callback", {"satisfaction": rng.choice(("satisfied", "satisfied", "basically_satisfied", "unsatisfied")),
                                     "resolved": rng.random() < 0.85}),
            ]
            for actor, action, payload in steps[: rng.choice((0, 1, 2, 3, 4, 5, 5, 5))]:
                clock[0] = min(clock[0] + dt.timedelta(hours=rng.uniform(0.3, 40)), now)
                try:
                    await service.act(order.number, action, payload, actor)
                except HuyingError:
                    break
    finally:
        service.clock = lambda: dt.datetime.now(dt.timezone.utc)
    return made


async def seed(platform, orders: int = 300) -> str:
    if not await Department.exists().where(Department.code == "hotline_center"):
        await seed_reference()
        platform.orders.forget_reference_data()
    made = await seed_orders(platform, orders)
    return (f"演示数据已写入：{made} 张工单。演示账号（密码均为 {DEMO_PASSWORD}）：agent 话务员、dispatcher 派单员、"
            f"supervisor 督办员、admin 管理员、h_<单位代码> 承办人（如 h_eco_env）")


async def seed_if_empty(platform, orders: int = 300) -> str | None:
    """First run only: an installation that has any user or order is left alone."""
    if await User.exists() or await Order.exists():
        return None
    return await seed(platform, orders)
