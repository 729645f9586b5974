"""No code in front of people: every console page each role can reach from its navigation, and the
order page of an order of every channel (dispatched, accepted, commented, marked 临期 by the SLA
sweep, one resolved at intake), shows labels — never a snake_case token, a key of a channel's
choices, a department, source, role, kind, status or event code, nor a username where the user has a
name colleagues know.

Twice: fast over HTTP with the tags stripped (both backends), and in real headless Chromium reading
``document.body.innerText`` with a screenshot of every page (``test-artifacts/screenshots/console/
<backend>/nocodes-*.png``).
"""

from __future__ import annotations

import datetime as dt
import html
import re

import msgspec
import pytest

from core import clock
from core.channels import BOARDS, KINDS, SOURCES, describe_fields
from core.demo import demo_details
from core.intake import IntakeRequest
from core.lifecycle import STATUSES
from core.meetings import DecisionIn, Minutes, NewMeeting
from core.model import ACTOR_ROLES, SYSTEM, Actor
from core.plugins import Channels, get_plugin_manager
from core.sla import DEADLINE_LABELS
from core.tables import User
from tests.helpers import DEPARTMENTS, PASSWORD, STAFF, intake_body
from tests.test_browser import driver, screenshots, server  # noqa: F401  (fixtures)

ROLE_USERS = ("agent1", "dispatcher1", "housing_handler", "supervisor1", "admin1")
NAMES = {"agent1": "小周", "dispatcher1": "老陈", "housing_handler": "住建小李", "supervisor1": "王督办",
         "admin1": "刘工", "eco_handler": "环保小王", "urban_handler": "城管小赵"}
# Pages another change owns right now: visited, but their codes are reported rather than failed on.
SKIPPED = {"/console/kpis"}
# Where a code is the thing shown on purpose: the account list shows the usernames people sign in
# with, the department list the code each department is defined under (imports and the CLI use it).
ALLOWED = {"/console/admin/users": set(STAFF), "/console/admin/departments": {c for c, _, _ in DEPARTMENTS},
           "/console/admin/netboards": {"netboard", *BOARDS}}  # the code each board posts as its source
CHANNELS = list(Channels(get_plugin_manager()))
SNAKE = re.compile(r"(?<![A-Za-z0-9_])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![A-Za-z0-9_])")
TOKEN = re.compile(r"[A-Za-z0-9_]+")


def known_codes() -> set[str]:
    """Every code a person must never read: channels, departments, sources, roles, kinds, statuses,
    event actions, deadline names, each channel field's choice keys, and the staff's usernames."""
    pm = get_plugin_manager()
    channels = Channels(pm)
    codes = {c.code for c in CHANNELS} | {code for code, _, _ in DEPARTMENTS}
    codes |= set(SOURCES) | set(ACTOR_ROLES) | set(KINDS) | set(STATUSES) | set(DEADLINE_LABELS)
    codes |= {"at_risk", "overdue", "urge", "supervise", "intake", "attach", "calendar_reschedule"}
    for channel in CHANNELS:
        codes |= set(channels.lifecycle(channel.code).actions)
        for f in describe_fields(channel.fields):
            codes |= set(f.choices or {})
    return codes | set(NAMES)


CODES = known_codes()
MEETING = "_meeting"  # the coordination meeting's id among the shift's orders


def offending(text: str, allowed: set[str] = frozenset()) -> list[str]:
    """The codes in a page's visible text."""
    found = {m.group(0) for m in SNAKE.finditer(text)} | {t for t in TOKEN.findall(text) if t in CODES}
    return sorted(found - set(allowed))


def visible(page: str) -> str:
    """What a person reads in an HTML page: no tags, scripts, styles or attribute values."""
    page = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", " ", page)
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    return html.unescape(page)


