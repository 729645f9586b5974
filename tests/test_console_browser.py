"""The staff console end to end in real headless Chromium, on a real uvicorn server: each role's
main path through its working day, and a phone intake taken with the keyboard alone. Screenshots of
every page at 1366×768 and 1920×1080 go to ``test-artifacts/screenshots/console/<backend>/``.

Uses the harness of ``test_browser.py`` (Debian ``chromium`` + ``chromium-driver``; skipped locally
without them, a failure in CI).
"""

from __future__ import annotations

import base64
from pathlib import Path

import msgspec
import pytest

from core import clock
from core.model import Actor
from core.intake import IntakeRequest
from tests.helpers import PASSWORD, intake_body
from tests.test_browser import _backend, _left, driver, screenshots, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

SCREENS = {"1366x768": (1366, 768), "1920x1080": (1920, 1080)}


class Desk:
    """A member of staff at a desktop browser: sign in, type, press, read, take pictures."""

    def __init__(self, driver, base: str, folder: Path):
        self.d = driver
        self.base = base
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.screen("1366x768")

    def screen(self, name: str) -> None:
        width, height = SCREENS[name]
        self.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def shoot(self, name: str) -> None:
        for screen, (width, _) in SCREENS.items():
            self.screen(screen)
            height = self.d.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]["height"]
            shot = self.d.execute_cdp_cmd("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": min(max(height, 768), 8000), "scale": 1}})
            (self.folder / f"{name}-{screen}.png").write_bytes(base64.b64decode(shot["data"]))
        self.screen("1366x768")

    def open(self, path: str) -> None:
        self.d.get(self.base + path)

    def find(self, css: str):
        from selenium.webdriver.common.by import By

        return self.d.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str):
        from selenium.webdriver.common.by import By

        return self.d.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        found = self.all(css)
        return found[0].text.strip() if found else ""

    def wait_for(self, condition, seconds: float = 15):
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.d, seconds).until(condition)

    def press(self, css: str) -> None:
        page = self.find("html")
        self.find(css).click()
        self.wait_for(_left(page))
        self.wait_for(lambda d: d.execute_script("return document.readyState") == "complete")

    def type(self, css: str, text: str) -> None:
        element = self.find(css)
        element.clear()
        element.send_keys(text)

    def choose(self, css: str, value: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self.find(css)).select_by_value(value)

    def sign_in(self, username: str) -> None:
        self.open("/console/login")
        self.type("#username", username)
        self.type("#password", PASSWORD)
        self.press(".login button[type=submit]")
        assert self.text("#whoami").startswith(username), self.text("main")

    def sign_out(self) -> None:
        self.press("header form button[type=submit]")
        assert "已退出登录" in self.text("main")

    def open_action(self, name: str) -> None:
        self.find(f"#action-{name} > summary").click()


async def _order(platform, **overrides) -> str:
    request = msgspec.convert(intake_body(**overrides), IntakeRequest)
    _, made = await platform.orders.intake("hotline", request, Actor(name="agent1", role="agent"))
    return made.number


