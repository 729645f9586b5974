"""The staff console over HTTP: sign-in and sessions, each role's queues, the order list, search and
export, the order detail and its generated action forms, a lost race, CSRF, and department isolation
in every list, count, search and export. (The browser paths are in ``test_console_browser.py``.)"""

from __future__ import annotations

import io
import re
from urllib.parse import unquote_plus as unquote

import pytest

from core import clock
from core.model import Actor
from tests.helpers import PASSWORD, intake_body

TOKEN = re.compile(r'name="_csrf_token" value="([^"]+)"')


def _rows(page) -> str:
    """The page below its filter form (the query typed is echoed in the form)."""
    text = page.text
    start = text.find("<tbody>")
    return text[start:] if start >= 0 else ""


class Staff:
    """A member of staff in a browser-like client: cookies kept, the CSRF token read from each page."""

    def __init__(self, client):
        import httpx

        self.client = client
        self.token = ""
        self.jar = httpx.Cookies()  # a browser of their own: cookies swapped in for each request

    async def request(self, method: str, path: str, **kwargs):
        self.client.cookies = self.jar
        try:
            return await self.client.request(method, path, **kwargs)
        finally:
            self.jar = self.client.cookies

    async def get(self, path: str, **kwargs):
        response = await self.request("GET", path, **kwargs)
        found = TOKEN.search(response.text)
        if found:
            self.token = found.group(1)
        return response

    async def post(self, path: str, data: dict | None = None, *, token: bool = True, **kwargs):
        body = dict(data or {})
        if token:
            body.setdefault("_csrf_token", self.token)
        response = await self.request("POST", path, data=body, **kwargs)
        found = TOKEN.search(response.text)
        if found:
            self.token = found.group(1)
        return response

    async def login(self, username: str, password: str = PASSWORD):
        await self.get("/console/login")
        return await self.post("/console/login", {"username": username, "password": password})


@pytest.fixture
async def people(client):
    """Members of staff by username, each signed in with a browser (cookie jar) of their own."""
    opened = {}

    async def get(username: str) -> Staff:
        if username not in opened:
            staff = opened[username] = Staff(client)
            response = await staff.login(username)
            assert response.status_code == 200, response.text
        return opened[username]

    return get


async def _order(platform, agent="agent1", **overrides) -> str:
    from core.intake import IntakeRequest
    import msgspec

    request = msgspec.convert(intake_body(**overrides), IntakeRequest)
    _, made = await platform.orders.intake("hotline", request, Actor(name=agent, role="agent"))
    return made.number


async def test_a_wrong_password_is_refused_and_the_right_one_opens_the_home_page(client):
    staff = Staff(client)
    await staff.get("/console/login")
    refused = await staff.post("/console/login", {"username": "agent1", "password": "nope"})
    assert refused.status_code == 401 and "用户名或密码错误" in refused.text
    assert 'value="agent1"' in refused.text  # what was typed stays
    signed_in = await staff.post("/console/login", {"username": "agent1", "password": PASSWORD})
    assert signed_in.status_code == 200 and "话务员工作台" in signed_in.text
    assert "huying_console" in staff.jar