async def shift(platform) -> dict[str, str]:
    """A shift's worth of orders: one per channel moved through dispatch, 签收, a comment and an SLA
    mark; one resolved at intake citing the knowledge base; one waiting in the dispatch queue. Staff
    carry the names colleagues know them by."""
    for username, name in NAMES.items():
        await User.update({User.display_name: name}).where(User.username == username)
    agent, dispatcher = Actor(name="agent1", role="agent"), Actor(name="dispatcher1", role="dispatcher")
    handler = Actor(name="housing_handler", role="handler", department="housing")
    orders = {}
    hotline = None
    for channel in CHANNELS:
        details = demo_details(channel) if channel.fields else None
        if channel.code == "city_recheck":  # filed only by importing the city's callback file
            continue
        if channel.code == "environment":  # the values seen as codes on the floor
            details = {**details, "problem": "cooking_fumes", "timing": "night", "source": "楼下餐馆"}
        body = intake_body(kind=channel.kinds[0], source="phone" if hotline else "web_form",
                           subject=f"{channel.name}诉求", **({"details": details} if details else {}))
        request = msgspec.convert(body, IntakeRequest)
        _, made = await platform.orders.intake(channel.code, request, agent if hotline else Actor(
            name="web", role="citizen", kind="citizen"))
        number = orders[channel.code] = made.number
        hotline = hotline or number
        joint = {"assisting": ["eco_env", "urban_mgmt"]} if channel.default else {}  # 联合办理 on the hotline's
        await platform.orders.act(number, "dispatch", {"department": "housing", "note": "请核实", **joint}, dispatcher)
        if joint:
            eco = Actor(name="eco_handler", role="handler", department="eco_env")
            await platform.orders.act(number, "accept_part", {}, eco)
            await platform.orders.act(number, "submit_opinion", {"opinion": "已派员核查"}, eco)
            await platform.orders.act(number, "return_part", {"reason": "不属于本单位职责"},
                                      Actor(name="urban_handler", role="handler", department="urban_mgmt"))
        await platform.orders.act(number, "accept", {}, handler)
        await platform.orders.act(number, "comment", {"text": "已电话联系来电人"}, handler)
        await platform.orders.act(number, "sla_mark", {"deadline": "handle", "state": "at_risk", "escalate": "urge",
                                                      "note": "办理时限临期"}, SYSTEM)
    await _verified_on_site(platform, orders["enterprise_help"])
    request = msgspec.convert(intake_body(kind="consult", subject="公积金提取咨询"), IntakeRequest)
    _, resolved = await platform.orders.intake("hotline", request, agent)
    await platform.orders.act(resolved.number, "resolve_at_intake", {"reply": "已告知提取条件"}, agent)
    orders["resolved"] = resolved.number
    request = msgspec.convert(intake_body(subject="路口井盖丢失", content="路口井盖丢失，很危险"), IntakeRequest)
    orders["waiting"] = (await platform.orders.intake("hotline", request, agent))[1].number
    # a difficult order a coordination meeting decided on (its timeline, the meeting's pages)
    supervisor = Actor(name="supervisor1", role="supervisor")
    await platform.orders.act(hotline, "mark_difficult", {"reason": "涉及多个部门"}, supervisor)
    meeting = await platform.meetings.call(NewMeeting(
        title="疑难工单协调会", at=clock.now() - dt.timedelta(hours=1), place="三楼会议室", orders=[hotline],
        departments=["housing"]), supervisor)
    await platform.meetings.write_minutes(meeting["id"], Minutes(text="经研究决定如下。", decisions=[
        DecisionIn(department="housing", task="现场核查", due=clock.today())]), supervisor)
    orders[MEETING] = str(meeting["id"])
    return orders


async def _verified_on_site(platform, number: str) -> None:
    """An on-site verification recorded and another waiting for the supervisor (实地核实)."""
    import datetime as dt

    from core import clock
    from core.site_visits import Record, Schedule

    supervisor = Actor(name="supervisor1", role="supervisor")
    for staff in (["supervisor1", "housing_handler"], ["supervisor1"]):
        visit = await platform.site_visits.schedule(number, Schedule(
            purpose="enterprise_visit", scheduled_at=clock.now() + dt.timedelta(days=1), staff=staff,
            note="与企业负责人当面核实"), supervisor)
    await platform.site_visits.record(visit.id, Record(findings="企业确有资金缺口", conclusion="partly",
                                                       address="麓谷街道某产业园"), supervisor)


