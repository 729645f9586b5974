"""A whole shift in the console, walked in real headless Chromium the way each role works: the agent
(a phone intake, a second call added to the caller's open order, a call answered on the spot, the
callbacks), the dispatcher (the 待派单 queue one row at a time, in bulk, and a 退单 ruled with its
改派), two handlers (签收, 退单 with its reason type and suggested department, reply, 延期), the
supervisor (the 超期 list 督办ed in bulk, a warning acknowledged with a note) and the admin (a routing
rule, a time limit, a colleague's display name).

Every click, box ticked, field clicked into, list opened or Enter pressed is counted (``Shift``), and
the steps per order for dispatch and for callback are asserted, so a change that adds a step fails.
The counts are printed and written to ``test-artifacts/screenshots/console/<backend>/shift-counts-*.txt``.

Before the console was reworked for queue speed (the console as of commit ``2589551~1``, read from its
templates and routes: ``git show 2589551~1:api/console/templates/dispatch.html`` and ``order.html``):

- dispatch to the suggested department from the queue: 2 per order (派往建议单位 left the queue for the
  order page, then back to 待派单); now 1, the next order right there.
- dispatch to a department typed in the row: 6 (the field, Enter: 城管 refused as 承办单位不存在 on the
  order page, the department list opened and picked, 确认派单, back to the queue); now 2 (the field, Enter).
- 同意退单并改派: 7 (open the order, 同意退单, 确认, 派单, the list opened and picked away from the
  pre-selected returning department, 确认派单); now 2 (open the order, 同意退单并改派 with the suggested
  department already chosen).
- callback with a rating: 8 (the queue, the order, 查看完整号码, the reason field, 显示号码, 回访, 满意度,
  是否解决, 确认; the issue's "about 8"); now 4 for the first of the queue and 3 for each next one (回访,
  已解决/未解决, the rating button, back in the queue by itself).
- a question answered on the call: 9 (the intake's fields, 受理, then on the order page 即时办结 and
  确认即时办结); now 8 (the same fields and the answer on the intake form, one press of 受理并即时办结).

Uses the harness of ``test_browser.py`` (skipped locally without Chromium, a failure in CI).
"""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest

from core import clock
from core.model import Actor
from tests.test_browser import _backend, _left, driver, screenshots, server  # noqa: F401  (fixtures)
from tests.test_console_browser import Desk, _order

pytestmark = pytest.mark.browser

DISPATCHER = Actor(name="dispatcher1", role="dispatcher")
AGENT = Actor(name="agent1", role="agent")
HOUSING = Actor(name="housing_handler", role="handler", department="housing")
SUPERVISOR = Actor(name="supervisor1", role="supervisor")