async def test_pages_need_a_session_and_logout_ends_it(client, people):
    anonymous = await Staff(client).get("/console/orders", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/console/login?next=")
    agent = await people("agent1")
    assert (await agent.get("/console/orders")).status_code == 200
    out = await agent.post("/console/logout")
    assert out.status_code == 200 and "已退出登录" in out.text
    again = await agent.get("/console/orders", follow_redirects=False)
    assert again.status_code == 303


async def test_an_idle_session_expires(client, people, frozen_clock):
    import datetime as dt

    frozen_clock.freeze("2026-11-28T09:00:00+08:00")
    agent = await people("agent1")
    frozen_clock.advance(dt.timedelta(seconds=client.app.state.console.sessions.idle_seconds + 5))
    response = await agent.get("/console", follow_redirects=False)
    assert response.status_code == 303 and "notice=" in response.headers["location"]


async def test_a_busy_session_still_ends_after_its_absolute_lifetime(client, people, frozen_clock):
    """Kept alive by a request every few minutes, the session still ends 12 hours after signing in."""
    import datetime as dt

    frozen_clock.freeze("2026-11-28T08:00:00+08:00")
    agent = await people("agent1")
    for _ in range(12 * 4):  # every 15 minutes for 12 hours: never idle
        frozen_clock.advance(dt.timedelta(minutes=15))
        assert (await agent.get("/console", follow_redirects=False)).status_code == 200
    frozen_clock.advance(dt.timedelta(minutes=15))
    ended = await agent.get("/console", follow_redirects=False)
    assert ended.status_code == 303 and "登录已满 12 小时" in unquote(ended.headers["location"])
    frozen_clock.advance(dt.timedelta(minutes=-10))  # and the ended session stays ended
    assert (await agent.get("/console", follow_redirects=False)).status_code == 303


async def test_logging_out_ends_the_session_on_the_server_even_if_the_cookie_is_replayed(client, people):
    agent = await people("agent1")
    cookie = agent.jar["huying_console"]
    assert (await agent.post("/console/logout")).status_code == 200
    replay = Staff(client)
    replay.jar.set("huying_console", cookie, domain="testserver.local", path="/console")
    again = await replay.get("/console/orders", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/console/login")


async def test_a_deactivated_users_session_stops_working(client, people):
    from core.auth import recent
    from core.tables import User

    handler = await people("housing_handler")
    assert (await handler.get("/console")).status_code == 200
    admin = await people("admin1")
    user = await User.select(User.id).where(User.username == "housing_handler").first()
    response = await admin.post(f"/console/admin/users/{user['id']}", {"op": "deactivate"})
    assert response.status_code == 200, response.text
    recent.clear()
    stopped = await handler.get("/console", follow_redirects=False)
    assert stopped.status_code == 303 and "/console/login" in stopped.headers["location"]


async def test_a_form_without_its_csrf_token_is_refused(client, people, platform):
    number = await _order(platform)
    dispatcher = await people("dispatcher1")
    await dispatcher.get(f"/console/orders/{number}")
    refused = await dispatcher.post(f"/console/orders/{number}/act/dispatch", {"department": "housing"}, token=False)
    assert refused.status_code == 403 and "安全校验" in refused.text
    forged = await dispatcher.post(f"/console/orders/{number}/act/dispatch",
                                   {"department": "housing", "_csrf_token": "forged"})
    assert forged.status_code == 403
    assert (await platform.orders.get(number, Actor(name="d", role="dispatcher"))).status == "received"


async def test_each_role_sees_its_queues_with_counts(client, people, platform):
    await _order(platform)
    await _order(platform)
    dispatcher = await people("dispatcher1")
    home = await dispatcher.get("/console")
    assert "派单员工作台" in home.text
    counts = dict(re.findall(r'data-queue="(\w+)"><span class="n">(\d+)</span>', home.text))
    assert counts["dispatch"] == "2" and counts["returned"] == "0"
    handler = await people("housing_handler")
    counts = dict(re.findall(r'data-queue="(\w+)"><span class="n">(\d+)</span>', (await handler.get("/console")).text))
    assert set(counts) >= {"accept", "handling", "rework", "supervisions", "extensions", "appeal"}
    supervisor = await people("supervisor1")
    assert "超期" in (await supervisor.get("/console")).text


async def test_the_order_list_filters_searches_sorts_and_pages_in_the_database(client, people, platform):
    numbers = [await _order(platform, subject=f"路灯不亮 {i}") for i in range(3)]
    await _order(platform, subject="噪音扰民", citizen={"name": "王先生", "phone": "13800001111"})
    agent = await people("agent1")
    page = await agent.get("/console/orders?q=路灯&sort=received_asc")
    assert "共 3 件" in page.text and page.text.index(numbers[0]) < page.text.index(numbers[2])
    by_phone = await agent.get("/console/orders?q=13800001111")
    assert "共 1 件" in by_phone.text and "噪音扰民" in by_phone.text and "13800001111" not in _rows(by_phone)
    bad = await agent.get("/console/orders?status=nonsense")
    assert bad.status_code == 400 and "没有这个状态" in bad.text


async def test_a_broad_list_counts_no_further_than_the_cap(client, people, platform, monkeypatch):
    """A filter matching a year of orders costs no more than a narrow one: past the cap the page says
    so instead of counting on, and it still pages on while pages come back full."""
    import core.listing
    from api.console import order_list

    monkeypatch.setattr(core.listing, "COUNT_CAP", 3)
    monkeypatch.setattr(order_list, "PAGE_SIZE", 2)
    for i in range(5):
        await _order(platform, subject=f"路灯不亮 {i}")
    agent = await people("agent1")
    first = await agent.get("/console/orders")
    assert "超过 3 件" in first.text and 'rel="next"' in first.text
    last = await agent.get("/console/orders?page=3")
    assert _rows(last).count("<tr data-number=") == 1 and 'rel="next"' not in last.text
    narrow = await agent.get("/console/orders?q=路灯不亮 4")
    assert "共 1 件" in narrow.text


async def test_export_gives_the_current_filter_as_xlsx(client, people, platform):
    import zipfile

    await _order(platform, subject="路灯不亮")
    await _order(platform, subject="噪音扰民")
    agent = await people("agent1")
    response = await agent.get("/console/orders/export.xlsx?q=路灯")
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml")
    with zipfile.ZipFile(io.BytesIO(response.content)) as book:
        strings = book.read("xl/sharedStrings.xml").decode()
    assert "路灯不亮" in strings and "噪音扰民" not in strings and "139****5678" in strings


async def test_an_action_form_is_generated_and_a_bad_payload_keeps_what_was_typed(client, people, platform):
    number = await _order(platform)
    dispatcher = await people("dispatcher1")
    await dispatcher.post(f"/console/orders/{number}/act/dispatch", {"department": "housing"})
    handler = await people("housing_handler")
    page = await handler.get(f"/console/orders/{number}")
    assert 'action="/console/orders/%s/act/accept"' % number in page.text and "确认签收" in page.text
    await handler.post(f"/console/orders/{number}/act/accept")
    empty = await handler.post(f"/console/orders/{number}/act/request_extension", {"days": "99", "reason": "等材料"})
    assert empty.status_code == 400 and "不能大于 30" in empty.text and "等材料" in empty.text
    done = await handler.post(f"/console/orders/{number}/act/reply", {"reply": "已清理完毕。"})
    assert done.status_code == 200 and "待审核" in done.text and "已完成：答复" in done.text


async def test_a_stale_page_losing_a_race_says_so_and_shows_the_current_state(client, people, platform):
    number = await _order(platform)
    first, second = await people("dispatcher1"), await people("admin1")
    await first.get(f"/console/orders/{number}")
    await second.get(f"/console/orders/{number}")
    assert (await first.post(f"/console/orders/{number}/act/dispatch", {"department": "housing", "version": "1"})).status_code == 200
    lost = await second.post(f"/console/orders/{number}/act/dispatch", {"department": "eco_env", "version": "1"})
    assert lost.status_code == 409
    assert "已被他人处理" in lost.text and 'id="order-status">待签收' in lost.text
    assert "住房和城乡建设局" in lost.text


async def test_the_phone_is_revealed_only_with_a_reason_and_on_the_record(client, people, platform):
    number = await _order(platform)
    agent = await people("agent1")
    page = await agent.get(f"/console/orders/{number}")
    assert "139****5678" in page.text and "13912345678" not in page.text
    refused = await agent.post(f"/console/orders/{number}/act/reveal_contact", {"reason": ""})
    assert refused.status_code == 400 and "13912345678" not in refused.text
    shown = await agent.post(f"/console/orders/{number}/act/reveal_contact", {"reason": "回访需要拨打"})
    assert "13912345678" in shown.text and "查看完整号码" in shown.text
    assert "13912345678" not in (await agent.get(f"/console/orders/{number}")).text


async def test_the_caller_history_shows_that_numbers_orders_and_warns_of_a_repeat_caller(client, people, platform):
    for _ in range(3):
        await _order(platform, citizen={"name": "李女士", "phone": "13700001234"})
    agent = await people("agent1")
    panel = await agent.get("/console/caller-history?phone=13700001234")
    assert "近 90 天 3 件工单" in panel.text and "重复来电" in panel.text
    handler = await people("housing_handler")
    assert (await handler.get("/console/caller-history?phone=13700001234")).status_code == 403


async def test_the_repeat_caller_queue_counts_a_caller_from_their_third_call_on(client, people, platform):
    """The set of repeat callers is kept for a minute, but a call taken here counts at once."""
    supervisor = await people("supervisor1")

    def count(page) -> str:
        return dict(re.findall(r'data-queue="(\w+)"><span class="n">(\d+)</span>', page.text))["repeat_caller"]

    for _ in range(2):
        await _order(platform, citizen={"name": "李女士", "phone": "13700001234"})
    assert count(await supervisor.get("/console")) == "0"
    await _order(platform, citizen={"name": "李女士", "phone": "13700001234"})
    assert count(await supervisor.get("/console")) == "3"
    listed = await supervisor.get("/console/orders?flag=repeat_caller&open_only=1")
    assert "共 3 件" in listed.text


async def test_a_handler_never_sees_another_departments_order(client, people, platform):
    ours = await _order(platform, subject="住房问题 甲")
    theirs = await _order(platform, subject="住房问题 乙")
    dispatcher = await people("dispatcher1")
    await dispatcher.post(f"/console/orders/{ours}/act/dispatch", {"department": "housing"})
    await dispatcher.post(f"/console/orders/{theirs}/act/dispatch", {"department": "eco_env"})
    handler = await people("housing_handler")
    for path in ("/console", "/console/orders", "/console/orders?q=住房问题", "/console/accept",
                 f"/console/orders?q={theirs}", "/console/orders?department=eco_env",
                 "/console/orders?status=dispatched"):
        page = await handler.get(path)
        assert theirs not in _rows(page), path
    assert ours in (await handler.get("/console/orders?q=住房问题")).text
    counts = dict(re.findall(r'data-queue="(\w+)"><span class="n">(\d+)</span>', (await handler.get("/console")).text))
    assert counts["accept"] == "1"
    assert "共 0 件" in (await handler.get("/console/orders?department=eco_env")).text
    export = await handler.get("/console/orders/export.xlsx")
    import zipfile

    with zipfile.ZipFile(io.BytesIO(export.content)) as book:
        strings = book.read("xl/sharedStrings.xml").decode()
    assert ours in strings and theirs not in strings
    assert (await handler.get(f"/console/orders/{theirs}")).status_code == 404
    refused = await handler.post(f"/console/orders/{theirs}/act/accept")
    assert refused.status_code == 404
    bulk = await handler.post("/console/bulk/accept", {"numbers": [theirs]})
    assert "未能签收" in bulk.text
    assert (await platform.orders.get(theirs, Actor(name="d", role="dispatcher"))).status == "dispatched"


async def test_bulk_dispatch_sends_each_order_to_its_suggestion(client, people, platform):
    first = await _order(platform, subject="工地噪音扰民", content="工地夜间施工噪音很大")
    second = await _order(platform, subject="工地噪音扰民 二", content="工地夜间施工噪音很大")
    dispatcher = await people("dispatcher1")
    queue = await dispatcher.get("/console/dispatch")
    assert first in queue.text and "疑似重复" in queue.text
    done = await dispatcher.post("/console/bulk/dispatch", {"numbers": [first, second], "department": "housing"})
    assert "已派单 2 件" in done.text
    for number in (first, second):
        order = await platform.orders.get(number, Actor(name="d", role="dispatcher"))
        assert order.status == "dispatched" and order.department == "housing"


async def test_the_agent_takes_a_call_through_the_intake_form(client, people, platform):
    agent = await people("agent1")
    page = await agent.get("/console/intake")
    assert 'name="citizen.phone"' in page.text and "来电历史" in page.text
    refused = await agent.post("/console/intake", {"channel": "hotline", "kind": "complaint", "subject": "",
                                                   "content": "楼上漏水", "citizen.phone": "12345"})
    assert refused.status_code == 400 and "楼上漏水" in refused.text and "请填写标题" in refused.text
    made = await agent.post("/console/intake", {"channel": "hotline", "kind": "complaint", "subject": "楼上漏水",
                                                "content": "楼上漏水到我家", "citizen.phone": "13912345678",
                                                "citizen.name": "李女士"})
    assert made.status_code == 200 and "已完成：受理" in made.text and "待派单" in made.text


async def test_the_api_documentation_loads_its_assets_from_the_app_itself(client):
    for page in ("/schema/swagger", "/schema/redoc"):
        html = (await client.get(page)).text
        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
        assert assets and all(a.startswith("/schema-assets/") for a in assets), (page, assets)
        assert "https://" not in html.replace("https://github", "")
        for asset in assets:
            assert (await client.get(asset)).status_code == 200, asset


async def test_a_likely_duplicate_is_merged_from_the_order_page(client, people, platform):
    first = await _order(platform, subject="楼道灯坏了", citizen={"name": "李女士", "phone": "13700004321"})
    second = await _order(platform, subject="楼道灯坏了", citizen={"name": "李女士", "phone": "13700004321"})
    dispatcher = await people("dispatcher1")
    page = await dispatcher.get(f"/console/orders/{second}")
    assert f'href="/console/orders/{second}/merge?into={first}"' in page.text  # a preview first (test_merge_preview.py)
    await dispatcher.get(f"/console/orders/{second}/merge?into={first}")
    merged = await dispatcher.post(f"/console/orders/{second}/merge", {"into": first, "reason": "同一诉求"})
    assert merged.status_code == 200 and 'id="order-status">已合并' in merged.text


async def test_extensions_and_supervisions_show_with_their_outcome(client, people, platform):
    number = await _order(platform)
    dispatcher, handler = await people("dispatcher1"), await people("housing_handler")
    await dispatcher.post(f"/console/orders/{number}/act/dispatch", {"department": "housing"})
    await handler.post(f"/console/orders/{number}/act/accept")
    await handler.post(f"/console/orders/{number}/act/request_extension", {"days": "3", "reason": "等检测报告"})
    await dispatcher.post(f"/console/orders/{number}/act/approve_extension", {"reason": "同意"})
    supervisor = await people("supervisor1")
    await supervisor.post(f"/console/orders/{number}/act/supervise", {"note": "请加快办理", "due_days": "2"})
    page = await handler.get(f"/console/orders/{number}")
    assert "等检测报告" in page.text and "已批准" in page.text and "尚未回复" in page.text
    counts = dict(re.findall(r'data-queue="(\w+)"><span class="n">(\d+)</span>', (await handler.get("/console")).text))
    assert counts["supervisions"] == "1"
    answered = await handler.post(f"/console/orders/{number}/act/answer_supervision",
                                  {"supervision": "1", "answer": "已加派人手"})
    assert answered.status_code == 200 and "已加派人手" in answered.text and "尚未回复" not in answered.text


async def test_the_department_picker_takes_a_typed_name_and_refuses_an_unknown_one(client, people, platform):
    number = await _order(platform)
    dispatcher = await people("dispatcher1")
    unknown = await dispatcher.post(f"/console/orders/{number}/act/dispatch", {"department": "不存在的局"})
    assert unknown.status_code == 400 and "承办单位不存在" in unknown.text
    named = await dispatcher.post(f"/console/orders/{number}/act/dispatch", {"department": "住房和城乡建设局"})
    assert named.status_code == 200 and 'id="order-department">住房和城乡建设局' in named.text


# -- the centre's overview pages: KPIs, board, warnings, knowledge, reconciliation, outbox ----------------

def _links(page, name: str) -> list[tuple[str, int]]:
    """(href, number shown) of each KPI count that links to the order list."""
    import html

    found = re.findall(r'<a href="([^"]+)" class="kpi-link" data-count="%s">(\d+)</a>' % name, page.text)
    return [(html.unescape(href), int(n)) for href, n in found]


async def _dispatched(platform, department: str, **overrides) -> str:
    number = await _order(platform, **overrides)
    await platform.orders.act(number, "dispatch", {"department": department}, Actor(name="d", role="dispatcher"))
    return number


async def test_the_kpi_page_links_each_count_to_a_list_of_exactly_those_orders(client, people, platform):
    for _ in range(3):
        await _dispatched(platform, "housing", area="梅溪湖街道")
    for _ in range(2):
        await _dispatched(platform, "eco_env", area="麓谷街道")
    await _order(platform, area="")
    supervisor = await people("supervisor1")
    home = await supervisor.get("/console")
    assert 'href="/console/kpis"' in home.text
    page = await supervisor.get("/console/kpis")
    assert page.status_code == 200, page.text
    assert "月报" in page.text and "按承办单位" in page.text and "按渠道" in page.text and "按区域" in page.text
    assert "按时办结率" in page.text and "满意率" in page.text
    links = _links(page, "intake")
    shown = {href: n for href, n in links}
    assert any("department=housing" in h and n == 3 for h, n in links)
    assert any("department=eco_env" in h and n == 2 for h, n in links)
    assert any("area=%E6%A2%85" in h and n == 3 for h, n in links)  # 梅溪湖街道
    assert any("channel=hotline" in h and n == 6 for h, n in links)
    assert sum(1 for h in shown if "department=" not in h and "channel=" not in h and "area=" not in h) == 1
    for href, number in links:
        listed = await supervisor.get(href)
        assert listed.status_code == 200 and f"共 {number} 件" in listed.text, (href, number)
    other = await supervisor.get("/console/kpis?period=annual")
    assert other.status_code == 200 and "年报" in other.text
    bad = await supervisor.get("/console/kpis?period=decade&start=someday")
    assert bad.status_code == 400 and "报表周期无效" in bad.text
    assert (await (await people("admin1")).get("/console/kpis")).status_code == 200
    refused = await (await people("housing_handler")).get("/console/kpis")
    assert refused.status_code == 403 and "无权访问" in refused.text and "eco_env" not in refused.text


async def test_the_board_page_shows_today_open_orders_and_deadlines_for_the_centre_only(client, people, platform):
    await _dispatched(platform, "housing")
    await _order(platform)
    supervisor = await people("supervisor1")
    page = await supervisor.get("/console/board")
    assert page.status_code == 200, page.text
    assert re.search(r'id="intake-today">2<', page.text)
    assert '<a href="/console/orders?status=received">1</a>' in page.text
    assert '<a href="/console/orders?status=dispatched">1</a>' in page.text
    listed = await supervisor.get("/console/orders?status=received")
    assert "共 1 件" in listed.text
    assert "<script src=\"http" not in page.text and "cdn" not in page.text.lower()
    assert (await (await people("agent1")).get("/console/board")).status_code == 200
    assert (await (await people("housing_handler")).get("/console/board")).status_code == 403


async def _mass_incident(platform) -> list[str]:
    import datetime as dt

    import msgspec

    from core.intake import IntakeRequest

    now = clock.now()
    numbers = []
    for i in range(5):
        body = intake_body(address="观沙岭街道滨江路1号", received_at=(now - dt.timedelta(minutes=30 - i)).isoformat())
        _, made = await platform.orders.intake("hotline", msgspec.convert(body, IntakeRequest, strict=False),
                                               Actor(name="agent1", role="agent"))
        numbers.append(made.number)
    return numbers


async def test_warnings_are_listed_with_their_reason_and_acknowledged_on_the_record(client, people, platform):
    from core.reports.tables import EarlyWarning

    numbers = await _mass_incident(platform)
    supervisor = await people("supervisor1")
    page = await supervisor.get("/console/warnings")
    assert page.status_code == 200, page.text
    assert "群体性事件" in page.text and "观沙岭街道滨江路1号" in page.text and "阈值：5 件" in page.text
    assert all(n in page.text for n in numbers)
    warning = await EarlyWarning.select().where(EarlyWarning.kind == "mass_incident").first()
    url = f"/console/warnings/{warning['id']}/acknowledge"
    assert (await supervisor.post(url, {"note": "x"}, token=False)).status_code == 403
    handler = await people("housing_handler")
    assert "观沙岭街道滨江路1号" not in (await handler.get("/console/warnings")).text  # not its department's
    assert (await handler.post(url, {"note": "x"})).status_code == 403
    empty = await supervisor.post(url, {"note": "  "})
    assert empty.status_code == 400 and "请写明处置意见" in empty.text
    assert (await (await people("agent1")).post(url, {"note": "已知悉"})).status_code == 403
    done = await supervisor.post(url, {"note": "已通知街道到现场"})
    assert done.status_code == 200 and "已确认预警" in done.text
    row = await EarlyWarning.select().where(EarlyWarning.id == warning["id"]).first()
    assert row["acknowledged_by"] == "supervisor1" and row["acknowledged_at"] is not None
    assert row["acknowledge_note"] == "已通知街道到现场"
    listed = await supervisor.get("/console/warnings?state=acknowledged&kind=mass_incident")
    assert "已确认：supervisor1" in listed.text and "已通知街道到现场" in listed.text
    again = await supervisor.post(url, {"note": "再次"})
    assert again.status_code == 409 and "已由 supervisor1 确认" in again.text
    assert (await (await people("agent1")).get("/console/warnings")).status_code == 200


async def test_viewing_warnings_scans_at_most_once_a_minute(client, people, platform, monkeypatch):
    """The scan is periodic work (the reports job runs it every minute); a page view only lists."""
    from core.reports import warnings

    scans = []
    real = warnings.scan

    async def counted(*args, **kwargs):
        scans.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(warnings, "scan", counted)
    supervisor = await people("supervisor1")
    for _ in range(3):
        assert (await supervisor.get("/console/warnings")).status_code == 200
    assert len(scans) == 1
    client.app.state.jobs = object()  # an application whose jobs run (in process or on workers)
    client.app.state.warnings_scanned_at = None
    assert (await supervisor.get("/console/warnings")).status_code == 200
    assert len(scans) == 1  # the page lists; the job scans


ARTICLE = {"question": "夜间施工噪音扰民怎么处理？",
           "answer": "夜间（22时至次日6时）施工须取得夜间施工许可；未取得许可的，由生态环境分局查处。",
           "category": "环境保护/环境污染/噪音污染", "tags": ["噪音", "夜间施工"]}


async def test_knowledge_is_reviewed_on_its_page_and_shown_beside_a_matching_order(client, people, platform):
    import msgspec

    from core.knowledge import ArticleIn

    article = await platform.knowledge.submit(msgspec.convert(ARTICLE, ArticleIn),
                                              Actor(name="eco_handler", role="handler", department="eco_env"))
    supervisor = await people("supervisor1")
    page = await supervisor.get("/console/knowledge")
    assert page.status_code == 200 and f'id="pending-{article["id"]}"' in page.text
    url = f"/console/knowledge/{article['id']}/review"
    refused = await supervisor.post(url, {"decision": "return", "reason": ""})
    assert refused.status_code == 400 and "退回时请写明原因" in refused.text
    handler = await people("eco_handler")
    assert (await handler.post(url, {"decision": "approve"})).status_code == 403
    assert 'id="pending' not in (await handler.get("/console/knowledge")).text
    approved = await supervisor.post(url, {"decision": "approve"})
    assert approved.status_code == 200 and "已通过并发布" in approved.text
    assert (await platform.knowledge.get(article["id"], Actor(name="s", role="supervisor")))["published_version"] == 1
    found = await (await people("agent1")).get("/console/knowledge?q=夜间 噪音")
    assert ARTICLE["question"] in found.text and "生态环境分局查处" in found.text
    number = await _dispatched(platform, "housing", subject="夜间施工噪音", category=ARTICLE["category"])
    for who in ("agent1", "housing_handler"):
        detail = await (await people(who)).get(f"/console/orders/{number}")
        assert 'id="knowledge-panel"' in detail.text and ARTICLE["question"] in detail.text, who
    unrelated = await _order(platform, subject="路灯不亮", content="小区路灯坏了")
    detail = await (await people("agent1")).get(f"/console/orders/{unrelated}")
    assert "没有找到与本工单相关的已发布知识" in detail.text


async def test_reconciliation_lists_the_city_differences_for_supervisors_and_admins(client, people, platform):
    from core.tables import CityDiscrepancy

    number = await _dispatched(platform, "housing")
    await CityDiscrepancy.insert(CityDiscrepancy(order_number=number, external_id="SZ-0001", ours="dispatched",
                                                 theirs="received", pending_messages=2))
    for who in ("admin1", "supervisor1"):
        page = await (await people(who)).get("/console/admin/reconciliation")
        assert page.status_code == 200, page.text
        assert f'<a href="/console/orders/{number}">{number}</a>' in page.text and "SZ-0001" in page.text
        assert "待签收" in page.text
    assert (await (await people("housing_handler")).get("/console/admin/reconciliation")).status_code == 403


async def _messages():
    from core.tables import OutboxMessage

    now = clock.now()
    stuck = await OutboxMessage.insert(OutboxMessage(topic="city_platform.status", payload={"status": "办理中"},
                                                     attempts=4, last_error="ConnectTimeout: 市级平台无响应",
                                                     order_number="T1"))
    sent = await OutboxMessage.insert(OutboxMessage(topic="sms.send", payload={}, attempts=1, delivered_at=now))
    return stuck[0]["id"], sent[0]["id"]


async def test_the_outbox_page_filters_and_retries_or_abandons_with_a_reason_on_the_record(client, people, platform):
    from core.tables import OutboxEvent, OutboxMessage

    stuck, sent = await _messages()
    admin = await people("admin1")
    page = await admin.get("/console/admin/outbox")
    assert page.status_code == 200 and f'id="message-{stuck}"' in page.text and f'id="message-{sent}"' not in page.text
    assert "ConnectTimeout" in page.text and ">4<" in page.text and "待发送" in page.text
    delivered = await admin.get("/console/admin/outbox?state=delivered")
    assert f'id="message-{sent}"' in delivered.text and f'id="message-{stuck}"' not in delivered.text
    by_topic = await admin.get("/console/admin/outbox?state=all&topic=sms.send")
    assert f'id="message-{sent}"' in by_topic.text and f'id="message-{stuck}"' not in by_topic.text

    missing = await admin.post(f"/console/admin/outbox/{stuck}/abandon", {"reason": "  ", "back": "list"})
    assert missing.status_code == 400 and "请写明原因" in missing.text
    assert f'id="outbox-op-{stuck}"' in missing.text and "<details class=\"op\" open>" in missing.text
    assert await OutboxEvent.count() == 0
    abandoned = await admin.post(f"/console/admin/outbox/{stuck}/abandon", {"reason": "工单已撤销", "back": "list"})
    assert abandoned.status_code == 200 and "已放弃发送" in abandoned.text
    row = await OutboxMessage.select().where(OutboxMessage.id == stuck).first()
    assert row["abandoned_at"] is not None and row["abandon_reason"] == "工单已撤销"
    again = await admin.post(f"/console/admin/outbox/{stuck}/abandon", {"reason": "再放弃一次", "back": "detail"})
    assert again.status_code == 409 and "已放弃" in again.text and "再放弃一次" in again.text

    typed = await admin.post(f"/console/admin/outbox/{stuck}/retry", {"reason": "", "back": "detail"})
    assert typed.status_code == 400 and "请写明原因" in typed.text and "操作记录" in typed.text
    retried = await admin.post(f"/console/admin/outbox/{stuck}/retry", {"reason": "市级平台已恢复", "back": "detail"})
    assert retried.status_code == 200 and "已安排立即重发" in retried.text
    assert 'id="message-state"><span class="state-pending">待发送' in retried.text
    history = [(e["action"], e["actor"], e["reason"]) for e in
               await OutboxEvent.select().where(OutboxEvent.message_id == stuck).order_by(OutboxEvent.id)]
    assert history == [("abandon", "admin1", "工单已撤销"), ("retry", "admin1", "市级平台已恢复")]
    assert "工单已撤销" in retried.text and "市级平台已恢复" in retried.text  # the history on the detail page
    assert (await admin.post(f"/console/admin/outbox/{sent}/abandon", {"reason": "x"})).status_code == 409

    supervisor = await people("supervisor1")
    read = await supervisor.get(f"/console/admin/outbox/{stuck}")
    assert read.status_code == 200 and "市级平台已恢复" in read.text and "outbox-op" not in read.text
    assert (await supervisor.post(f"/console/admin/outbox/{stuck}/abandon", {"reason": "x"})).status_code == 403
    assert (await (await people("housing_handler")).get("/console/admin/outbox")).status_code == 403
    assert (await admin.get("/console/admin/outbox/999999")).status_code == 404


# -- reply templates (答复模板) ---------------------------------------------------------------------------

async def _accepted(platform, people, department: str, handler: str, **overrides) -> str:
    number = await _order(platform, **overrides)
    dispatcher = await people("dispatcher1")
    await dispatcher.post(f"/console/orders/{number}/act/dispatch", {"department": department})
    await (await people(handler)).post(f"/console/orders/{number}/act/accept")
    return number


async def test_a_departments_own_templates_come_first_on_its_reply_form_and_stay_its_own(client, people, platform):
    housing = await people("housing_handler")
    page = await housing.get("/console/templates")
    assert page.status_code == 200 and 'href="/console/templates"' in page.text and "住房和城乡建设局" in page.text
    added = await housing.post("/console/templates", {"name": "物业维修", "text": "「{subject}」已通知物业<b>处理</b>。"})
    assert added.status_code == 200 and "已添加模板「物业维修」" in added.text
    number = await _accepted(platform, people, "housing", "housing_handler")
    reply_form = (await housing.get(f"/console/orders/{number}")).text
    own = reply_form.index('data-text="「{subject}」已通知物业&lt;b&gt;处理&lt;/b&gt;。">物业维修</button>')
    assert own < reply_form.index(">已办结</button>") and "<b>处理</b>" not in reply_form  # user text escaped

    eco = await people("eco_handler")
    assert "物业维修" not in (await eco.get("/console/templates")).text
    eco_order = await _accepted(platform, people, "eco_env", "eco_handler")
    eco_form = (await eco.get(f"/console/orders/{eco_order}")).text
    assert ">已办结</button>" in eco_form and "物业维修" not in eco_form
    refused = await eco.post("/console/templates", {"department": "housing", "name": "越权", "text": "不应保存"})
    assert refused.status_code == 403
    assert "越权" not in (await housing.get("/console/templates")).text
    assert (await (await people("agent1")).get("/console/templates")).status_code == 403


async def test_an_admin_keeps_any_departments_templates_and_bad_input_is_refused_inline(client, people, platform):
    from core.tables import ReplyTemplate

    admin = await people("admin1")
    picker = await admin.get("/console/templates?department=eco_env")
    assert picker.status_code == 200 and 'id="t-department"' in picker.text
    added = await admin.post("/console/templates", {"department": "eco_env", "name": "噪声监测", "text": "已安排监测。"})
    assert added.status_code == 200 and "已添加模板「噪声监测」" in added.text
    row = await ReplyTemplate.select().where(ReplyTemplate.name == "噪声监测").first()
    assert row["department"] == "eco_env" and row["created_by"] == "admin1" and row["updated_by"] == "admin1"

    empty = await admin.post("/console/templates", {"department": "eco_env", "name": " ", "text": "留着的内容"})
    assert empty.status_code == 400 and "请填写模板名称" in empty.text and "留着的内容" in empty.text
    twice = await admin.post("/console/templates", {"department": "eco_env", "name": "噪声监测", "text": "第二份"})
    assert twice.status_code == 400 and "本单位已有同名模板" in twice.text and "第二份" in twice.text
    assert await ReplyTemplate.count().where(ReplyTemplate.department == "eco_env") == 1

    eco = await people("eco_handler")
    await eco.get("/console/templates")
    edited = await eco.post(f"/console/templates/{row['id']}/edit", {"name": "噪声监测", "text": "已安排夜间监测。"})
    assert edited.status_code == 200 and "已安排夜间监测。" in edited.text
    housing = await people("housing_handler")
    await housing.get("/console/templates")
    assert (await housing.post(f"/console/templates/{row['id']}/delete")).status_code == 403
    forged = await eco.post(f"/console/templates/{row['id']}/delete", {"_csrf_token": "forged"})
    assert forged.status_code == 403 and "安全校验" in forged.text
    deleted = await eco.post(f"/console/templates/{row['id']}/delete")
    assert deleted.status_code == 200 and "已删除模板「噪声监测」" in deleted.text
    assert await ReplyTemplate.count() == 0


async def test_reply_templates_over_the_api_follow_the_same_rules(client, tokens):
    housing, eco, admin = tokens["housing_handler"], tokens["eco_handler"], tokens["admin1"]
    made = await client.post("/api/reply-templates", json={"name": "物业维修", "text": "已通知物业。"}, headers=housing)
    assert made.status_code == 201 and made.json()["department"] == "housing"
    again = await client.post("/api/reply-templates", json={"name": "物业维修", "text": "重复"}, headers=housing)
    assert again.status_code == 409
    assert (await client.post("/api/reply-templates", json={"name": "", "text": "x"}, headers=housing)).status_code == 400
    listed = (await client.get("/api/reply-templates", headers=eco)).json()
    assert listed["items"] == [] and [g["name"] for g in listed["generic"]][0] == "已办结"
    assert (await client.get("/api/reply-templates?department=housing", headers=eco)).status_code == 403
    template = made.json()["id"]
    assert (await client.put(f"/api/reply-templates/{template}", json={"name": "越权", "text": "x"},
                             headers=eco)).status_code == 403
    changed = await client.put(f"/api/reply-templates/{template}", json={"name": "物业报修", "text": "已派物业。"},
                               headers=admin)
    assert changed.status_code == 200 and changed.json()["updated_by"] == "admin1"
    assert (await client.delete(f"/api/reply-templates/{template}", headers=housing)).status_code == 204
    assert (await client.get("/api/reply-templates?department=housing", headers=admin)).json()["items"] == []
