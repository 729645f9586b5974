"""The staff console over HTTP: sign-in and sessions, each role's queues, the order list, search and
export, the order detail and its generated action forms, a lost race, CSRF, and department isolation
in every list, count, search and export. (The browser paths are in ``test_console_browser.py``.)"""

from __future__ import annotations

import io
import re

import pytest

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


async def test_an_idle_session_expires(client, people):
    agent = await people("agent1")
    sessions = client.app.state.console.sessions
    user_id, signed_in, _, _ = agent.jar["huying_console"].split(".")
    stale = sessions.issue(int(user_id), int(signed_in), now=int(signed_in) - sessions.idle_seconds - 5)
    agent.jar.set("huying_console", stale, domain="testserver.local", path="/console")
    response = await agent.get("/console", follow_redirects=False)
    assert response.status_code == 303 and "notice=" in response.headers["location"]


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
    from api.console import routes

    monkeypatch.setattr(core.listing, "COUNT_CAP", 3)
    monkeypatch.setattr(routes, "PAGE_SIZE", 2)
    for i in range(5):
        await _order(platform, subject=f"路灯不亮 {i}")
    agent = await people("agent1")
    first = await agent.get("/console/orders")
    assert "超过 3 件" in first.text and 'rel="next"' in first.text
    last = await agent.get("/console/orders?page=3")
    assert len(_rows(last).split("路灯不亮")) - 1 == 1 and 'rel="next"' not in last.text
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
    assert f'name="into" value="{first}"' in page.text
    merged = await dispatcher.post(f"/console/orders/{second}/act/merge", {"into": first, "reason": "同一诉求"})
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
