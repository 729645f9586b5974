"""退单 done right: the returning department says why (a reason type) and who should handle it
instead; the dispatcher reads that at the top of the order and rules in one step (同意退单并改派),
and the department that returned the order is never pre-selected again."""

from __future__ import annotations

import pytest

from core.model import Actor
from tests.test_console import _order, people  # noqa: F401  (fixture)

DISPATCHER = Actor(name="dispatcher1", role="dispatcher")
HOUSING = Actor(name="housing_handler", role="handler", department="housing")


async def _returned(platform, **payload) -> str:
    number = await _order(platform, subject="小区路灯不亮")
    await platform.orders.act(number, "dispatch", {"department": "housing"}, DISPATCHER)
    await platform.orders.act(number, "return", {"reason": "路灯归城管局管理", **payload}, HOUSING)
    return number


async def test_the_dispatcher_reads_the_return_at_the_top_and_redispatches_in_one_step(client, people, platform):
    number = await _returned(platform, reason_type="not_ours", suggested_department="urban_mgmt")
    dispatcher = await people("dispatcher1")
    page = await dispatcher.get(f"/console/orders/{number}")
    ruling = page.text[page.text.index('id="pending-return"'):page.text.index("</section>", page.text.index('id="pending-return"'))]
    assert "住房和城乡建设局申请退单" in ruling and "不属于本单位职责" in ruling and "路灯归城管局管理" in ruling
    assert "not_ours" not in ruling  # the reason type by its label, never its code
    assert '<option value="urban_mgmt" selected>' in ruling  # the department it suggested
    assert 'value="housing"' not in ruling  # the returning department is not offered back
    assert page.text.index('id="pending-return"') < page.text.index('id="order-status"')  # above the facts
    timeline = page.text[page.text.index("办理记录"):]
    assert "建议承办单位" in timeline and "城市管理" in timeline and "urban_mgmt" not in timeline
    done = await dispatcher.post(f"/console/orders/{number}/uphold-and-dispatch",
                                 {"department": "urban_mgmt", "note": "请城管局办理"})
    assert done.status_code == 200 and "已完成：同意退单并改派" in done.text
    order, events = await platform.orders.detail(number, DISPATCHER)
    assert order.status == "dispatched" and order.department == "urban_mgmt"
    assert [e.action for e in events][-2:] == ["uphold_return", "dispatch"]  # each step audited


async def test_redispatching_to_the_department_that_returned_it_is_refused(client, people, platform):
    number = await _returned(platform)
    dispatcher = await people("dispatcher1")
    await dispatcher.get(f"/console/orders/{number}")
    refused = await dispatcher.post(f"/console/orders/{number}/uphold-and-dispatch", {"department": "housing"})
    assert refused.status_code == 400 and "不能改派给退单的单位" in refused.text
    missing = await dispatcher.post(f"/console/orders/{number}/uphold-and-dispatch", {"department": ""})
    assert missing.status_code == 400 and "请选择改派的承办单位" in missing.text
    assert (await platform.orders.get(number, DISPATCHER)).status == "returned"  # nothing half-done


async def test_after_a_plain_uphold_the_dispatch_form_does_not_preselect_the_returning_department(client, people, platform):
    number = await _returned(platform)
    await platform.orders.act(number, "uphold_return", {"note": ""}, DISPATCHER)
    dispatcher = await people("dispatcher1")
    page = await dispatcher.get(f"/console/orders/{number}")
    form = page.text[page.text.index('id="action-dispatch"'):]
    form = form[:form.index("</details>")]
    assert 'value="housing" selected' not in form and "住房和城乡建设局" not in form.split("selected")[0][-200:]


async def test_a_suggestion_naming_an_unknown_or_the_own_department_is_refused_by_field(client, tokens, platform):
    number = await _order(platform)
    await platform.orders.act(number, "dispatch", {"department": "housing"}, DISPATCHER)
    for suggested, why in (("no_such", "不存在"), ("housing", "不能是退单的本单位")):
        refused = await client.post(f"/api/orders/{number}/actions/return",
                                    json={"reason": "不归我们管", "suggested_department": suggested},
                                    headers=tokens["housing_handler"])
        assert refused.status_code == 400, refused.text
        [error] = refused.json()["extra"]
        assert error["key"].endswith("suggested_department") and why in error["message"]
    bad_type = await client.post(f"/api/orders/{number}/actions/return",
                                 json={"reason": "不归我们管", "reason_type": "lazy"}, headers=tokens["housing_handler"])
    assert bad_type.status_code == 400 and "reason_type" in bad_type.text
    assert (await platform.orders.get(number, DISPATCHER)).status == "dispatched"


@pytest.mark.clock("2026-12-07T10:00:00+08:00")
async def test_a_rework_tells_the_department_at_once_why_and_by_when(client, platform):
    from core.notices import STAFF_TOPIC, text_of
    from core.tables import OutboxMessage

    number = await _order(platform, subject="夜间施工噪音")
    await platform.orders.act(number, "dispatch", {"department": "housing"}, DISPATCHER)
    await platform.orders.act(number, "accept", {}, HOUSING)
    await platform.orders.act(number, "reply", {"reply": "已处理"}, HOUSING)
    await platform.orders.act(number, "approve", {}, DISPATCHER)
    await platform.orders.act(number, "callback", {"satisfaction": "unsatisfied", "resolved": False},
                              Actor(name="agent1", role="agent"))
    await platform.orders.act(number, "rework", {"reason": "市民反映夜里仍在施工"}, DISPATCHER)
    [notice] = [text_of(m["payload"]) for m in await OutboxMessage.select(OutboxMessage.payload).where(
        OutboxMessage.topic == STAFF_TOPIC).output(load_json=True)
        if m["payload"].get("template") == "rework" and m["payload"]["to"] == "department:housing"]
    assert number in notice and "第 1 次重办" in notice and "市民反映夜里仍在施工" in notice and "12月" in notice


async def test_the_signing_clock_stops_at_a_return_and_starts_afresh_when_the_return_is_rejected(client, platform,
                                                                                                 frozen_clock):
    frozen_clock.freeze("2026-11-16T09:00:00+08:00")
    number = await _order(platform, subject="小区路灯不亮")
    await platform.orders.act(number, "dispatch", {"department": "housing"}, DISPATCHER)
    frozen_clock.freeze("2026-11-16T10:00:00+08:00")
    await platform.orders.act(number, "return", {"reason": "路灯归城管局管理"}, HOUSING)
    returned = await platform.orders.get(number, DISPATCHER)
    assert returned.deadlines["accept"]["done"]  # answered by the return: no 签收 overdue while the centre rules
    frozen_clock.freeze("2026-11-18T10:00:00+08:00")
    await platform.orders.act(number, "reject_return", {"reason": "小区内路灯由物业和住建管理"}, DISPATCHER)
    again = await platform.orders.get(number, DISPATCHER)
    assert not again.deadlines["accept"].get("done")
    assert again.deadlines["accept"]["due"] > "2026-11-18T02:00:00+00:00"  # counted from the ruling


async def test_merging_into_an_order_already_merged_is_refused_in_plain_words(client, platform):
    first, second, third = [await _order(platform, subject="小区路灯不亮") for _ in range(3)]
    await platform.orders.act(second, "merge", {"into": first, "reason": "同一诉求"}, DISPATCHER)
    with pytest.raises(Exception) as refused:
        await platform.orders.act(third, "merge", {"into": second, "reason": "同一诉求"}, DISPATCHER)
    assert f"工单 {second} 已合并，不能并入" in str(refused.value) and "已已" not in str(refused.value)
