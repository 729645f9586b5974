"""The people who answer: an untrained agent records no order until trained (or an admin's audited
override); teams and shifts; the rota for the demo's 36 staff proposed from the forecast within the
working-time rules, edited, swapped and published by a team leader; every per-agent figure; and a
quality inspection (质检) from the sample to the agent's appeal and the monthly report."""

from __future__ import annotations

import datetime as dt
import time

from core import clock
from core.calendar import SHANGHAI
from tests.helpers import PASSWORD, intake_body, login


async def _intake(client, headers, **overrides):
    return await client.post("/api/channels/hotline/orders", json=intake_body(**overrides), headers=headers)


async def _act(client, headers, number, action, payload=None) -> dict:
    response = await client.post(f"/api/orders/{number}/actions/{action}", json=payload or {}, headers=headers)
    assert response.status_code == 200, (action, response.text)
    return response.json()


async def test_an_untrained_agent_records_no_order_until_trained(client, tokens):
    from core.users import add_user

    await add_user("newcomer", role="agent", password=PASSWORD)  # a new account is not yet 已培训上岗
    newcomer = await login(client, "newcomer")
    refused = await _intake(client, newcomer)
    assert refused.status_code == 403
    assert "培训" in refused.json()["detail"]
    assert (await _intake(client, tokens["agent1"])).status_code == 201  # accounts from before count as trained

    course = {"course": "12345热线岗前培训", "passed": True}
    assert (await client.post("/api/users/newcomer/training", json=course, headers=tokens["supervisor1"])).status_code == 403
    recorded = await client.post("/api/users/newcomer/training", json=course, headers=tokens["admin1"])
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["trained"] is True and recorded.json()["records"][0]["passed_label"] == "合格"
    assert (await _intake(client, newcomer)).status_code == 201

    # an admin's override, with a reason, is audited; without a reason it is refused naming the field
    no_reason = await client.put("/api/users/newcomer/trained", json={"trained": False, "reason": ""},
                                 headers=tokens["admin1"])
    assert no_reason.status_code == 400 and no_reason.json()["extra"][0]["key"] == "reason"
    withdrawn = await client.put("/api/users/newcomer/trained", json={"trained": False, "reason": "考核复查未通过"},
                                 headers=tokens["admin1"])
    assert withdrawn.status_code == 200 and withdrawn.json()["trained"] is False
    assert (await _intake(client, newcomer)).status_code == 403
    history = (await client.get("/api/users/newcomer/training", headers=newcomer)).json()["history"]
    assert history[0]["action_label"] == "管理员设定上岗资格" and history[0]["reason"] == "考核复查未通过"
    assert history[0]["actor"] == "admin1"
    assert (await client.get("/api/users/agent1/training", headers=newcomer)).status_code == 403

    # a session with its attendance: passing the induction course makes every attendee trained
    await add_user("second", role="agent", password=PASSWORD)
    session = await client.post("/api/training/sessions", headers=tokens["admin1"], json={
        "course": "岗前培训（第二期）", "kind": "induction", "held_on": clock.today().isoformat(),
        "attendees": ["second", "newcomer"], "passed": True})
    assert session.status_code == 201, session.text
    assert session.json()["kind_label"] == "岗前培训" and len(session.json()["attendees"]) == 2
    assert (await _intake(client, await login(client, "second"))).status_code == 201
    unknown = await client.post("/api/training/sessions", headers=tokens["admin1"], json={
        "course": "集中培训", "kind": "large", "held_on": clock.today().isoformat(), "attendees": ["nobody"]})
    assert unknown.status_code == 400 and unknown.json()["extra"][0]["key"] == "attendees"


def _next_month() -> str:
    today = clock.today()
    return f"{today.year + today.month // 12}-{today.month % 12 + 1:02d}"


