"""农民工欠薪专线: migrant workers report unpaid wages; labour inspection (人社局) must act fast.

Urgency is data (``THRESHOLDS`` and the Spring Festival window): many workers or a large sum make an
order urgent (handled within 24 natural hours), and many workers also raise the mass-incident flag.
In the weeks before the Spring Festival every order is urgent: that is when workers go home, and
when unpaid wages turn into crowds at site gates.
"""

import datetime as dt
import functools
from typing import Annotated

import chinese_calendar
import msgspec

from core.plugin_api import SHANGHAI, Assessment, Channel, CitizenWording, RuleSpec, SlaDefaults, field, hookimpl, now
from plugins.migrant_workers import report


class WageClaim(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    employer: Annotated[str, field("欠薪单位", "拖欠工资的公司、劳务分包单位或包工头", min_length=1, max_length=100)]
    project: Annotated[str, field("工地或项目", "在哪个工地、哪个项目干的活；不清楚可以不填", max_length=100)] = ""
    workers: Annotated[int, field("一共几个人被欠工资", "只有您自己就填 1", ge=1, le=100_000)] = 1
    amount_owed: Annotated[float, field("大概欠了多少钱（元）", "估个数就行，不清楚可以不填", ge=0)] = 0
    wage_period: Annotated[str, field("欠的是哪段时间的工资", "例如：2026年9月到11月；不清楚可以不填",
                                      max_length=50)] = ""
    still_on_site: Annotated[bool, field("工人现在还在工地吗", "还在的话，劳动监察可以马上到现场调查")]


CHANNEL = Channel(
    code="migrant_workers",
    name="农民工欠薪专线",
    description="农民工工资被拖欠：说明欠薪单位、工程项目、人数和金额，由人社局劳动保障监察限时处置。",
    wording=CitizenWording(
        card="干了活拿不到工资？告诉我们谁欠了您的钱，人社局劳动保障监察会限时处理。只填知道的就行。",
        subject_example="某工地拖欠我们班组三个月工资",
        content_help="说说在哪里干活、谁欠的钱、欠了多久；能想到的都写上，不会写的可以拨打 12345 由话务员帮您记录",
        address_help="工地或公司的位置，说得出大概就行"),
    fields=WageClaim,
    kinds=("complaint", "report", "help", "consult"),
    sla=SlaDefaults(urgent_natural_hours=24,
                    handle_days_by_kind={"complaint": 5, "report": 5, "help": 2, "consult": 2}),
)

# (field, at least, flags raised, reason): an order meeting any row is urgent
THRESHOLDS = (
    ("workers", 10, ("mass_incident",), "涉及{value}名工人（10人及以上），按群体性欠薪处置"),
    ("amount_owed", 100_000, (), "拖欠金额{value:.0f}元（10万元及以上）"),
)
SPRING_FESTIVAL_WINDOW_DAYS = 30
SPRING_FESTIVAL_REASON = "距春节假期还有{days}天，须在农民工返乡前结清工资"
# 春节 (正月初一) of the years chinese_calendar has no holidays for yet; the holiday then starts on 除夕
LUNAR_NEW_YEAR = {2027: dt.date(2027, 2, 6), 2028: dt.date(2028, 1, 26), 2029: dt.date(2029, 2, 13),
                  2030: dt.date(2030, 2, 3), 2031: dt.date(2031, 1, 23), 2032: dt.date(2032, 2, 11)}

# area → the labour inspection squad of 人社局 covering it; other areas go to the bureau itself
INSPECTION_SQUADS = {
    "梅溪湖街道": "岳麓片区劳动保障监察中队",
    "麓谷街道": "岳麓片区劳动保障监察中队",
    "高塘岭街道": "望城片区劳动保障监察中队",
}
AREA_REASON = "{area}的欠薪问题由人社局{squad}查处"
GENERAL_REASON = "农民工欠薪由人社局劳动保障监察机构受理查处"


@functools.cache
def spring_festival_holiday(year: int) -> dt.date | None:
    """The first day off of that year's Spring Festival, as the State Council announced it (from
    chinese_calendar); for a year the package does not know yet, 除夕 from ``LUNAR_NEW_YEAR``."""
    try:
        for day in (dt.date(year, 1, 1) + dt.timedelta(days=n) for n in range(60)):
            if chinese_calendar.get_holiday_detail(day) == (True, chinese_calendar.Holiday.spring_festival.value):
                return day
    except NotImplementedError:
        pass
    lunar_new_year = LUNAR_NEW_YEAR.get(year)
    return lunar_new_year - dt.timedelta(days=1) if lunar_new_year else None


def days_to_spring_festival(today: dt.date) -> int | None:
    for year in (today.year, today.year + 1):
        start = spring_festival_holiday(year)
        if start is not None and start >= today:
            return (start - today).days
    return None


def assess(details: WageClaim, today: dt.date) -> Assessment:
    """The urgency rules applied to one claim, as of ``today``."""
    flags, reasons = [], []
    for name, threshold, raised, reason in THRESHOLDS:
        value = getattr(details, name)
        if value >= threshold:
            flags.extend(raised)
            reasons.append(reason.format(value=value))
    days = days_to_spring_festival(today)
    if days is not None and days <= SPRING_FESTIVAL_WINDOW_DAYS:
        reasons.append(SPRING_FESTIVAL_REASON.format(days=days))
    return Assessment(priority="urgent" if reasons else "normal", flags=tuple(flags), reasons=tuple(reasons))


@hookimpl
def register_channel():
    return CHANNEL


@hookimpl
def assess_intake(channel, intake, details):
    """Judged as of the day the request was received (a transferred order carries its own time)."""
    received = dt.datetime.fromisoformat(intake["received_at"]) if intake["received_at"] else now()
    return assess(details, received.astimezone(SHANGHAI).date())


@hookimpl
def routing_rules(channel):
    by_area = [RuleSpec(department="hrss", area=area, position=1, reason=AREA_REASON.format(area=area, squad=squad))
               for area, squad in INSPECTION_SQUADS.items()]
    return [*by_area, RuleSpec(department="hrss", position=2, reason=GENERAL_REASON)]


@hookimpl
async def report_section(channel, start, end, department):
    """The channel's section of the periodic reports (report.py)."""
    return await report.section(channel, start, end, department)
