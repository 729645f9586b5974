"""疑似重复 by what the orders say, where and when: a burst of calls about one flooded crossing is
flagged whoever called, one caller's two different matters are not, and neither is the same text in
another 街道 or more than a week apart. (The merge that follows is in ``test_merge_preview.py``.)"""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from core import duplicates
from core.intake import IntakeRequest
from core.listing import OrderFilter
from core.model import Actor
from tests.helpers import intake_body

AGENT = Actor(name="agent1", role="agent")
DISPATCHER = Actor(name="dispatcher1", role="dispatcher")
START = "2026-11-24T09:00:00+08:00"

# how agents write down one flooded crossing, call after call
FLOOD_SUBJECTS = ("梅溪湖路节庆路口积水严重", "节庆路口积水", "梅溪湖路与节庆路交叉口积水", "路口积水严重")
SUBJECT_TAILS = ("", "，水深过膝", "，车辆熄火", "，行人过不去", "，公交绕行", "，请派人排水", "，已两小时",
                 "，下水道堵了", "，水漫进商铺", "，学生上学受阻", "，有车被困", "，看不见路面", "，很危险")
FLOOD_TAILS = ("，请尽快排水。", "，行人无法通过。", "，希望尽快处理。", "，来电人在现场等候。", "。")


def flood_call(i: int) -> dict:
    """The i-th call: its own caller, house number and subject (no two alike), much the same words."""
    return intake_body(
        subject=FLOOD_SUBJECTS[i % len(FLOOD_SUBJECTS)] + SUBJECT_TAILS[i // len(FLOOD_SUBJECTS)],
        content="梅溪湖路与节庆路交叉口积水严重，水已经漫过人行道，车辆无法通行" + FLOOD_TAILS[i % len(FLOOD_TAILS)],
        citizen={"name": f"来电人{i}", "phone": f"1390000{i:04d}"}, address=f"岳麓区梅溪湖路{i + 1}号",
        area="梅溪湖街道")


async def take(platform, body: dict) -> str:
    _, made = await platform.orders.intake("hotline", msgspec.convert(body, IntakeRequest), AGENT)
    return made.number


async def flagged(platform, numbers: list[str]) -> dict[str, list[str]]:
    """Each order's 疑似重复 as the console's lists mark them (a page of the given rows)."""
    rows = []
    for number in numbers:
        page = await platform.orders.listing(DISPATCHER, OrderFilter(q=number), page_size=5)
        rows += [r for r in page["items"] if r["number"] == number]
    await platform.orders.mark_duplicates(rows)
    return {r["number"]: r["duplicates"] for r in rows}


async def test_fifty_near_identical_flood_calls_from_different_phones_are_each_flagged(platform, frozen_clock):
    frozen_clock.freeze(START)
    numbers = []
    for i in range(50):
        numbers.append(await take(platform, flood_call(i)))
        frozen_clock.advance(dt.timedelta(minutes=2))
    page = await platform.orders.listing(DISPATCHER, OrderFilter(status="received"), sort="due", page_size=50)
    assert len(page["items"]) == 50
    await platform.orders.mark_duplicates(page["items"])
    for row in page["items"]:
        assert row["duplicates"], f"{row['number']} {row['subject']} not flagged"
        assert set(row["duplicates"]) <= set(numbers) - {row["number"]}
        assert row["caller_orders"] == 0  # fifty different callers: no one is a repeat caller
    assert sum(len(row["duplicates"]) for row in page["items"]) > 50 * 40  # nearly every pair is found


def test_the_fast_comparison_of_a_page_agrees_with_the_definition():
    """``find`` compares words as bit masks; its answer is ``similar``'s, pair by pair."""
    texts = [flood_call(i) for i in range(12)] + [
        intake_body(subject=f"第{i}件事", content=text, address=f"岳麓区梅溪湖路{i}号") for i, text in enumerate((
            "桃花岭小区3栋楼道灯坏了一个月，无人维修", "桃花岭小区垃圾堆放多日无人清运，臭气熏天",
            "梅溪湖路与节庆路交叉口红绿灯不亮，交通混乱", "小区旁工地每晚十一点后仍在施工，噪音很大"))]
    start = dt.datetime(2026, 11, 24, 1, tzinfo=dt.timezone.utc)
    rows = [{"number": f"N{i:02d}", "area": t["area"], "address": t["address"], "subject": t["subject"],
             "head": t["content"][:duplicates.TEXT_CHARS], "received_at": start + dt.timedelta(hours=i)}
            for i, t in enumerate(texts)]
    found = duplicates.find(rows, rows)
    for me in rows:
        expected = {r["number"] for r in rows if r is not me and duplicates.same_place(me, r) and duplicates.similar(
            duplicates.signature(me["subject"], me["head"], me["area"], me["address"]),
            duplicates.signature(r["subject"], r["head"], r["area"], r["address"]))}
        assert {r["number"] for r in found[me["number"]]} == expected
    assert found["N00"] and found["N12"] == [] and found["N14"] == []  # the crossing's traffic light is another matter


async def test_one_caller_with_two_different_matters_is_not_a_duplicate(platform, frozen_clock):
    frozen_clock.freeze(START)
    caller = {"name": "王先生", "phone": "13812345678"}
    light = await take(platform, intake_body(subject="楼道灯坏了", content="桃花岭小区3栋二单元楼道灯坏了一个月，晚上上下楼看不见",
                                             citizen=caller, address="岳麓区桃花岭小区3栋"))
    frozen_clock.advance(dt.timedelta(hours=1))
    pension = await take(platform, intake_body(kind="consult", subject="咨询灵活就业社保缴费",
                                               content="想咨询一下灵活就业人员的养老保险怎么缴费，在哪里办理",
                                               citizen=caller, address="岳麓区桃花岭小区3栋"))
    marks = await flagged(platform, [light, pension])
    assert marks == {light: [], pension: []}
    rows = (await platform.orders.listing(DISPATCHER, OrderFilter(status="received"), page_size=10))["items"]
    await platform.orders.mark_duplicates(rows)
    assert all(r["caller_orders"] == 1 for r in rows)  # 重复来电 still counts the caller's other order


async def test_the_same_text_in_another_street_or_more_than_a_week_apart_is_not_a_duplicate(platform, frozen_clock):
    frozen_clock.freeze(START)
    same = flood_call(0)  # word for word, each time from another phone
    first = await take(platform, same)
    frozen_clock.advance(dt.timedelta(hours=3))
    elsewhere = await take(platform, {**same, "citizen": {"name": "甲", "phone": "13600000001"}, "area": "麓谷街道",
                                      "address": "岳麓区麓谷大道1号"})
    frozen_clock.advance(duplicates.WINDOW + dt.timedelta(hours=1))  # past the week since the first
    late = await take(platform, {**same, "citizen": {"name": "乙", "phone": "13600000002"}})
    marks = await flagged(platform, [first, elsewhere, late])
    assert marks == {first: [], elsewhere: [], late: []}
    frozen_clock.advance(dt.timedelta(hours=1))
    near = await take(platform, flood_call(3))  # within the week of the late one, same street
    marks = await flagged(platform, [late, near])
    assert marks == {late: [near], near: [late]}


async def test_the_same_address_counts_as_the_same_place_when_no_street_was_recorded(platform, frozen_clock):
    frozen_clock.freeze(START)
    first = await take(platform, {**flood_call(0), "area": "", "address": "梅溪湖路节庆路口"})
    frozen_clock.advance(dt.timedelta(minutes=30))
    second = await take(platform, {**flood_call(1), "area": "", "address": "梅溪湖路节庆路口"})
    third = await take(platform, {**flood_call(2), "area": "", "address": "麓谷大道"})
    marks = await flagged(platform, [first, second, third])
    assert marks == {first: [second], second: [first], third: []}


async def test_an_order_with_no_place_named_is_no_ones_duplicate(platform, frozen_clock):
    frozen_clock.freeze(START)
    first, second = [await take(platform, {**flood_call(i), "area": "", "address": ""}) for i in range(2)]
    assert await flagged(platform, [first, second]) == {first: [], second: []}


async def test_a_merged_order_is_neither_flagged_nor_offered(platform, frozen_clock):
    frozen_clock.freeze(START)
    first, second, third = [await take(platform, flood_call(i)) for i in range(3)]
    await platform.orders.act(third, "merge", {"into": first, "reason": "同一积水点"}, DISPATCHER)
    marks = await flagged(platform, [first, second, third])
    assert marks == {first: [second], second: [first], third: []}


@pytest.mark.parametrize("a, b, same", [
    (("工地夜间施工噪音扰民", "梅溪湖街道某小区旁工地每晚十一点后仍在施工，噪音很大，影响休息，希望尽快处理。"),
     ("小区旁工地夜间施工噪音扰民", "某小区旁工地每晚十一点后仍在施工，噪音很大，影响休息"), True),
    (("楼道灯坏了", "桃花岭小区3栋楼道灯坏了一个月，无人维修，希望尽快处理"),
     ("垃圾无人清运", "桃花岭小区垃圾堆放多日无人清运，臭气熏天，希望尽快处理"), False),  # the same boilerplate
    (("梅溪湖路口积水", "梅溪湖路与节庆路交叉口积水严重，车辆无法通行"),
     ("梅溪湖路口红绿灯坏了", "梅溪湖路与节庆路交叉口红绿灯不亮，交通混乱"), False),  # the same crossing
    (("梅溪湖路节庆路口积水严重", "梅溪湖路与节庆路交叉口积水严重，水已经漫过人行道，车辆无法通行，附近商铺进水，公交车绕行，请尽快派人排水。"),
     ("节庆路口积水严重", "节庆路口积水严重，车过不去"), True),  # a short repeat of a long account
    (("积水", "积水"), ("积水", "积水"), False),  # too few words to tell
])
def test_texts_are_alike_by_their_words_not_by_their_place_or_boilerplate(a, b, same):
    place = ("梅溪湖街道", "梅溪湖路与节庆路交叉口")
    assert duplicates.similar(duplicates.signature(*a, *place), duplicates.signature(*b, *place)) is same