class Shift(Desk):
    """A member of staff whose every step is counted: a click (a button, a link, a box ticked, a field
    clicked into before typing), a list opened and an option picked (two), an Enter pressed. Typing
    the words themselves is not a step. ``steps("name")`` measures a stretch of work."""

    def __init__(self, driver, base, folder, platform, request):
        super().__init__(driver, base, folder)
        self.n = 0
        self.counts: dict[str, tuple[int, int | None]] = {}
        self.backend = _backend(platform)
        self.request = request

    def click(self, css: str) -> None:
        self.find(css).click()
        self.n += 1

    def press(self, css: str) -> None:  # a button or link that loads the next page
        super().press(css)
        self.n += 1

    def type(self, css: str, text: str, *, focused: bool = False) -> None:
        super().type(css, text)
        self.n += 0 if focused else 1  # clicking into the field, unless the cursor already waits there

    def choose(self, css: str, value: str) -> None:
        super().choose(css, value)
        self.n += 2  # open the list, pick the option

    def enter(self, css: str) -> None:
        """Enter in a field of a form: the form is sent, the next page loads."""
        from selenium.webdriver.common.keys import Keys

        page = self.find("html")
        self.find(css).send_keys(Keys.ENTER)
        self.wait_for(_left(page))
        self.wait_for(lambda d: d.execute_script("return document.readyState") == "complete")
        self.n += 1

    def open_action(self, name: str) -> None:
        super().open_action(name)
        self.n += 1

    def sign_in(self, username: str) -> None:  # the start of a shift, not a step of any order
        before = self.n
        super().sign_in(username)
        self.n = before

    @contextlib.contextmanager
    def steps(self, name: str, *, before: int | None = None):
        """Count the steps of one stretch of work; ``before`` is what it took before the rework (module docstring)."""
        start = self.n
        yield
        self.counts[name] = (self.n - start, before)

    def report(self, slug: str, journey: str) -> None:
        lines = [f"{journey}（{self.backend}）：步数（点击、勾选、点入输入框、下拉选择算两步、回车）"] + [
            f"  {name}：{n}" + (f"（改进前 {before}）" if before is not None else "")
            for name, (n, before) in self.counts.items()]
        (self.folder / f"shift-counts-{slug}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        capture = self.request.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print("\n" + "\n".join(lines), flush=True)

    def took(self, name: str) -> int:
        return self.counts[name][0]


@pytest.fixture
def shift(driver, server, platform, screenshots, request):  # noqa: F811
    def start() -> Shift:
        return Shift(driver, server, screenshots / "console" / _backend(platform), platform, request)

    return start


async def _dispatched(platform, department: str, **overrides) -> str:
    number = await _order(platform, **overrides)
    await platform.orders.act(number, "dispatch", {"department": department}, DISPATCHER)
    return number


async def _completed(platform, reply: str, **overrides) -> str:
    number = await _dispatched(platform, "housing", **overrides)
    await platform.orders.act(number, "accept", {}, HOUSING)
    await platform.orders.act(number, "reply", {"reply": reply}, HOUSING)
    await platform.orders.act(number, "approve", {}, DISPATCHER)
    return number


# -- the dispatcher ---------------------------------------------------------------------------------

async def test_the_dispatcher_works_the_queue_without_leaving_it(shift, platform):
    suggested = [await _order(platform, subject=subject, content=content, citizen={"name": "王先生", "phone": phone})
                 for subject, content, phone in (
                     ("小区门口路灯不亮", "小区门口两盏路灯连续三晚不亮。", "13700000011"),
                     ("夜间施工噪音扰民", "工地每晚十一点后仍在施工，噪音很大。", "13700000012"),
                     ("人行道有人占道经营", "学校门口人行道被摊贩占道经营。", "13700000013"))]
    unsuggested = await _order(platform, subject="门面招牌松动", content="临街门面的招牌被风吹得松动，怕掉下来。",
                               citizen={"name": "赵先生", "phone": "13700000014"})
    bulk = [await _order(platform, subject=f"垃圾桶满溢 {i}", content="小区外垃圾桶满溢无人清运。",
                         citizen={"name": "钱女士", "phone": f"1370000002{i}"}) for i in range(2)]
    returned = await _dispatched(platform, "housing", subject="楼下井盖松动", content="楼下人行道井盖松动，踩上去会翻。",
                                 citizen={"name": "孙女士", "phone": "13700000031"})
    await platform.orders.act(returned, "return", {"reason": "井盖归城管局管理", "reason_type": "not_ours",
                                                   "suggested_department": "urban_mgmt"}, HOUSING)
    me = shift()
    me.sign_in("dispatcher1")

    with me.steps("打开派单队列"):
        me.press('a[href="/console/dispatch"]')
    assert all(n in me.text("#dispatch-list") for n in suggested + [unsuggested])
    assert "无建议" in me.text(f'tr[data-number="{unsuggested}"]')  # no rule names its department
    me.shoot("shift-20-dispatch-queue")
    for number in suggested:  # one click each: the suggestion sent, the queue shown again with the next order
        with me.steps(f"派往建议单位 {number}", before=2):
            me.press(f'tr[data-number="{number}"] button.one-click')
        assert f"已派单 1 件：{number} →" in me.text("#outcome") and "/console/dispatch" in me.d.current_url
        assert not me.all(f'tr[data-number="{number}"]')
    assert all(me.took(f"派往建议单位 {n}") == 1 for n in suggested)
    me.shoot("shift-21-dispatched-in-the-queue")

    with me.steps("无建议：输入单位名称 + Enter", before=6):  # 城管 is the department's alias: found, not refused
        me.type(f'tr[data-number="{unsuggested}"] form.picker input[name=department]', "城管")
        me.enter(f'tr[data-number="{unsuggested}"] form.picker input[name=department]')
    assert f"{unsuggested} → 城市管理和综合执法局" in me.text("#outcome")
    assert me.took("无建议：输入单位名称 + Enter") == 2

    with me.steps("批量派单 2 件（各自的建议单位）", before=3):  # unchanged: bulk dispatch was already this short
        for number in bulk:
            me.click(f'input.pick[value="{number}"]')
        assert me.text("#picked") == "2"
        me.press("#bulk-submit")
    assert "已派单 2 件" in me.text("#outcome")
    assert me.took("批量派单 2 件（各自的建议单位）") == 3

    me.open("/console")
    me.press('a[data-queue="returned"]')  # the 退单待审 queue, opened once for its whole run
    with me.steps("同意退单并改派", before=7):
        me.press(f'#order-list a[href="/console/orders/{returned}"]')
        assert "住房和城乡建设局申请退单" in me.text("#pending-return") and "不属于本单位职责" in me.text("#pending-return")
        assert me.find("#ruling-department option:checked").text == "城市管理和综合执法局"  # its suggestion, chosen
        me.shoot("shift-22-return-ruling")
        me.press("#uphold-and-dispatch button[type=submit]")
    assert "已完成：同意退单并改派" in me.text("#done") and me.text("#order-status") == "待签收"
    assert me.text("#order-department") == "城市管理和综合执法局"
    assert me.took("同意退单并改派") == 2
    me.shoot("shift-23-redispatched")
    for number in suggested + bulk + [unsuggested]:
        assert (await platform.orders.get(number, DISPATCHER)).status == "dispatched"
    me.report("dispatcher", "派单员")


# -- the agent --------------------------------------------------------------------------------------

async def test_the_agent_takes_calls_and_calls_back(shift, platform):
    caller = "13755550101"
    open_one = await _dispatched(platform, "urban_mgmt", subject="楼道灯坏了", content="三单元楼道灯坏了一周。",
                                 citizen={"name": "李女士", "phone": caller})
    phones = ("13755550102", "13755550103")
    waiting = [await _completed(platform, reply, subject=subject, citizen={"name": name, "phone": phone})
               for (subject, reply, name), phone in zip((
                   ("小区物业不清理楼道杂物", "经核查，物业已于当日清理楼道杂物。", "周先生"),
                   ("小区电梯经常停运", "经核查，电梯已由维保单位更换主板，恢复运行。", "吴女士")), phones)]
    me = shift()
    me.sign_in("agent1")

    # 追加来电: the caller rings again about the open order; the words go onto it, no second order
    with me.steps("追加来电"):
        me.press('a[href="/console/intake"]')
        me.type('[name="citizen.phone"]', caller, focused=True)  # the cursor waits in the phone box
        me.wait_for(lambda d: me.all("button.follow-up"))
        me.type('[name="content"]', "李女士再次来电：楼道灯还是不亮，晚上老人上下楼摔了一跤。")
        me.shoot("shift-10-follow-up-offered")
        me.press("button.follow-up")
    assert "已完成：追加来电" in me.text("#done") and me.text("#order-number") == open_one
    assert "来电人追加催办" in me.text("#supervisions")

    # a question answered on the call: recorded and resolved with one press of 受理并即时办结
    with me.steps("受理并即时办结", before=9):
        me.press('header a[href="/console/intake"]')
        me.type('[name="citizen.phone"]', "13755550104", focused=True)
        me.type('[name="citizen.name"]', "郑先生")
        me.choose("#in-kind", "consult")
        me.type('[name="subject"]', "居住证办理需要哪些材料")
        me.type('[name="content"]', "郑先生咨询新区居住证办理需要准备哪些材料、到哪里办理。")
        me.type("#in-resolve-reply", "已告知：携带身份证、租房合同到所在街道政务服务中心办理，当场受理。")
        me.shoot("shift-11-resolve-at-intake")
        me.press("#intake-resolve")
    assert "已完成：受理并即时办结" in me.text("#done")
    assert me.text("#order-status") == "待回访"  # every on-the-spot answer waits for its callback here
    assert "携带身份证、租房合同" in me.text("#timeline")
    resolved = me.text("#order-number")

    # callbacks: the first from the home page, the next straight from the queue it comes back to
    me.open("/console")
    for i, number in enumerate(waiting):
        with me.steps(f"回访 {number}", before=8):
            if i == 0:
                me.press('a[data-queue="callback"]')
            me.press(f"#call-{number}")
            assert me.text("#callback-phone") == phones[i]  # shown without a typed reason
            assert not me.all("details.reveal")  # and not offered for revealing again
            me.click("#callback-resolved-yes")
            if i == 0:
                me.shoot("shift-12-callback")
            me.press("#rate-satisfied")
        assert "已完成：回访" in me.text("#done") and "/console/callbacks" in me.d.current_url
    assert me.took(f"回访 {waiting[0]}") == 4 and me.took(f"回访 {waiting[1]}") == 3
    assert resolved in me.text("#callback-list")  # the on-the-spot answer is next in the queue
    me.shoot("shift-13-callback-queue")
    for number in waiting:
        order = await platform.orders.get(number, AGENT)
        assert order.status == "archived" and order.rating["satisfaction"] == "satisfied"
    me.report("agent", "话务员")



# -- two handlers -----------------------------------------------------------------------------------

async def test_two_handlers_accept_return_reply_and_ask_for_more_time(shift, platform):
    lift = await _dispatched(platform, "housing", subject="小区电梯经常停运", content="小区 3 栋电梯一周停运三次。",
                             citizen={"name": "吴女士", "phone": "13755550201"})
    lamp = await _dispatched(platform, "housing", subject="小区外路灯不亮", content="小区外市政道路两盏路灯不亮。",
                             citizen={"name": "王先生", "phone": "13755550202"})
    stall = await _dispatched(platform, "urban_mgmt", subject="人行道占道经营", content="学校门口人行道被摊贩占道经营。",
                              citizen={"name": "郑女士", "phone": "13755550203"})
    me = shift()

    # housing: the lamp is not its own, so it goes back before anything else; the rest accepted at once
    me.sign_in("housing_handler")
    with me.steps("退单（类型、理由、建议单位）"):
        me.press('header a[href="/console/accept"]')
        me.press(f'#accept-list a[href="/console/orders/{lamp}"]')
        me.open_action("return")
        # the usual reason type (不属于本单位职责) is chosen already, as the return records when none is picked
        assert me.find("#return-f-reason-type option:checked").text == "不属于本单位职责"
        me.type("#return-f-reason", "市政道路路灯归城管局管理，非本局职责。")
        assert not me.all('#return-f-suggested-department option[value="housing"]')  # never itself
        me.choose("#return-f-suggested-department", "urban_mgmt")
        me.shoot("shift-30-handler-return")
        me.press("#action-return button[type=submit]")
    assert me.text("#order-status") == "退单待审"
    timeline = me.text("#timeline")
    assert "不属于本单位职责" in timeline and "城市管理和综合执法局" in timeline and "urban_mgmt" not in timeline
    with me.steps("批量签收"):
        me.press('header a[href="/console/accept"]')
        me.click("#pick-all")
        me.press("#bulk-submit")
    assert f"已签收 1 件：{lift}" in me.text("#outcome")

    # the lift: replied with the department's words
    me.open(f"/console/orders/{lift}")
    with me.steps("答复"):
        me.open_action("reply")
        me.type("#reply-f-reply", "经核查，电梯主板老化，已由维保单位更换，近三日运行正常。", focused=True)
        me.press("#action-reply button[type=submit]")
    assert me.text("#order-status") == "待审核" and "已完成：答复" in me.text("#done")
    me.shoot("shift-31-handler-replied")
    me.sign_out()

    # urban management: accepts the stall from its queue and asks for three more working days
    me.sign_in("urban_handler")
    with me.steps("签收"):
        me.press('a[data-queue="accept"]')
        me.press(f'#order-list a[href="/console/orders/{stall}"]')
        me.open_action("accept")
        me.press("#action-accept button[type=submit]")
    assert me.text("#order-status") == "办理中"
    with me.steps("申请延期"):
        me.open_action("request_extension")
        me.type("#request_extension-f-days", "3", focused=True)
        me.type("#request_extension-f-reason", "需联合街道、市场监管所开展集中整治，时间需顺延。")
        me.press("#action-request_extension button[type=submit]")
    assert "申请延期 3 个工作日" in me.text("#extensions") and "待审批" in me.text("#extensions")
    me.shoot("shift-32-handler-extension")
    order = await platform.orders.get(lamp, DISPATCHER)
    assert order.status == "returned"
    assert (await platform.orders.get(lift, DISPATCHER)).status == "replied"
    me.report("handlers", "承办人")


# -- the supervisor ---------------------------------------------------------------------------------

@pytest.mark.clock("2026-12-07T15:00:00+08:00")  # a Monday: orders of last Tuesday are long past their limits
async def test_the_supervisor_presses_the_overdue_and_acknowledges_a_warning(shift, platform):
    received = dt.datetime(2026, 12, 1, 9, 30, tzinfo=clock.SHANGHAI)
    overdue = [await _order(platform, subject=subject, content=subject + "，已经一周了。", received_at=received.isoformat(),
                            citizen={"name": "市民", "phone": f"1375555030{i}"})
               for i, subject in enumerate(("小区门口下水道堵塞", "公园健身器材损坏", "公交站台顶棚破损"))]
    now = clock.now()
    for i in range(5):  # five calls about one place within the hour: a 群体性事件 warning
        await _order(platform, subject="滨江路积水", content="滨江路积水严重，车辆无法通行。", address="观沙岭街道滨江路1号",
                     received_at=(now - dt.timedelta(minutes=40 - i)).isoformat(),
                     citizen={"name": "市民", "phone": f"1375555031{i}"})
    me = shift()
    me.sign_in("supervisor1")

    with me.steps("超期批量督办"):
        me.press('a[data-queue="overdue"]')
        assert all(n in me.text("#order-list") for n in overdue)
        me.click("#pick-all")
        me.type("#bulk-note", "请今天下班前派出并说明超期原因")
        me.press("#bulk-submit")
    assert "已完成：督办 3 件" in me.text("main")
    me.shoot("shift-40-overdue-supervised")
    for number in overdue:
        [pressed] = (await platform.orders.get(number, SUPERVISOR)).supervisions
        assert pressed["kind"] == "supervise" and pressed["issued_by"] == "supervisor1"

    with me.steps("确认预警（写明处置意见）"):
        me.press('header a[href="/console/warnings"]')
        assert "群体性事件" in me.text("#warnings") and "观沙岭街道滨江路1号" in me.text("#warnings")
        warning = me.find("#warnings li.warning").get_attribute("id")
        me.type(f"#{warning} input[name=note]", "已通知街道和城管到现场排水")
        me.press(f"#{warning} button[type=submit]")
    assert me.text("#done") == "已确认预警"
    me.choose("#state", "acknowledged")
    me.press("#warning-filter button[type=submit]")
    assert "已通知街道和城管到现场排水" in me.text(f"#{warning}")
    me.shoot("shift-41-warning-acknowledged")
    me.report("supervisor", "督办员")


# -- the admin --------------------------------------------------------------------------------------

async def test_the_admin_adds_a_rule_changes_a_limit_and_names_a_colleague(shift, platform):
    me = shift()
    me.sign_in("admin1")
    with me.steps("添加派单规则"):
        me.press('header a[href="/console/admin"]')
        me.press('main a[href="/console/admin/rules"]')
        me.type("#r-keywords", "共享单车")
        me.choose("#r-department", "transport")
        me.type("#r-reason", "共享单车乱停放交交通运输局")
        me.press("#rule-add button[type=submit]")
    assert "已添加派单规则" in me.text("#done")
    me.type("#t-text", "地铁口共享单车乱停放，堵住了出口")
    me.press("#try button[type=submit]")
    assert "交通运输局" in me.text("#try-result") and "共享单车" in me.text("#try-result")
    me.shoot("shift-50-admin-rule")

    with me.steps("修改时限"):
        me.open("/console/admin/sla-rules?channel=hotline")
        me.type('#sla-rules input[aria-label="办理时限（咨询）（工作日）"]', "5")
        me.type("#sla-reason", "依据市政务服务中心通知，咨询类答复时限放宽")
        me.press("#sla-form button[type=submit]")
    assert "办理时限（咨询） 3 → 5 工作日" in me.text("main")
    me.shoot("shift-51-admin-limit")

    with me.steps("修改姓名"):
        me.open("/console/admin/users?q=agent1")
        me.press('#users tr[data-user="agent1"] a')
        me.type("#u-display-name", "周晓梅")
        me.press("#user-rename button[type=submit]")
    assert "周晓梅" in me.text("h1")
    number = await _order(platform, subject="共享单车乱停放", content="地铁口共享单车乱停放。")
    me.open(f"/console/orders/{number}")
    assert "周晓梅" in me.text("#timeline") and "agent1" not in me.text("#timeline")  # the name, not the username
    assert "交通运输局" in me.text("main")  # the new rule suggests at once
    me.shoot("shift-52-admin-display-name")
    me.report("admin", "管理员")
