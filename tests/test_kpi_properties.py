"""The KPIs obey their own definitions, whatever happened to the orders.

Random lifecycles are played through the real order service (intake, dispatch, return upheld or
rejected, redispatch, accept, reply, approve, reject_reply, callbacks rated well or badly, rework,
appeals upheld or rejected, merge, extensions requested, approved or refused, suspend and resume,
answers at intake), with the platform's clock frozen and moved on between actions so they fall on
both sides of a day's, a week's, a month's and a quarter's boundary. Then, for finished and running
periods: every rate lies in [0, 1]; each rate's numerator is at most its denominator; every count
of orders equals the number of orders its list (``GET /api/orders?kpi=…``) shows; and the running
period's 超期未办结量 is exactly the 办理超期 list (``deadline=handle_overdue``), each of those orders
shown 超期 by its handling deadline and in the 超期 list. ``docs/reports.md`` lists every KPI as the
code defines it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import clock
from core.errors import HuyingError
from core.model import Actor
from core.orders import IntakeRequest
from core.reports import kpis
from tests import helpers

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("HUYING_KPI_EXAMPLES", "15"))
# Monday 30 March 2026, 09:00: the week holds the end of March (a month and a quarter) and the
# first days of April; the last action falls a few days later
START = dt.datetime(2026, 3, 30, 9, 0, tzinfo=clock.SHANGHAI)
AGENT = Actor(name="agent1", role="agent")
DISPATCHER = Actor(name="dispatcher1", role="dispatcher")
SUPERVISOR = Actor(name="supervisor1", role="supervisor")
HANDLERS = {"housing": Actor(name="housing_handler", role="handler", department="housing"),
            "eco_env": Actor(name="eco_handler", role="handler", department="eco_env")}
OTHER = {"housing": "eco_env", "eco_env": "housing"}


# -- the docs list every KPI as the code defines it ----------------------------------------------------

def _rows(text: str, heading: str) -> dict[str, list[str]]:
    section = text[text.index(heading):]
    section = section[:section.index("\n\n", section.index("| ---"))]
    rows = {}
    for line in section.splitlines():
        found = re.match(r"^\| `(\w+)` \|(.*)\|$", line)
        if found:
            rows[found.group(1)] = [cell.strip() for cell in found.group(2).split("|")]
    return rows


def _names(cell: str) -> tuple[str, ...]:
    return tuple(re.findall(r"`(\w+)`", cell))


def test_the_reports_doc_defines_every_count_and_rate_as_the_code_does():
    text = (ROOT / "docs" / "reports.md").read_text()
    counts = _rows(text, "### Counts")
    assert list(counts) == [c.name for c in kpis.COUNTS]
    for c in kpis.COUNTS:
        label, moment, which = counts[c.name]
        assert (label, moment) == (c.label, c.moment or "state"), c.name
        assert which.startswith("event count") == bool(c.events), c.name
    rates = _rows(text, "### Rates")
    assert list(rates) == [k.name for k in kpis.KPIS]
    for k in kpis.KPIS:
        label, numerator, denominator, form = rates[k.name]
        assert (label, _names(numerator), _names(denominator)) == (k.label, k.numerator, k.denominator), k.name
        assert form == ("1 − n ÷ d" if k.complement else "n ÷ d"), k.name


def test_every_rate_is_a_cohort_rate():
    """A numerator is an order count over the same moment as its denominator (never an event count),
    except 超期未办结, a state that is part of the 按时办结率 denominator itself."""
    for k in kpis.KPIS:
        moments = {kpis.BY_NAME[n].moment for n in k.denominator if n != "open_overdue"}
        for name in k.numerator:
            count = kpis.BY_NAME[name]
            assert not count.events and {count.moment} == moments, (k.name, name)


# -- random lifecycles ----------------------------------------------------------------------------------

# (which order, which of its choices, minutes until the action): a new order one step in eight
STEP = st.tuples(st.integers(0, 7), st.integers(0, 11), st.sampled_from((0, 10, 90, 240, 600, 1440, 2880, 4320)))
HISTORY = st.lists(STEP, min_size=20, max_size=45)


DONE: list[str] = []  # the actions taken, for a look at what the examples covered (KPI_DEBUG=1)


def _choices(order, orders: list) -> list[tuple[str, Actor, dict]]:
    """What could be done to this order now, by whom, with what (a refusal is simply skipped)."""
    status, department = order.status, order.department
    handler = HANDLERS.get(department or "")
    rated_badly = order.rating and not (order.rating["satisfaction"] != "unsatisfied" and order.rating["resolved"])
    if status == "received":
        others = [o.number for o in orders if o.number != order.number and o.status not in ("archived", "merged")]
        return [("dispatch", DISPATCHER, {"department": "housing"}), ("dispatch", DISPATCHER, {"department": "eco_env"}),
                ("dispatch", DISPATCHER, {"department": "housing"}), ("resolve_at_intake", AGENT, {"reply": "已当场答复"}),
                ("suspend", DISPATCHER, {"reason": "等待材料"})] + (
            [("merge", DISPATCHER, {"into": others[0]})] if others else [])
    if status == "dispatched":
        return [("accept", handler, {}), ("accept", handler, {}), ("return", handler, {"reason": "不属于本单位"}),
                ("redispatch", DISPATCHER, {"department": OTHER[department]})]
    if status == "returned":
        return [("uphold_return", DISPATCHER, {}), ("reject_return", DISPATCHER, {"reason": "属于本单位职责"})]
    if status == "accepted":
        return [("reply", handler, {"reply": "已处理完毕"}), ("reply", handler, {"reply": "已处理"}),
                ("request_extension", handler, {"days": 2, "reason": "需要现场勘查"}),
                ("approve_extension", SUPERVISOR, {}), ("reject_extension", SUPERVISOR, {}),
                ("suspend", DISPATCHER, {"reason": "等待材料"})]
    if status == "suspended":
        return [("resume", DISPATCHER, {}), ("approve_extension", SUPERVISOR, {})]
    if status == "replied":
        return [("approve", DISPATCHER, {}), ("approve", DISPATCHER, {}), ("reject_reply", DISPATCHER, {"reason": "答复不完整"})]
    if status == "completed" and order.rating is None:
        return [("callback", AGENT, {"satisfaction": "satisfied", "resolved": True}),
                ("callback", AGENT, {"satisfaction": "basically_satisfied", "resolved": False}),
                ("callback", AGENT, {"satisfaction": "unsatisfied", "resolved": False})]
    if status == "completed" and rated_badly:
        return [("rework", DISPATCHER, {"reason": "市民不满意"}), ("archive", DISPATCHER, {})] + (
            [("appeal", handler, {"reason": "已按政策答复"})] if handler else [])
    if status == "completed":
        return [("archive", DISPATCHER, {})]
    if status == "appealing":
        return [("uphold_appeal", SUPERVISOR, {"reason": "申诉成立"}), ("reject_appeal", SUPERVISOR, {"reason": "维持评价"})]
    return []


async def _play(platform, history: list[tuple[int, int, int]]) -> list[str]:
    """Take orders in and act on them at the frozen clock's instants; the numbers taken in."""
    service = platform.orders
    clock.freeze(START)
    numbers: list[str] = []
    for which, choice, minutes in history:
        clock.advance(dt.timedelta(minutes=minutes))
        orders = [await service.get(n, SUPERVISOR) for n in numbers]
        if not numbers or which == 7:
            kind = ("complaint", "consult", "help")[choice % 3]
            request = msgspec.convert(helpers.intake_body(
                kind=kind, priority="urgent" if choice % 4 == 3 else "normal", received_at=clock.now().isoformat(),
                area=("梅溪湖街道", "麓谷街道", "")[which % 3],
                citizen={"name": "市民", "phone": f"1390000000{choice % 3}"}), IntakeRequest, strict=False)
            _, order = await service.intake("hotline", request, AGENT)
            numbers.append(order.number)
            continue
        order = orders[which % len(orders)]
        options = _choices(order, orders)
        if not options:
            continue
        name, actor, payload = options[choice % len(options)]
        if actor is None:
            continue
        try:
            await service.act(order.number, name, payload, actor)
            DONE.append(name)
        except HuyingError:
            pass  # refused (an extension past its deadline, a window closed…): a real user sees the same
    return numbers


