"""环保 + 创卫: pollution (air, water, noise, solid waste, cooking fumes, dust) and the sanitation
problems of the national health-city campaign (创建国家卫生城市: dirty corners, pests, street
vending, illegal advertising).

Why the rules are what they are:
- Noise at night, and pollution going on right now, are urgent (24 natural hours): night noise keeps
  a whole building awake, and pollution can only be measured and proved while it is happening.
- Pollution goes to the ecology and environment branch; cooking fumes, dust and the sanitation types
  go to city management, which enforces them on the street (``PROBLEM_ROUTES``).
- Citizens report the same restaurant, site or factory again and again. Reports about the same source
  (or, when nobody knows the source, the same spot and problem) within 30 days are linked, and the
  handler reads them together (``GET /api/orders/{number}/related-reports``) instead of answering
  each as if it were the first.
"""

import datetime as dt
from typing import Annotated, Literal

import msgspec

from core.plugin_api import SHANGHAI, Assessment, Channel, CitizenWording, RuleSpec, field, hookimpl
from plugins.environment import sources

PROBLEMS = {
    "air": "大气",
    "water": "水",
    "noise": "噪声",
    "solid_waste": "固废",
    "cooking_fumes": "油烟",
    "dust": "扬尘",
    "dirty_corner": "卫生死角",
    "pests": "病媒生物",
    "street_vending": "占道经营",
    "illegal_ads": "违规广告",
}
TIMINGS = {
    "ongoing": "正在发生",
    "night": "夜间反复出现（22时至次日6时）",
    "daytime": "白天反复出现",
    "intermittent": "不定时出现",
    "stopped": "已经停止",
}
POLLUTION = frozenset({"air", "water", "solid_waste", "cooking_fumes", "dust"})
NIGHT_HOURS = (22, 6)  # from 22:00 to 06:00 local time (GB 3096-2008 夜间)
REASONS = {
    "night_noise": "夜间噪声扰民，按紧急工单处置",
    "ongoing": "{problem}污染正在发生，须尽快到场取证处置",
}


class EnvironmentReport(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    problem: Annotated[Literal[tuple(PROBLEMS)], field("问题类型", "选择最主要的一项", choices=PROBLEMS)]
    location: Annotated[str, field("具体位置", "门牌号、路口或参照物，便于执法人员找到现场", min_length=2, max_length=120)]
    timing: Annotated[Literal[tuple(TIMINGS)], field("发生时间", "问题什么时候出现", choices=TIMINGS)]
    source: Annotated[str, field(
        "污染源或责任方", "知道的话填写，如某餐馆、某工地、某企业；同一来源30天内的反映会合并给承办单位查看",
        max_length=100)] = ""


CHANNEL = Channel(
    code=sources.CODE,
    name="环保创卫",
    description="大气、水、噪声、固废、油烟、扬尘等环境污染，以及卫生死角、病媒生物、占道经营、违规广告等创卫问题。",
    wording=CitizenWording(
        card="油烟、噪声、污水、黑烟、扬尘、垃圾死角、老鼠蚊蝇、占道摆摊、乱贴广告？告诉我们在哪里、什么时候，执法人员会到现场处理。",
        subject_example="楼下烧烤店油烟直排",
        content_help="请写明在哪里、什么时候最严重、持续多久了；知道是哪家单位或哪个工地的，请一并写上",
        address_help="问题发生的街道、小区或路段"),
    fields=EnvironmentReport,
    kinds=("complaint", "report", "consult", "suggestion", "help"),
    location_field="location",  # the form's one address: where the enforcement officers go
)

# problem → department, reason shown to the dispatcher
PROBLEM_ROUTES = {
    "air": ("eco_env", "大气污染由生态环境分局查处"),
    "water": ("eco_env", "水污染由生态环境分局查处"),
    "noise": ("eco_env", "噪声污染由生态环境分局监测查处"),
    "solid_waste": ("eco_env", "固体废物污染由生态环境分局查处"),
    "cooking_fumes": ("urban_mgmt", "餐饮油烟由城市管理和综合执法局查处"),
    "dust": ("urban_mgmt", "工地和道路扬尘由城市管理和综合执法局查处"),
    "dirty_corner": ("urban_mgmt", "卫生死角由城市管理和综合执法局（环卫）清理整治"),
    "pests": ("urban_mgmt", "公共区域病媒生物防制由城市管理和综合执法局（环卫）组织消杀"),
    "street_vending": ("urban_mgmt", "占道经营由城市管理和综合执法局查处"),
    "illegal_ads": ("urban_mgmt", "违规广告由城市管理和综合执法局清理查处"),
}


def at_night(moment: dt.datetime) -> bool:
    hour = moment.astimezone(SHANGHAI).hour
    return hour >= NIGHT_HOURS[0] or hour < NIGHT_HOURS[1]


def assess(details: EnvironmentReport, received: dt.datetime) -> Assessment:
    """Urgent when noise comes at night, or pollution is going on as the citizen calls."""
    reasons = []
    if details.problem == "noise" and (details.timing == "night" or (details.timing == "ongoing" and at_night(received))):
        reasons.append(REASONS["night_noise"])
    elif details.problem in POLLUTION and details.timing == "ongoing":
        reasons.append(REASONS["ongoing"].format(problem=PROBLEMS[details.problem]))
    return Assessment(priority="urgent" if reasons else "normal", reasons=tuple(reasons))


@hookimpl
def register_channel():
    return CHANNEL


@hookimpl
def assess_intake(channel, intake, details):
    return assess(details, dt.datetime.fromisoformat(intake["received_at"]))


@hookimpl
def routing_rules(channel):
    return [RuleSpec(department=department, details={"problem": problem}, position=1, reason=reason)
            for problem, (department, reason) in PROBLEM_ROUTES.items()]


@hookimpl
async def on_transition(channel, order, event, outbox):
    if event.action == "intake":
        await sources.remember(order)


@hookimpl
def http_route_handlers():
    return [sources.related_reports]


@hookimpl
def piccolo_apps():
    return ["plugins.environment.piccolo_app"]


@hookimpl
async def purge_order_rows(order_ids, numbers):
    """Orders destroyed under the retention rules leave the source index (other reports of the same
    source no longer link to them)."""
    from plugins.environment.tables import SourceReport

    await SourceReport.delete().where(SourceReport.order_id.is_in(list(order_ids)))