def _links(page: str, path: str) -> list[str]:
    """The console pages this page's navigation leads to (header, queue list, admin index)."""
    hrefs = []
    for block in re.findall(r'(?s)<nav aria-label="工作台栏目">.*?</nav>|<aside class="queues".*?</aside>', page):
        hrefs += re.findall(r'href="(/console[^"#]*)"', block)
    if path == "/console/admin":
        hrefs += re.findall(r'href="(/console/admin/[^"#]*)"', page)
    return list(dict.fromkeys(html.unescape(h) for h in hrefs))


def _order_pages(role: str, orders: dict[str, str]) -> list[str]:
    """A department sees the orders sent to it; the centre sees them all."""
    return [f"/console/orders/{n}" for key, n in orders.items()
            if key != MEETING and (role != "handler" or key not in ("waiting", "resolved"))] + [
        f"/console/meetings/{orders[MEETING]}", "/console/meetings/decisions"]


async def test_no_code_over_http_for_every_role_and_channel(client, platform):
    from tests.test_console import Staff

    orders = await shift(platform)
    problems, skipped = [], []
    for username in ROLE_USERS:
        me = Staff(client)
        assert (await me.login(username)).status_code == 200
        home = await me.get("/console")
        pages = ["/console", *_links(home.text, "/console")]
        if "/console/admin" in pages:
            pages += [p for p in _links((await me.get("/console/admin")).text, "/console/admin") if p not in pages]
        for path in list(dict.fromkeys(pages)) + _order_pages(STAFF[username][0], orders):
            response = await me.get(path)
            if response.status_code != 200:
                problems.append((username, path, [f"HTTP {response.status_code}"]))
            found = offending(visible(response.text), ALLOWED.get(path.split("?")[0], set()))
            if found and path.split("?")[0] in SKIPPED:
                skipped.append((path, found))
            elif found:
                problems.append((username, path, found))
    if skipped:
        print("pages left to their owners:", skipped)
    assert not problems, "\n".join(f"{u} {p}: {', '.join(f)}" for u, p, f in problems)


@pytest.mark.browser
async def test_no_code_in_chromium_for_every_role_and_channel(driver, server, platform, screenshots):
    """The same walk in a real browser: what ``document.body.innerText`` shows, page by page, with a
    screenshot of each."""
    from tests.test_browser import _backend
    from tests.test_console_browser import Desk

    orders = await shift(platform)
    me = Desk(driver, server, screenshots / "console" / _backend(platform))
    problems, skipped = [], []
    for username in ROLE_USERS:
        me.open("/console/login")
        me.type("#username", username)
        me.type("#password", PASSWORD)
        me.press(".login button[type=submit]")
        assert me.text("#whoami").startswith(NAMES[username]), me.text("main")
        links = [a.get_attribute("href") for a in me.all('header nav a, aside.queues a')]
        pages = [h[len(server):] for h in links if h.startswith(server + "/console")]
        if "/console/admin" in pages:
            me.open("/console/admin")
            pages += [a.get_attribute("href")[len(server):] for a in me.all('main a[href^="/console/admin/"]')]
        pages = list(dict.fromkeys(["/console", *pages])) + _order_pages(STAFF[username][0], orders)
        for i, path in enumerate(pages):
            me.open(path)
            text = driver.execute_script("return document.body.innerText")
            found = offending(text, ALLOWED.get(path.split("?")[0], set()))
            if found and path.split("?")[0] in SKIPPED:
                skipped.append((path, found))
            elif found:
                problems.append((username, path, found))
            me.shoot(f"nocodes-{username}-{i:02d}")
        me.sign_out()
    if skipped:
        print("pages left to their owners:", skipped)
    assert not problems, "\n".join(f"{u} {p}: {', '.join(f)}" for u, p, f in problems)