async def _listed(client, headers, **params) -> set[str]:
    found: set[str] = set()
    page = 1
    while True:
        answer = await client.get("/api/orders", params={**params, "page": page, "page_size": 100}, headers=headers)
        assert answer.status_code == 200, (params, answer.text)
        body = answer.json()
        found |= {o["number"] for o in body["items"]}
        if page * 100 >= body["total"]:
            assert len(found) == body["total"], params
            return found
        page += 1


def _check_rates(figures: dict, where: str) -> None:
    for name, value in figures["rates"].items():
        assert value is None or 0 <= value <= 1, (where, name, value, figures["counts"])
    for k in kpis.KPIS:
        numerator = sum(figures["counts"][n] for n in k.numerator)
        denominator = sum(figures["counts"][n] for n in k.denominator)
        assert numerator <= denominator, (where, k.name, numerator, denominator)


async def _check(client, headers) -> None:
    today = clock.today()
    periods = dict.fromkeys([("monthly", START.date().replace(day=1)), ("monthly", today.replace(day=1)),
                             ("weekly", today), ("daily", today), ("quarterly", START.date())])
    for kind, start in periods:
        answer = await client.get(f"/api/reports/{kind}", params={"start": start.isoformat()}, headers=headers)
        assert answer.status_code == 200, answer.text
        report = answer.json()
        period = report["period"]
        for figures, where in ((report, "本期"), (report["previous"], "上期"), (report["year_before"], "上年同期")):
            _check_rates(figures, f"{kind} {start} {where}")
        for dimension, data in report["breakdowns"].items():
            for row in data["rows"]:
                _check_rates(row, f"{kind} {start} {dimension}={row['value']}")
        running = dt.date.fromisoformat(period["start"]) <= today <= dt.date.fromisoformat(period["end"])
        assert period["running"] == running and period["partial"] == running
        if kind in ("monthly", "weekly"):  # each list costs a request: the orders of the months and the week
            for name in kpis.LISTABLE:
                params = {"kpi": name, "kpi_to": period["through"]}
                if name != "open_overdue":
                    params["kpi_from"] = period["start"]
                orders = await _listed(client, headers, **params)
                assert len(orders) == report["counts"][name], (kind, start, name, sorted(orders), report["counts"][name])
        if kind == "daily":  # running: 超期未办结 is now, the 办理超期 list, each order 超期 by its handling deadline
            overdue = await _listed(client, headers, kpi="open_overdue", kpi_to=period["through"])
            handling = await _listed(client, headers, deadline="handle_overdue")
            assert len(overdue) == report["counts"]["open_overdue"]
            assert overdue == handling, (sorted(overdue), sorted(handling))
            assert handling <= await _listed(client, headers, deadline="overdue")
            for number in handling:
                order = (await client.get(f"/api/orders/{number}", headers=headers)).json()
                states = {d["name"]: d["state"] for d in order["deadlines"]}
                assert states["handle"] == "overdue", (number, order["deadlines"])


async def _example(platform, client, history) -> None:
    clock.reset()
    await helpers.clean(platform)
    await platform.start()
    await helpers.seed_staff()
    try:
        await _play(platform, history)
        headers = await helpers.login(client, "supervisor1")
        await _check(client, headers)
    finally:
        clock.reset()


def test_kpis_keep_their_definitions_over_random_lifecycles(migrated):
    """One platform and client for all the examples; each example starts from an empty database."""
    from litestar.testing import AsyncTestClient

    from api.app import create_app
    from core.platform import Platform

    loop = asyncio.new_event_loop()
    platform = Platform(migrated)
    loop.run_until_complete(platform.start())
    client = AsyncTestClient(create_app(platform, pool=False, run_jobs=False))
    loop.run_until_complete(client.__aenter__())

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(history=HISTORY)
    def lifecycles(history):
        loop.run_until_complete(_example(platform, client, history))

    try:
        lifecycles()
        if os.environ.get("KPI_DEBUG"):
            import collections

            print(collections.Counter(DONE))
    finally:
        loop.run_until_complete(client.__aexit__(None, None, None))
        loop.run_until_complete(platform.stop())
        loop.close()