async def test_a_working_day_through_the_console_for_every_role(driver, server, platform, screenshots):
    me = Desk(driver, server, screenshots / "console" / _backend(platform))
    for _ in range(2):  # the caller has called before
        await _order(platform, subject="楼道灯坏了", citizen={"name": "李女士", "phone": "13700001234"})
    other = await _order(platform, subject="小区垃圾清运不及时", content="垃圾清运不及时，气味很大")

    # the agent takes a call: the caller's history appears as the number is typed
    me.open("/console")
    assert "/console/login" in driver.current_url
    me.shoot("01-login")
    me.sign_in("agent1")
    me.shoot("02-agent-home")
    me.press('a[href="/console/intake"]')
    me.type('[name="citizen.phone"]', "13700001234")
    me.wait_for(lambda d: "近 90 天 2 件工单" in me.text("#history"))
    assert "楼道灯坏了" in me.text("#history")
    me.type('[name="citizen.name"]', "李女士")
    me.type('[name="subject"]', "工地夜间施工噪音扰民")
    me.type('[name="content"]', "小区旁工地每晚十一点后仍在施工，噪音很大，希望尽快处理。")
    me.type('[name="area"]', "梅溪湖街道")
    me.shoot("03-agent-intake-history")
    me.press("#intake-submit")
    assert "已完成：受理" in me.text("#done")
    number = me.text("#order-number")
    me.shoot("04-order-received")
    me.sign_out()

    # the dispatcher sees both new orders in the queue and bulk-dispatches them to housing
    me.sign_in("dispatcher1")
    me.shoot("05-dispatcher-home")
    me.press('a[href="/console/dispatch"]')
    assert number in me.text("#dispatch-list") and other in me.text("#dispatch-list")
    me.shoot("06-dispatch-queue")
    for picked in (number, other):
        me.find(f'input.pick[value="{picked}"]').click()
    assert me.text("#picked") == "2"
    me.choose("#bulk-department", "housing")
    me.press("#bulk-submit")
    assert "已派单 2 件" in me.text("#outcome")
    me.shoot("07-bulk-dispatched")
    me.sign_out()

    # the handler accepts both at once, then replies to one with a template
    me.sign_in("housing_handler")
    me.shoot("08-handler-home")
    me.press('header a[href="/console/accept"]')
    me.find("#pick-all").click()
    me.press("#bulk-submit")
    assert "已签收 2 件" in me.text("#outcome")
    me.open("/console/templates")  # the department keeps its own reply wording
    me.type("#add-template input[name=name]", "夜间施工")
    me.type("#add-template textarea[name=text]", "您反映的「{subject}」问题，我局已责令施工单位晚十点后停止作业。")
    me.press("#add-template button[type=submit]")
    assert "夜间施工" in me.text("main")
    me.shoot("08b-handler-reply-templates")
    me.open(f"/console/orders/{number}")
    me.open_action("reply")
    assert me.find("button.template").text == "夜间施工"  # the department's own come first
    me.find('button.template').click()
    reply = me.find("#reply-f-reply")
    assert "工地夜间施工噪音扰民" in reply.get_attribute("value") and "责令施工单位" in reply.get_attribute("value")
    reply.clear()
    reply.send_keys("经核查，工地已停止夜间施工，并承诺今后晚十点后不再作业。")
    me.shoot("09-handler-reply")
    me.press("#action-reply button[type=submit]")
    assert me.text("#order-status") == "待审核"
    me.sign_out()

    # the dispatcher approves the reply
    me.sign_in("dispatcher1")
    me.open(f"/console/orders/{number}")
    me.open_action("approve")
    me.press("#action-approve button[type=submit]")
    assert me.text("#order-status") == "待回访"
    me.sign_out()

    # the agent records the callback from the callback queue: unhappy, not solved. Clicks from the home
    # page: before, 8 (queue, order, 查看完整号码 + a typed reason + 显示号码, 回访, 满意度, 是否解决, 确认);
    # now 4: the queue, 回访 (number shown, form beside the reply), 未解决, 不满意
    me.sign_in("agent1")
    clicks = 0
    me.press('a[data-queue="callback"]'); clicks += 1
    assert "经核查，工地已停止夜间施工" in me.text("#callback-list")
    me.press(f"#call-{number}"); clicks += 1
    assert me.text("#callback-phone") == "13700001234"  # shown without a typed reason (recorded as 回访)
    assert "经核查，工地已停止夜间施工" in me.text("#callback-reply")
    me.find("#callback-resolved-no").click(); clicks += 1
    me.type("#callback-note", "市民表示施工仍在继续")
    me.shoot("10-agent-callback")
    me.press("#rate-unsatisfied"); clicks += 1
    assert clicks == 4 and "已完成：回访" in me.text("#done")  # back in the queue for the next call
    me.open(f"/console/orders/{number}")
    assert "不满意" in me.text("main") and me.text("#order-status") == "待申诉/重办"  # rated badly: the appeal or rework comes next
    me.sign_out()

    # the department appeals with evidence (through the console too)
    me.sign_in("housing_handler")
    me.open(f"/console/orders/{number}")
    me.open_action("appeal")
    me.type("#appeal-f-reason", "现场复查已停工，市民所说为另一工地")
    me.press("#action-appeal button[type=submit]")
    assert me.text("#order-status") == "申诉审核中"
    me.sign_out()

    # the supervisor sees the appeal in its queue and upholds it
    me.sign_in("supervisor1")
    me.shoot("11-supervisor-home")
    me.press('a[data-queue="appealing"]')
    assert number in me.text("#order-list")
    me.press(f'#order-list a[href="/console/orders/{number}"]')
    me.open_action("uphold_appeal")
    me.type("#uphold_appeal-f-reason", "复查属实")
    me.shoot("12-supervisor-appeal")
    me.press("#action-uphold_appeal button[type=submit]")
    assert me.text("#order-status") == "已归档"
    assert "申诉成立" in me.text("#timeline")
    me.shoot("13-archived-timeline")
    me.sign_out()

    # the admin adds a routing rule and sees it fire in the "try a text" box
    me.sign_in("admin1")
    me.press('a[href="/console/admin"]')
    me.press('a[href="/console/admin/rules"]')
    me.type("#r-keywords", "井盖")
    me.choose("#r-department", "urban_mgmt")
    me.type("#r-position", "1")
    me.type("#r-reason", "井盖问题交城管")
    me.press("#rule-add button[type=submit]")
    assert "已添加派单规则" in me.text("#done")
    me.type("#t-text", "路口井盖丢失，很危险")
    me.press("#try button[type=submit]")
    assert "城市管理和综合执法局" in me.text("#try-result") and "井盖" in me.text("#try-result")
    me.shoot("14-admin-rule-fires")
    for page in ("users", "departments", "calendar", "keys", "outbox"):
        me.open(f"/console/admin/{page}")
        me.shoot(f"15-admin-{page}")
    me.open("/console/orders")
    me.shoot("16-order-list")
    me.sign_out()
    rows = await platform.orders.get(number, Actor(name="s", role="supervisor"))
    assert rows.status == "archived" and rows.rating["valid"] is False