def _check_rules(rota: dict, shifts: dict[str, dict], leave: dict[str, set[str]]) -> None:
    """The rules, counted here afresh from the answer: one shift a day, 11 hours of rest, at most 40
    hours and at least 2 days off in any 7 days, nobody on leave at work; every hour short is listed."""
    rules = rota["rules"]
    assert rules == {"max_hours_per_week": 40, "min_rest_hours": 11, "days_off_per_week": 2}
    planned: dict[tuple[str, int], int] = {}
    for person in rota["people"]:
        worked = [(dt.date.fromisoformat(s["date"]), s["shift"]) for s in person["shifts"]]
        days = [d for d, _ in worked]
        assert len(days) == len(set(days)), person["username"]
        assert not {d.isoformat() for d in days} & leave.get(person["username"], set())
        spans = []
        for day, code in worked:
            hours, minutes = map(int, shifts[code]["starts"].split(":"))
            start = dt.datetime.combine(day, dt.time(hours, minutes))
            spans.append((start, start + dt.timedelta(hours=shifts[code]["hours"])))
            for h in range(shifts[code]["hours"]):
                moment = start + dt.timedelta(hours=h)
                key = (moment.date().isoformat(), moment.hour)
                planned[key] = planned.get(key, 0) + 1
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert (start - end) >= dt.timedelta(hours=11), (person["username"], end, start)
        for day in days:
            window = [d for d in days if 0 <= (d - day).days < 7]
            assert len(window) <= 5 and sum(shifts[c]["hours"] for d, c in worked if d in window) <= 40
    listed = {(g["date"], g["hour"]) for g in rota["under_covered"]}
    for date, lines in rota["demand"].items():
        for hour, needed in enumerate(lines):
            assert needed >= 2  # the tender's floor: 2 lines off-peak, 4 at a working day's peak
            assert planned.get((date, hour), 0) >= needed or (date, hour) in listed


