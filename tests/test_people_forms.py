"""班组与质检 forms on the console: leave recorded, listed and cancelled; swaps listed and undone;
shift patterns added, edited, stopped and restarted; training sessions with attendance and passes
(an induction pass makes the agent 已培训上岗); the 质检 checklist and sampling rule. A refusal comes
back beside its field with what was typed; every change is audited; only the right roles may."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from core.people import audit, solver
from core.tables import Rota, RotaShift, User
from tests.helpers import PASSWORD
from tests.test_console import Staff

pytestmark = pytest.mark.clock("2026-12-07T10:00:00+08:00")


async def _signed_in(client, username: str) -> Staff:
    staff = Staff(client)
    assert (await staff.login(username)).status_code == 200
    return staff


async def _events(subject: str) -> list[str]:
    return [h["action"] for h in await audit.history(subject)]


async def test_a_team_leader_records_and_cancels_leave_and_a_wrong_entry_keeps_what_was_typed(client):
    from core.people import teams
    from core.model import Actor
    from core.users import add_user

    await add_user("agent2", role="agent", password=PASSWORD, display_name="李静", trained=True)
    await add_user("agent3", role="agent", password=PASSWORD, display_name="周强", trained=True)
    await User.update({User.display_name: "王小明"}).where(User.username == "agent1")
    await teams.save(teams.TeamSpec(name="话务一组", leader="agent1", members=["agent1", "agent2"]),
                     Actor(name="admin1", role="admin"))
    leader = await _signed_in(client, "agent1")
    page = await leader.get("/console/people/leave")
    assert page.status_code == 200 and "登记请假" in page.text
    assert ">李静<" in page.text and ">周强<" not in page.text  # a leader records leave for their own team only

    wrong = await leader.post("/console/people/leave", {"username": "agent2", "first_day": "2026-12-20",
                                                        "last_day": "2026-12-18", "kind": "annual", "note": "探亲"})
    assert wrong.status_code == 400
    assert "结束日期不能早于开始日期" in wrong.text
    assert 'value="2026-12-20"' in wrong.text and 'value="探亲"' in wrong.text  # what was typed stays
    missing = await leader.post("/console/people/leave", {"username": "agent2", "first_day": "", "last_day": "x",
                                                          "kind": ""})
    assert missing.status_code == 400 and "请填写开始日期" in missing.text and "请选择请假类别" in missing.text

    saved = await leader.post("/console/people/leave", {"username": "agent2", "first_day": "2026-12-18",
                                                        "last_day": "2026-12-20", "kind": "annual", "note": "探亲"},
                              follow_redirects=True)
    assert "已登记年休假：2026-12-18 至 2026-12-20" in saved.text
    assert "<td>李静</td><td>2026-12-18</td><td>2026-12-20</td><td>年休假</td>" in saved.text
    leave_id = (await teams.leave_between(dt.date(2026, 12, 1), dt.date(2026, 12, 31)))[0]["id"]
    outsider = await leader.post("/console/people/leave", {"username": "agent3", "first_day": "2026-12-18",
                                                           "last_day": "2026-12-18", "kind": "sick"})
    assert outsider.status_code == 400 and "班组长" in outsider.text

    no_reason = await leader.post("/console/people/leave", {"op": "cancel", "leave": str(leave_id), "month": "2026-12",
                                                            "reason": ""})
    assert no_reason.status_code == 400 and "请填写撤销原因" in no_reason.text
    agent = await _signed_in(client, "agent2")
    assert (await agent.post("/console/people/leave", {"op": "cancel", "leave": str(leave_id),
                                                       "reason": "我自己撤"})).status_code == 403
    cancelled = await leader.post("/console/people/leave", {"op": "cancel", "leave": str(leave_id), "month": "2026-12",
                                                            "reason": "假期取消"}, follow_redirects=True)
    twice = await leader.post("/console/people/leave", {"op": "cancel", "leave": str(leave_id), "month": "2026-12",
                                                        "reason": "假期取消"})
    assert twice.status_code == 400 and "请假记录不存在" in twice.text
    assert "已撤销李静2026-12-18起的年休假" in cancelled.text and "本月没有请假记录" in cancelled.text
    history = await audit.history("user:agent2")
    assert [h["action"] for h in history[:2]] == ["leave_cancelled", "leave_recorded"]
    assert history[0]["reason"] == "假期取消" and history[0]["actor"] == "agent1"
    # the API's cancel: a reason is required (400 naming it), another team's leader may not (403)
    recorded = await client.post("/api/leave", headers=await _token(client, "admin1"), json={
        "username": "agent3", "first_day": "2026-12-21", "last_day": "2026-12-21", "kind": "sick"})
    assert recorded.status_code == 201, recorded.text
    url = f"/api/leave/{recorded.json()['id']}/cancel"
    empty = await client.post(url, json={"reason": ""}, headers=await _token(client, "admin1"))
    assert empty.status_code == 400 and empty.json()["extra"][0]["key"] == "reason"
    assert (await client.post(url, json={"reason": "误登"}, headers=await _token(client, "agent1"))).status_code == 403
    done = await client.post(url, json={"reason": "误登"}, headers=await _token(client, "supervisor1"))
    assert done.status_code == 200 and done.json()["kind_label"] == "病假"
    assert (await client.post(url, json={"reason": "误登"}, headers=await _token(client, "supervisor1"))).status_code == 404


async def _rota(month: str = "2026-12") -> int:
    """A draft with two agents: agent1 on 早班 and agent2 resting on the 15th."""
    rota_id = (await Rota.insert(Rota(month=month, status="draft", rules=msgspec.to_builtins(solver.Rules()),
                                      demand={}, gaps=[], created_by="supervisor1")).returning(Rota.id))[0]["id"]
    await RotaShift.insert(RotaShift(rota_id=rota_id, day=dt.date(2026, 12, 15), shift="early", username="agent1"),
                           RotaShift(rota_id=rota_id, day=dt.date(2026, 12, 16), shift="middle", username="agent2"))
    return rota_id


async def test_a_supervisor_swaps_two_people_lists_the_swap_and_undoes_it(client):
    from core.users import add_user

    await add_user("agent2", role="agent", password=PASSWORD, display_name="李静", trained=True)
    rota_id = await _rota()
    supervisor = await _signed_in(client, "supervisor1")
    await supervisor.get(f"/console/people/rotas/{rota_id}")
    typed = {"op": "swap", "date": "2026-12-15", "first": "agent1", "second": "agent2", "reason": ""}
    refused = await supervisor.post(f"/console/people/rotas/{rota_id}", typed)
    assert refused.status_code == 400 and "请填写调班原因" in refused.text
    assert 'value="2026-12-15"' in refused.text and '<option value="agent2" selected>' in refused.text
    same = await supervisor.post(f"/console/people/rotas/{rota_id}", {**typed, "second": "agent1", "reason": "家中有事"})
    assert same.status_code == 400 and "须为另一位话务员" in same.text and 'value="家中有事"' in same.text

    done = await supervisor.post(f"/console/people/rotas/{rota_id}", {**typed, "reason": "家中有事"},
                                 follow_redirects=True)
    assert "已调班" in done.text
    shifts = {(r["username"], r["day"]): r["shift"] for r in await RotaShift.select().where(RotaShift.rota_id == rota_id)}
    assert shifts.get(("agent2", dt.date(2026, 12, 15))) == "early" and ("agent1", dt.date(2026, 12, 15)) not in shifts
    listed = (await client.get(f"/api/rotas/{rota_id}/swaps", headers=await _token(client, "supervisor1"))).json()
    assert listed[0]["second_name"] == "李静" and listed[0]["reason"] == "家中有事" and not listed[0]["cancelled"]
    swap_id = listed[0]["id"]
    assert "<td>2026-12-15</td>" in done.text and "撤销调班" in done.text

    agent = await _signed_in(client, "agent2")
    assert (await agent.post(f"/console/people/rotas/{rota_id}", {"op": "cancel_swap", "swap": str(swap_id),
                                                                  "reason": "不换了"})).status_code == 400
    assert (await RotaShift.count().where((RotaShift.rota_id == rota_id) & (RotaShift.username == "agent2")
                                          & (RotaShift.day == dt.date(2026, 12, 15)))) == 1  # an agent may not
    undone = await supervisor.post(f"/console/people/rotas/{rota_id}", {"op": "cancel_swap", "swap": str(swap_id),
                                                                        "reason": "不换了"}, follow_redirects=True)
    assert "已撤销调班" in undone.text and "已撤销（不换了）" in undone.text
    shifts = {(r["username"], r["day"]): r["shift"] for r in await RotaShift.select().where(RotaShift.rota_id == rota_id)}
    assert shifts.get(("agent1", dt.date(2026, 12, 15))) == "early" and ("agent2", dt.date(2026, 12, 15)) not in shifts
    unknown = await supervisor.post(f"/console/people/rotas/{rota_id}", {"op": "cancel_swap", "swap": "99999",
                                                                         "reason": "再撤"})
    assert unknown.status_code == 400 and "没有这次调班" in unknown.text
    again = await supervisor.post(f"/console/people/rotas/{rota_id}", {"op": "cancel_swap", "swap": str(swap_id),
                                                                       "reason": "再撤"})
    assert again.status_code == 400 and "已撤销" in again.text
    assert (await _events(f"rota:{rota_id}"))[:2] == ["rota_swap_cancelled", "rota_swapped"]


async def _token(client, username: str) -> dict[str, str]:
    response = await client.post("/api/auth/token", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_an_admin_adds_edits_stops_and_restarts_a_shift_keeping_the_day_covered(client):
    admin = await _signed_in(client, "admin1")
    page = await admin.get("/console/people/shifts")
    assert "早班" in page.text and "新增班次" in page.text
    bad = await admin.post("/console/people/shifts", {"op": "new", "name": "", "starts": "25:00", "hours": "3"})
    assert bad.status_code == 400
    for message in ("请填写班次名称", "开始时间应为 HH:MM", "时长应为 4 到 12 小时"):
        assert message in bad.text
    assert 'value="25:00"' in bad.text and 'value="3"' in bad.text
    added = await admin.post("/console/people/shifts", {"op": "new", "name": "早高峰班", "starts": "07:00",
                                                        "hours": "6"}, follow_redirects=True)
    assert "已保存班次「早高峰班」" in added.text and "07:00–13:00" in added.text
    clash = await admin.post("/console/people/shifts", {"op": "new", "name": "早高峰班", "starts": "09:00", "hours": "6"})
    assert clash.status_code == 400 and "已有同名班次" in clash.text and 'value="09:00"' in clash.text
    from core.people import teams

    peak = next(s["code"] for s in await teams.all_shifts() if s["name"] == "早高峰班")

    # stopping 夜班 leaves 00–07 unmanned: refused, beside its row; with a stand-in night shift it goes
    stop = await admin.post("/console/people/shifts", {"op": "disable", "code": "night"})
    assert stop.status_code == 400 and "无人值守" in stop.text
    short = await admin.post("/console/people/shifts", {"op": "edit", "code": "middle", "name": "中班", "starts": "17:00",
                                                        "hours": "7"})
    assert short.status_code == 400 and "16时" in short.text and 'value="17:00"' in short.text
    await admin.post("/console/people/shifts", {"op": "new", "name": "通宵班", "starts": "00:00", "hours": "8"})
    stopped = await admin.post("/console/people/shifts", {"op": "disable", "code": "night"}, follow_redirects=True)
    assert "已停用班次" in stopped.text

    assert [s.name for s in await teams.shifts()] == ["通宵班", "早高峰班", "早班", "中班"]
    edited = await admin.post("/console/people/shifts", {"op": "edit", "code": "middle", "name": "中班", "starts": "15:00",
                                                         "hours": "9"}, follow_redirects=True)
    assert "15:00–24:00" in edited.text or "15:00–00:00" in edited.text
    unknown = await admin.post("/console/people/shifts", {"op": "edit", "code": "nosuch", "name": "某班", "starts": "01:00",
                                                          "hours": "8"})
    assert unknown.status_code == 400 and "没有这个班次" in unknown.text
    assert "没有这个班次" in (await admin.post("/console/people/shifts", {"op": "enable", "code": "nosuch"})).text
    restarted = await admin.post("/console/people/shifts", {"op": "enable", "code": "night"}, follow_redirects=True)
    assert "已启用班次" in restarted.text
    assert set(await _events("shifts")) >= {"shift_saved", "shift_disabled", "shift_enabled"}

    # a shift the month's rota rosters cannot be stopped
    await Rota.insert(Rota(month="2026-12", status="draft", rules={}, demand={}, gaps=[]))
    rota_id = (await Rota.select(Rota.id).first())["id"]
    await RotaShift.insert(RotaShift(rota_id=rota_id, day=dt.date(2026, 12, 20), shift=peak, username="agent1"))
    used = await admin.post("/console/people/shifts", {"op": "disable", "code": peak})
    assert used.status_code == 400 and "2026-12 的排班还排有早高峰班" in used.text

    supervisor = await _signed_in(client, "supervisor1")
    assert "新增班次" not in (await supervisor.get("/console/people/shifts")).text
    assert (await supervisor.post("/console/people/shifts", {"op": "disable", "code": peak})).status_code == 403


async def test_an_admin_records_a_session_then_marks_an_attendee_passed_who_may_then_take_calls(client):
    from core.users import add_user

    await add_user("newcomer", role="agent", password=PASSWORD, display_name="新人小林")
    await add_user("second", role="agent", password=PASSWORD, display_name="新人小周")
    admin = await _signed_in(client, "admin1")
    page = await admin.get("/console/people/training")
    assert "新人小林（未培训）" in page.text
    bad = await admin.post("/console/people/training", {"op": "session", "course": "12345热线岗前培训", "kind": "",
                                                         "held_on": "2026-12-31", "place": "三楼培训室",
                                                         "audience": "centre"})
    assert bad.status_code == 400
    assert "请选择培训类别" in bad.text and "只能登记已经举行的培训" in bad.text and "请勾选出勤人员" in bad.text
    assert 'value="12345热线岗前培训"' in bad.text and 'value="三楼培训室"' in bad.text

    made = await admin.post("/console/people/training", {"op": "session", "course": "12345热线岗前培训", "kind": "induction",
                                                          "held_on": "2026-12-05", "place": "三楼培训室", "audience": "centre",
                                                          "attendees": ["newcomer", "second"]}, follow_redirects=True)
    assert "已登记培训「12345热线岗前培训」，出勤 2 人" in made.text and "登记考核合格" in made.text
    assert (await User.select(User.trained).where(User.username == "newcomer").first())["trained"] is False
    session_id = (await client.get("/api/training/sessions", headers=await _token(client, "admin1"))).json()[0]["id"]
    gone = await admin.post("/console/people/training", {"op": "passed", "session": "9999", "attendees": ["newcomer"]})
    assert gone.status_code == 400 and "培训场次不存在" in gone.text
    none = await admin.post("/console/people/training", {"op": "passed", "session": str(session_id)})
    assert none.status_code == 400 and "请勾选考核合格的人员" in none.text
    passed = await admin.post("/console/people/training", {"op": "passed", "session": str(session_id),
                                                           "attendees": ["newcomer"]}, follow_redirects=True)
    assert "已登记「12345热线岗前培训」1 人考核合格" in passed.text and "新人小林（合格）" in passed.text
    assert (await User.select(User.trained).where(User.username == "newcomer").first())["trained"] is True
    assert (await User.select(User.trained).where(User.username == "second").first())["trained"] is False
    assert "trained" in await _events("user:newcomer")
    assert "training_passed" in await _events(f"training:{session_id}")
    from tests.helpers import intake_body

    taken = await client.post("/api/channels/hotline/orders", json=intake_body(), headers=await _token(client, "newcomer"))
    assert taken.status_code == 201
    refused = await client.post("/api/channels/hotline/orders", json=intake_body(), headers=await _token(client, "second"))
    assert refused.status_code == 403

    supervisor = await _signed_in(client, "supervisor1")
    assert "登记一场培训" not in (await supervisor.get("/console/people/training")).text
    assert (await supervisor.post("/console/people/training", {"op": "passed", "session": str(session_id),
                                                               "attendees": ["second"]})).status_code == 403


async def test_an_admin_edits_the_checklist_and_the_sampling_rule(client):
    from core.people import quality

    admin = await _signed_in(client, "admin1")
    page = await admin.get("/console/people/quality/settings")
    assert 'value="服务用语规范"' in page.text and "保存评分表" in page.text
    rows = {f"{k}:{n}": v for n, item in enumerate(await quality.checklist())
            for k, v in (("code", item.code), ("name", item.name), ("points", str(item.points)),
                         ("guidance", item.guidance))}
    uneven = await admin.post("/console/people/quality/settings", {"op": "checklist", **rows, "points:0": "30"})
    assert uneven.status_code == 400 and "各项分值合计须为 100（现为 110）" in uneven.text
    assert 'name="points:0" inputmode="numeric" size="3" aria-label="第 1 项分值" value="30"' in uneven.text
    assert 'name="points:8"' not in uneven.text  # what was typed, and no more empty rows than before
    badrow = await admin.post("/console/people/quality/settings", {"op": "checklist", **rows, "guidance:5": "录音",
                                                                   "name:5": "", "points:5": "0"})
    assert badrow.status_code == 400
    assert "请填写评分项名称" in badrow.text and "分值应为 1 到 100" in badrow.text and 'value="录音"' in badrow.text
    twice = await admin.post("/console/people/quality/settings", {"op": "checklist", **rows, "points:1": "15",
                                                                  "name:5": "派单正确", "points:5": "10"})
    assert twice.status_code == 400 and "评分项名称不能重复" in twice.text
    changed = await admin.post("/console/people/quality/settings", {
        "op": "checklist", **rows, "points:1": "15", "name:5": "录音规范",
        "points:5": "10", "guidance:5": "未按规定开启录音扣 10 分"}, follow_redirects=True)
    assert "已保存质检评分表（6 项，合计 100 分）" in changed.text and ">item1<" not in changed.text
    items = {i.name: i for i in await quality.checklist()}
    assert items["诉求记录完整准确"].points == 15 and items["录音规范"].points == 10
    assert items["服务用语规范"].code == "service_language"  # an item keeps its code (samples name it)
    removed = await admin.post("/console/people/quality/settings", {
        "op": "checklist", **rows, "remove:4": "1", "points:3": "35"}, follow_redirects=True)
    assert "已保存质检评分表（4 项" in removed.text and "reply_manner" not in {i.code for i in await quality.checklist()}

    rule = await admin.post("/console/people/quality/settings", {"op": "rule", "share": "120", "returns": "1"})
    assert rule.status_code == 400 and "抽检比例应为 0 到 100" in rule.text and 'value="120"' in rule.text
    saved = await admin.post("/console/people/quality/settings", {"op": "rule", "share": "8", "returns": "1"},
                             follow_redirects=True)
    assert "已保存抽检规则：每位话务员抽检 8%" in saved.text
    assert (await quality.rule()) == quality.Rule(share=0.08, bad_ratings=False, returns=True)
    assert (await _events("qa"))[:3] == ["qa_rule", "qa_items", "qa_items"]

    supervisor = await _signed_in(client, "supervisor1")
    shown = await supervisor.get("/console/people/quality/settings")
    assert "保存评分表" not in shown.text and "每位话务员抽检 8%" in shown.text
    assert (await supervisor.post("/console/people/quality/settings", {"op": "rule", "share": "50"})).status_code == 403