async def test_a_call_is_taken_with_the_keyboard_alone(driver, server, platform, screenshots):
    from selenium.webdriver.common.keys import Keys

    me = Desk(driver, server, screenshots / "console" / _backend(platform))
    me.sign_in("agent1")
    me.open("/console/intake")
    active = lambda: driver.switch_to.active_element  # noqa: E731
    assert active().get_attribute("name") == "citizen.phone"  # the cursor waits in the phone box
    active().send_keys("13912345678", Keys.TAB)
    active().send_keys("王先生", Keys.TAB)
    assert active().get_attribute("name") == "anonymous"
    active().send_keys(Keys.TAB)
    assert active().get_attribute("name") == "channel"
    active().send_keys(Keys.TAB)
    assert active().get_attribute("name") == "kind"
    active().send_keys("1")  # typing the option's number picks 1 咨询
    active().send_keys(Keys.TAB, Keys.TAB)
    assert active().get_attribute("name") == "category"
    active().send_keys("噪音", Keys.TAB)
    active().send_keys("请问夜间施工许可如何查询", Keys.TAB)
    active().send_keys("想知道附近工地是否办理了夜间施工许可。")
    me.shoot("20-keyboard-intake")
    page = me.find("html")
    active().send_keys(Keys.CONTROL, Keys.ENTER)
    me.wait_for(_left(page))
    assert "已完成：受理" in me.text("#done"), me.text("main")
    number = me.text("#order-number")
    order = await platform.orders.get(number, Actor(name="a", role="agent"))
    assert order.kind == "consult" and order.source == "phone"
    assert order.category == "环境保护/环境污染/噪音污染"  # the one branch of the tree its words name
    assert order.subject == "请问夜间施工许可如何查询"