async def test_the_rota_for_the_demos_36_staff_keeps_the_rules_and_a_leader_edits_and_publishes_it(client, platform):
    from core import demo
    from tests import helpers

    await helpers.clean(platform)
    await demo.seed_reference()
    platform.orders.forget_reference_data()
    admin = await _demo_login(client, "admin")
    teams = (await client.get("/api/teams", headers=admin)).json()
    assert [t["name"] for t in teams] == ["话务一组", "话务二组", "话务三组"]
    assert sum(t["size"] for t in teams) == 36 and all(t["leader"] for t in teams)
    shifts = {s["code"]: s for s in (await client.get("/api/shifts", headers=admin)).json()}
    assert sorted(s["name"] for s in shifts.values()) == ["中班", "夜班", "早班"]

    month = _next_month()
    on_leave = teams[1]["members"][3]["username"]
    first = f"{month}-10"
    leave = await client.post("/api/leave", headers=admin, json={
        "username": on_leave, "first_day": first, "last_day": f"{month}-12", "kind": "annual"})
    assert leave.status_code == 201, leave.text

    began = time.perf_counter()
    proposed = await client.post("/api/rota/proposals", json={"month": month}, headers=admin)
    took = time.perf_counter() - began
    assert proposed.status_code == 201, proposed.text
    rota = proposed.json()
    assert took < 30, took  # seconds, not minutes (about 3 s measured on two shared cores)
    assert len(rota["people"]) == 36 and rota["status_label"] == "草案"
    assert rota["violations"] == []
    _check_rules(rota, shifts, {on_leave: {f"{month}-10", f"{month}-11", f"{month}-12"}})
    assert rota["under_covered_hours"] == len(rota["under_covered"])

    # a team leader edits their own team's shifts (within the rules), not another team's
    leader = await _demo_login(client, teams[0]["leader"]["username"])
    mine = next(p for p in rota["people"] if p["username"] == teams[0]["members"][1]["username"])
    theirs = next(p for p in rota["people"] if p["username"] == teams[1]["members"][1]["username"])
    day = mine["shifts"][0]["date"]
    off = {"changes": [{"username": mine["username"], "date": day, "shift": None}], "reason": "本人临时有事"}
    edited = await client.put(f"/api/rotas/{rota['id']}/shifts", json=off, headers=leader)
    assert edited.status_code == 200, edited.text
    assert day not in [s["date"] for s in next(p for p in edited.json()["people"] if p["username"] == mine["username"])["shifts"]]
    other = {"changes": [{"username": theirs["username"], "date": day, "shift": None}], "reason": "试试"}
    assert (await client.put(f"/api/rotas/{rota['id']}/shifts", json=other, headers=leader)).status_code == 403
    # a night straight after a middle shift leaves no rest: refused with the rule named
    worked = {s["date"]: s["shift"] for s in next(p for p in edited.json()["people"]
                                                 if p["username"] == mine["username"])["shifts"]}
    middle_day = next(d for d in sorted(worked) if dt.date.fromisoformat(d).day < 25)
    following = (dt.date.fromisoformat(middle_day) + dt.timedelta(days=1)).isoformat()
    tired = {"changes": [{"username": mine["username"], "date": middle_day, "shift": "middle"},
                         {"username": mine["username"], "date": following, "shift": "night"}], "reason": "试试"}
    broken = await client.put(f"/api/rotas/{rota['id']}/shifts", json=tired, headers=leader)
    assert broken.status_code == 409 and "休息不足" in broken.json()["detail"]

    # a swap between two of the team, recorded; then published, and it says who is on duty
    partner = teams[0]["members"][2]["username"]
    shown = (await client.get(f"/api/rotas/{rota['id']}", headers=leader)).json()
    by_person = {p["username"]: {s["date"]: s["shift"] for s in p["shifts"]} for p in shown["people"]}
    swap_day = next(d for d in sorted(by_person[partner]) if by_person[mine["username"]].get(d) != by_person[partner][d]
                    and d not in (middle_day, following))
    swapped = await client.post(f"/api/rotas/{rota['id']}/swaps", headers=leader, json={
        "date": swap_day, "first": mine["username"], "second": partner, "reason": "家中有事，互换"})
    if swapped.status_code == 200:
        after = {p["username"]: {s["date"]: s["shift"] for s in p["shifts"]} for p in swapped.json()["people"]}
        assert after[mine["username"]].get(swap_day) == by_person[partner][swap_day]
    else:  # the swap would break a rule for one of them: refused, saying which
        assert swapped.status_code == 409 and "工时规则" in swapped.json()["detail"]
    published = await client.post(f"/api/rotas/{rota['id']}/publish", headers=leader)
    assert published.status_code == 200 and published.json()["status_label"] == "已发布"
    assert (await client.post(f"/api/rotas/{rota['id']}/publish", headers=leader)).status_code == 409
    # on the board, the published rota's people on shift against the lines the hour needs
    first_day = dt.datetime.fromisoformat(f"{month}-01T09:30:00+08:00")
    clock.start_at(first_day.isoformat())
    board = (await client.get("/api/board", headers=admin)).json()["rota"]
    on_shift = sum(1 for p in published.json()["people"] for s in p["shifts"]
                   if s["date"] == f"{month}-01" and s["shift"] == "early")
    assert board == {"on_duty": on_shift, "needed": rota["demand"][f"{month}-01"][9], "short": max(
        0, rota["demand"][f"{month}-01"][9] - on_shift)}
    on_duty = (await client.get("/api/rota/on-duty", headers=admin)).json()
    assert on_duty["lines"] == on_shift
    agent = await _demo_login(client, teams[2]["members"][5]["username"])
    assert (await client.post("/api/rota/proposals", json={"month": month}, headers=agent)).status_code == 403
    past = await client.post("/api/rota/proposals", json={"month": "2020-01"}, headers=admin)
    assert past.status_code == 400 and past.json()["extra"][0]["key"] == "month"


async def _demo_login(client, username: str) -> dict[str, str]:
    from core.demo import DEMO_PASSWORD

    response = await client.post("/api/auth/token", json={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _orders_of_agent1(client, tokens) -> dict[str, str]:
    """Three phone orders: one resolved at intake, one misrouted (returned, return upheld), one rated badly."""
    started = (clock.now() - dt.timedelta(minutes=5)).astimezone(SHANGHAI).isoformat()
    numbers = {}
    for name in ("resolved", "misrouted", "rated"):
        response = await _intake(client, tokens["agent1"], received_at=started)
        assert response.status_code == 201, response.text
        numbers[name] = response.json()["number"]
    await _act(client, tokens["agent1"], numbers["resolved"], "resolve_at_intake", {"reply": "已告知办理流程。"})
    await _act(client, tokens["dispatcher1"], numbers["misrouted"], "dispatch", {"department": "eco_env"})
    await _act(client, tokens["eco_handler"], numbers["misrouted"], "return", {"reason": "属住建职责"})
    await _act(client, tokens["dispatcher1"], numbers["misrouted"], "uphold_return", {"note": "同意"})
    for user, action, payload in (("dispatcher1", "dispatch", {"department": "eco_env"}), ("eco_handler", "accept", {}),
                                  ("eco_handler", "reply", {"reply": "已责令工地停止夜间施工。"}),
                                  ("dispatcher1", "approve", {}),
                                  ("agent1", "callback", {"satisfaction": "unsatisfied", "resolved": False})):
        await _act(client, tokens[user], numbers["rated"], action, payload)
    return numbers


async def test_every_figure_appears_for_an_agent_and_only_they_and_their_leaders_see_it(client, tokens):
    await _orders_of_agent1(client, tokens)
    today = clock.today().isoformat()
    response = await client.get(f"/api/agents/agent1/figures?start={today}&end={today}", headers=tokens["agent1"])
    assert response.status_code == 200, response.text
    figures = response.json()["figures"]
    assert figures["orders_recorded"] == 3 and figures["calls_answered"] == 3
    assert figures["resolved_at_intake"] == 1 and figures["resolved_at_intake_rate"] == round(1 / 3, 4)
    assert figures["dispatched"] == 2 and figures["misrouted"] == 1 and figures["dispatch_accuracy"] == 0.5
    assert 290 <= figures["handling_seconds_avg"] <= 400  # from the call's start to the recorded intake
    assert figures["callbacks"]["rated"] == 1 and figures["callbacks"]["satisfied_rate"] == 0
    assert {c["label"]: c["count"] for c in figures["callbacks"]["by_satisfaction"]}["不满意"] == 1
    assert "talk_seconds_avg" in figures and "wrap_up_seconds_avg" in figures and "quality" in figures
    assert set(response.json()["definitions"]) >= {"calls_answered", "dispatch_accuracy", "quality"}

    from core.users import add_user

    await add_user("agent2", role="agent", password=PASSWORD, trained=True)
    other = await login(client, "agent2")
    assert (await client.get("/api/agents/agent1/figures", headers=other)).status_code == 403
    assert (await client.get("/api/agents/agent1/figures", headers=tokens["supervisor1"])).status_code == 200
    bad = await client.get("/api/agents/agent1/figures?start=2020-01-01&end=2026-01-01", headers=tokens["admin1"])
    assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "end"

    team = await client.post("/api/teams", headers=tokens["admin1"],
                             json={"name": "话务一组", "leader": "agent2", "members": ["agent1", "agent2"]})
    assert team.status_code == 201, team.text
    # the team leader now sees the team's members and the team's sum
    assert (await client.get("/api/agents/agent1/figures", headers=other)).status_code == 200
    summed = await client.get(f"/api/teams/{team.json()['id']}/figures?start={today}&end={today}", headers=other)
    assert summed.status_code == 200 and summed.json()["figures"]["orders_recorded"] == 3
    handler_team = await client.post("/api/teams", headers=tokens["admin1"],
                                     json={"name": "二组", "members": ["eco_handler"]})
    assert handler_team.status_code == 400 and handler_team.json()["extra"][0]["key"] == "members"


async def test_an_inspector_scores_a_sampled_order_the_agent_sees_it_appeals_once_and_the_month_reports_it(client, tokens):
    numbers = await _orders_of_agent1(client, tokens)
    await client.post("/api/teams", headers=tokens["admin1"], json={"name": "话务一组", "members": ["agent1"]})
    today = clock.today().isoformat()
    assert (await client.post("/api/quality/draws", json={"start": today, "end": today},
                              headers=tokens["agent1"])).status_code == 403
    drawn = await client.post("/api/quality/draws", json={"start": today, "end": today}, headers=tokens["supervisor1"])
    assert drawn.status_code == 201, drawn.text
    reasons = {r["reason"]: r["count"] for r in drawn.json()["by_reason"]}
    # every misrouted and badly rated order, and 5 % of the agent's three (rounded up: one, maybe one of those)
    assert reasons["returned"] == 1 and reasons["bad_rating"] == 1 and reasons["share"] <= 1
    again = await client.post("/api/quality/draws", json={"start": today, "end": today}, headers=tokens["supervisor1"])
    assert again.json()["drawn"] == 0  # an order is sampled once

    samples = (await client.get("/api/quality/samples", headers=tokens["supervisor1"])).json()
    rated = next(s for s in samples if s["order"] == numbers["rated"])
    assert rated["reason_label"] == "回访不满意或未解决" and rated["status_label"] == "待评分"
    too_much = await client.post(f"/api/quality/samples/{rated['id']}/score", headers=tokens["supervisor1"],
                                 json={"deductions": {"service_language": 30}})
    assert too_much.status_code == 400 and too_much.json()["extra"][0]["key"] == "deductions.service_language"
    scored = await client.post(f"/api/quality/samples/{rated['id']}/score", headers=tokens["supervisor1"],
                               json={"deductions": {"service_language": 5, "reply_manner": 10},
                                     "comment": "未使用规范结束语；答复口径不完整"})
    assert scored.status_code == 200, scored.text
    assert scored.json()["score"] == 85.0

    mine = (await client.get("/api/quality/samples", headers=tokens["agent1"])).json()
    seen = next(s for s in mine if s["id"] == rated["id"])
    assert seen["score"] == 85.0 and seen["comment"] == "未使用规范结束语；答复口径不完整" and seen["may_appeal"]
    assert {d["name"] for d in seen["deductions"]} == {"服务用语规范", "答复规范"}
    appeal = {"reason": "通话中已使用结束语，请复听录音"}
    assert (await client.post(f"/api/quality/samples/{rated['id']}/appeal", json=appeal,
                              headers=tokens["dispatcher1"])).status_code == 403
    assert (await client.post(f"/api/quality/samples/{rated['id']}/appeal", json=appeal,
                              headers=tokens["agent1"])).status_code == 200
    assert (await client.post(f"/api/quality/samples/{rated['id']}/appeal", json=appeal,
                              headers=tokens["agent1"])).status_code == 409  # once
    ruled = await client.post(f"/api/quality/samples/{rated['id']}/ruling", headers=tokens["admin1"],
                              json={"upheld": True, "ruling": "复听属实，撤销服务用语扣分", "deductions": {"reply_manner": 10}})
    assert ruled.status_code == 200 and ruled.json()["score"] == 90.0 and ruled.json()["status_label"] == "已定分"

    month = f"{clock.today():%Y-%m}"
    report = await client.get(f"/api/quality/reports/{month}", headers=tokens["supervisor1"])
    assert report.status_code == 200, report.text
    agent = next(a for a in report.json()["agents"] if a["username"] == "agent1")
    assert agent["samples"] == drawn.json()["drawn"] and agent["scored"] == 1 and agent["score_avg"] == 90.0 and agent["appeals"] == 1
    assert agent["team"] == "话务一组" and report.json()["teams"][0]["team"] == "话务一组"
    assert {p["name"]: p["points"] for p in agent["points_lost"]}["答复规范"] == 10
    assert (await client.get(f"/api/quality/reports/{month}", headers=tokens["agent1"])).status_code == 403
    figures = (await client.get("/api/agents/agent1/figures", headers=tokens["agent1"])).json()["figures"]
    assert figures["quality"] == {"inspected": 1, "score_avg": 90.0}

    uneven = await client.put("/api/quality/checklist", headers=tokens["admin1"], json={"items": [
        {"code": "service_language", "name": "服务用语规范", "points": 50}]})
    assert uneven.status_code == 400 and "100" in uneven.json()["extra"][0]["message"]


async def test_an_admin_sets_up_a_team_on_the_console_and_an_untrained_agent_is_shown_as_such(client):
    from core.users import add_user
    from tests.test_console import Staff

    await add_user("newcomer", role="agent", password=PASSWORD, display_name="新人小林")
    admin = Staff(client)
    assert (await admin.login("admin1")).status_code == 200
    page = await admin.get("/console/people")
    assert "新建班组" in page.text and "新人小林" in page.text
    saved = await admin.post("/console/people/teams", {"name": "话务一组", "leader": "agent1",
                                                       "members": ["agent1", "newcomer"]}, follow_redirects=True)
    assert "已保存班组「话务一组」" in saved.text
    assert "新人小林</a>（未培训）" in saved.text
    refused = await admin.post("/console/people/teams", {"name": "二组", "members": ["eco_handler"]},
                               follow_redirects=True)
    assert "班组成员须为话务员的账号" in refused.text
    agent = Staff(client)
    await agent.login("agent1")
    assert "新建班组" not in (await agent.get("/console/people")).text
    assert (await agent.post("/console/people/teams", {"name": "三组"}, follow_redirects=True)).status_code == 200
    assert "三组" not in (await agent.get("/console/people")).text  # refused: only admins set teams