@pytest.mark.clock("2026-12-07T15:00:00+08:00")  # the five calls "within the hour" fall on the board's today
async def test_the_supervisor_reads_the_kpis_and_the_admin_abandons_a_stuck_message(driver, server, platform,
                                                                                   screenshots):
    """The supervisor opens the KPIs from the home page, clicks a department's intake and sees exactly
    those orders; looks at the warnings, the board and the knowledge base; the admin abandons a
    message the city platform keeps refusing, first forgetting the reason."""
    import datetime as dt

    from core.knowledge import ArticleIn, Review
    from core.tables import CityDiscrepancy, OutboxEvent, OutboxMessage

    me = Desk(driver, server, screenshots / "console" / _backend(platform))
    dispatcher = Actor(name="dispatcher1", role="dispatcher")
    housing = []
    for i, subject in enumerate(("楼道灯坏了", "小区垃圾清运不及时", "电梯经常故障")):
        housing.append(await _order(platform, subject=subject, area="梅溪湖街道"))
        await platform.orders.act(housing[-1], "dispatch", {"department": "housing"}, dispatcher)
    eco = await _order(platform, subject="夜间施工噪音", area="麓谷街道", category="环境保护/环境污染/噪音污染")
    await platform.orders.act(eco, "dispatch", {"department": "eco_env"}, dispatcher)
    now = clock.now()
    for i in range(5):  # five calls about one place within the hour: a mass-incident warning
        await _order(platform, subject="滨江路积水", address="观沙岭街道滨江路1号",
                     received_at=(now - dt.timedelta(minutes=40 - i)).isoformat())
    article = await platform.knowledge.submit(msgspec.convert({
        "question": "夜间施工噪音扰民怎么处理？", "answer": "夜间施工须取得许可；未取得许可的，由生态环境分局查处。",
        "category": "环境保护/环境污染/噪音污染", "tags": ["噪音", "夜间施工"]}, ArticleIn),
        Actor(name="eco_handler", role="handler", department="eco_env"))
    await platform.knowledge.review(article["id"], Review(decision="approve"), Actor(name="s", role="supervisor"))
    await CityDiscrepancy.insert(CityDiscrepancy(order_number=housing[0], external_id="SZ-20261129-0001",
                                                 ours="dispatched", theirs="received", pending_messages=1))
    stuck = (await OutboxMessage.insert(OutboxMessage(
        topic="city_platform.status", order_number=housing[0], payload={"external_id": "SZ-20261129-0001",
                                                                        "status": "dispatched"},
        attempts=6, last_error="HTTP 502: 市级平台网关错误")))[0]["id"]

    # the supervisor: KPIs from the home page, a number clicked, the list of exactly those orders
    me.sign_in("supervisor1")
    me.press('#overview-links a[href="/console/kpis"]')
    me.shoot("30-supervisor-kpis")
    link = me.find('#kpi-department tr[data-value="housing"] a[data-count="intake"]')
    shown = link.text
    assert shown == "3"
    me.press('#kpi-department tr[data-value="housing"] a[data-count="intake"]')
    assert me.text("#total") == f"共 {shown} 件"
    assert all(n in me.text("#order-list") for n in housing) and eco not in me.text("#order-list")
    me.shoot("31-kpi-number-clicked")
    driver.back()  # a count by another moment: the list names what it counts
    me.press('#kpi-department tr[data-value="housing"] a[data-count="dispatched"]')
    assert me.text("#total") == "共 3 件" and "派单" in me.text("#kpi-filter")
    assert all(n in me.text("#order-list") for n in housing)
    me.shoot("31b-kpi-dispatched-clicked")
    me.press('header a[href="/console/warnings"]')
    assert "群体性事件" in me.text("#warnings") and "观沙岭街道滨江路1号" in me.text("#warnings")
    me.shoot("32-supervisor-warnings")
    me.type("#warnings li.warning input[name=note]", "已通知街道到现场")
    me.press("#warnings li.warning button[type=submit]")
    assert me.text("#done") == "已确认预警"
    me.press('header a[href="/console/board"]')
    assert me.text("#intake-today") == "9"
    me.shoot("33-supervisor-board")
    me.open(f"/console/orders/{eco}")
    assert "夜间施工噪音扰民怎么处理？" in me.text("#knowledge-panel")
    me.find("#knowledge-panel details summary").click()
    assert "生态环境分局查处" in me.text("#knowledge-panel")
    me.shoot("34-order-knowledge-panel")
    me.press('header a[href="/console/knowledge"]')
    me.shoot("35-knowledge")
    me.press('header a[href="/console/admin/reconciliation"]')
    assert housing[0] in me.text("#discrepancies")
    me.shoot("36-reconciliation")
    me.sign_out()

    # the admin: the outbox, a reason forgotten, then the message abandoned with its reason
    me.sign_in("admin1")
    me.press('a[href="/console/admin"]')
    me.press('main a[href="/console/admin/outbox"]')
    assert "HTTP 502" in me.text(f"#message-{stuck}")
    me.find(f"#message-{stuck} details.op > summary").click()
    me.shoot("37-admin-outbox")
    me.press(f"#outbox-op-{stuck} button[value=abandon]")
    assert "请写明原因" in me.text(f"#message-{stuck}")
    me.shoot("38-admin-outbox-reason-missing")
    me.type(f"#reason-{stuck}", "该工单已由市级平台撤销，无需再推送")
    me.press(f"#outbox-op-{stuck} button[value=abandon]")
    assert me.text("#done") == "已放弃发送"
    me.choose("#state", "abandoned")
    me.press("#outbox-filter button[type=submit]")
    assert "已放弃" in me.text(f"#message-{stuck}")
    me.press(f'#message-{stuck} a[href="/console/admin/outbox/{stuck}"]')
    assert "该工单已由市级平台撤销" in me.text("#outbox-history") and "admin1" in me.text("#outbox-history")
    me.shoot("39-admin-outbox-message")
    me.sign_out()
    events = await OutboxEvent.select().where(OutboxEvent.message_id == stuck)
    assert [(e["action"], e["actor"]) for e in events] == [("abandon", "admin1")]
