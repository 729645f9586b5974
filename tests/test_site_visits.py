"""On-site verification (实地核实) over the API: the centre schedules one for an appeal, a recheck or an
enterprise visit, records findings, conclusion, place and photos; the order's timeline shows it, its
department reads it, bad input is refused naming the field."""

from __future__ import annotations

import datetime as dt

import msgspec

from core import clock
from core.intake import IntakeRequest
from core.model import Actor
from tests.helpers import PDF, intake_body, jpeg

AGENT = Actor(name="agent1", role="agent")
DISPATCHER = Actor(name="dispatcher1", role="dispatcher")
HANDLER = Actor(name="housing_handler", role="handler", department="housing")


async def appealed_order(platform) -> str:
    """An order the housing department handled, rated badly, and appealed."""
    request = msgspec.convert(intake_body(), IntakeRequest)
    _, order = await platform.orders.intake("hotline", request, AGENT)
    number = order.number
    for name, actor, payload in [
        ("dispatch", DISPATCHER, {"department": "housing"}), ("accept", HANDLER, {}),
        ("reply", HANDLER, {"reply": "经核查，工地已停止夜间施工"}), ("approve", DISPATCHER, {}),
        ("callback", AGENT, {"satisfaction": "unsatisfied", "resolved": False}),
        ("appeal", HANDLER, {"reason": "现场已停工，市民所说为另一工地"})]:
        await platform.orders.act(number, name, payload, actor)
    return number


def _when(days: int = 1) -> str:
    return (clock.now() + dt.timedelta(days=days)).isoformat()


async def test_supervisor_schedules_and_records_an_appeal_verification_seen_on_the_timeline(client, tokens):
    number = await appealed_order(client.platform)
    made = await client.post(f"/api/orders/{number}/site-visits", headers=tokens["supervisor1"], json={
        "purpose": "appeal", "scheduled_at": _when(), "staff": ["supervisor1", "dispatcher1"], "note": "带上卷尺"})
    assert made.status_code == 201, made.text
    visit = made.json()
    assert visit["status_label"] == "待核实" and visit["purpose_label"] == "申诉核实"
    assert visit["scheduled_at"].endswith("+08:00")

    mine = await client.get("/api/site-visits/mine", headers=tokens["dispatcher1"])
    assert [v["id"] for v in mine.json()] == [visit["id"]]

    photo = await client.post(f"/api/site-visits/{visit['id']}/photos", headers=tokens["dispatcher1"],
                              files={"data": ("现场.jpg", jpeg(40, 30), "image/jpeg")})
    assert photo.status_code == 201, photo.text
    recorded = await client.post(f"/api/site-visits/{visit['id']}/record", headers=tokens["dispatcher1"], json={
        "findings": "工地晚上十一点后仍有施工", "conclusion": "confirmed",
        "place": {"latitude": 28.2, "longitude": 112.9, "accuracy": 15}})
    assert recorded.status_code == 200, recorded.text
    body = recorded.json()
    assert body["conclusion_label"] == "属实" and body["recorded_by"] == "dispatcher1"
    assert [p["filename"] for p in body["photos"]] == ["现场.jpg"]
    assert (await client.get("/api/site-visits/mine", headers=tokens["dispatcher1"])).json() == []

    again = await client.post(f"/api/site-visits/{visit['id']}/record", headers=tokens["dispatcher1"], json={
        "findings": "再记一次", "conclusion": "unfounded", "address": "梅溪湖"})
    assert again.status_code == 409

    order = (await client.get(f"/api/orders/{number}", headers=tokens["supervisor1"])).json()
    events = [e["action"] for e in order["events"]]
    assert {"site_visit_scheduled", "site_visit_photo", "site_visit_recorded", "attach"} <= set(events)
    assert "属实" in next(e["reason"] for e in order["events"] if e["action"] == "site_visit_recorded")


async def test_the_department_reads_its_orders_verifications_and_no_other_department_does(client, tokens):
    number = await appealed_order(client.platform)
    made = await client.post(f"/api/orders/{number}/site-visits", headers=tokens["dispatcher1"], json={
        "purpose": "appeal", "scheduled_at": _when(), "staff": ["supervisor1"]})
    assert made.status_code == 201, made.text
    own = await client.get(f"/api/orders/{number}/site-visits", headers=tokens["housing_handler"])
    assert own.status_code == 200 and len(own.json()) == 1
    assert (await client.get(f"/api/orders/{number}/site-visits", headers=tokens["eco_handler"])).status_code == 404
    assert (await client.get(f"/api/site-visits/{made.json()['id']}", headers=tokens["eco_handler"])).status_code == 404
    # the appealing department neither schedules nor records the verification of its own appeal
    refused = await client.post(f"/api/orders/{number}/site-visits", headers=tokens["housing_handler"], json={
        "purpose": "appeal", "scheduled_at": _when(), "staff": ["supervisor1"]})
    assert refused.status_code == 403
    record = await client.post(f"/api/site-visits/{made.json()['id']}/record", headers=tokens["housing_handler"],
                               json={"findings": "已停工", "conclusion": "unfounded", "address": "梅溪湖"})
    assert record.status_code == 403


async def test_bad_input_is_refused_naming_the_field(client, tokens):
    number = await appealed_order(client.platform)
    url = f"/api/orders/{number}/site-visits"
    sup = tokens["supervisor1"]

    async def refused(body, key, path=url):
        response = await client.post(path, headers=sup, json=body)
        assert response.status_code == 400, response.text
        assert key in [e["key"] for e in response.json()["extra"]], response.json()

    good = {"purpose": "appeal", "scheduled_at": _when(), "staff": ["supervisor1"]}
    await refused({**good, "purpose": "party"}, "purpose")
    await refused({**good, "purpose": "recheck"}, "purpose")  # a hotline order is no recheck
    await refused({**good, "scheduled_at": _when(400)}, "scheduled_at")
    await refused({**good, "scheduled_at": "2026-12-08T09:00:00"}, "scheduled_at")
    await refused({**good, "staff": []}, "staff")
    await refused({**good, "staff": ["nobody"]}, "staff")
    await refused({**good, "staff": ["housing_handler"]}, "staff")  # an appeal is verified by the centre
    visit = (await client.post(url, headers=sup, json=good)).json()
    record = f"/api/site-visits/{visit['id']}/record"
    await refused({"findings": "有", "conclusion": "maybe", "address": "梅溪湖"}, "conclusion", record)
    await refused({"findings": "", "conclusion": "confirmed", "address": "梅溪湖"}, "findings", record)
    await refused({"findings": "有", "conclusion": "confirmed"}, "address", record)
    await refused({"findings": "有", "conclusion": "confirmed", "place": {"latitude": 91, "longitude": 0}},
                  "place.latitude", record)
    await refused({"findings": "有", "conclusion": "confirmed", "address": "x", "photos": ["nope.jpg"]},
                  "photos", record)
    pdf = await client.post(f"/api/site-visits/{visit['id']}/photos", headers=sup,
                            files={"data": ("scan.jpg", PDF, "image/jpeg")})
    assert pdf.status_code == 400 and pdf.json()["extra"][0]["key"] == "data"
    assert (await client.get("/api/site-visits/99999999", headers=sup)).status_code == 404


async def test_the_department_reads_a_tip_off_verification_without_the_reporter(client, tokens):
    from plugins.safety_reporting.tests.test_safety_reporting import SECRETS, act, verified

    number = await verified(client, tokens, fine_yuan=0)
    for who, name, payload in [("emergency_handler", "reply", {"reply": "已责令停止作业并立案处罚"}),
                               ("dispatcher1", "approve", {}),
                               ("agent1", "callback", {"satisfaction": "unsatisfied", "resolved": False}),
                               ("emergency_handler", "appeal", {"reason": "已依法处罚"})]:
        assert (await act(client, tokens[who], number, name, payload)).status_code == 200
    visit = (await client.post(f"/api/orders/{number}/site-visits", headers=tokens["supervisor1"], json={
        "purpose": "appeal", "scheduled_at": _when(), "staff": ["supervisor1"]})).json()
    await client.post(f"/api/site-visits/{visit['id']}/record", headers=tokens["supervisor1"], json={
        "findings": "储罐区已停止动火作业", "conclusion": "partly", "address": "观沙岭街道工业园3号"})
    handler = tokens["emergency_handler"]
    seen = [(await client.get(f"/api/orders/{number}/site-visits", headers=handler)).text,
            (await client.get(f"/api/site-visits/{visit['id']}", headers=handler)).text,
            (await client.get(f"/api/orders/{number}", headers=handler)).text]
    assert "部分属实" in seen[0]
    assert not [s for s in SECRETS if any(s in text for text in seen)]


async def test_the_phone_form_names_each_missing_field_and_only_phone_pages_may_locate(client, tokens):
    from tests.test_console import Staff

    number = await appealed_order(client.platform)
    visit = (await client.post(f"/api/orders/{number}/site-visits", headers=tokens["supervisor1"], json={
        "purpose": "appeal", "scheduled_at": _when(), "staff": ["dispatcher1"]})).json()
    me = Staff(client)
    await me.login("dispatcher1")
    page = await me.get(f"/console/m/visits/{visit['id']}")
    assert page.status_code == 200 and 'capture="environment"' in page.text
    assert "geolocation=(self)" in page.headers["permissions-policy"]
    assert "geolocation=()" in (await me.get("/console")).headers["permissions-policy"]

    refused = await me.post(f"/console/m/visits/{visit['id']}", {"findings": "", "latitude": "95", "longitude": "1"},
                            files={"photos": ("scan.jpg", PDF, "image/jpeg")})
    assert refused.status_code == 400
    assert "请填写核实情况" in refused.text and "请选择核实结论" in refused.text
    refused = await me.post(f"/console/m/visits/{visit['id']}", {"findings": "仍在施工", "conclusion": "confirmed",
                                                                  "latitude": "95", "longitude": "1"})
    assert refused.status_code == 400 and 'id="place"' in refused.text and "不大于 90" in refused.text
    refused = await me.post(f"/console/m/visits/{visit['id']}", {"findings": "仍在施工", "conclusion": "confirmed",
                                                                  "address": "梅溪湖"},
                            files={"photos": ("scan.jpg", PDF, "image/jpeg")})
    assert refused.status_code == 400 and 'id="photos-error"' in refused.text
    assert (await me.post(f"/console/m/visits/{visit['id']}", {"findings": "仍在施工"}, token=False)).status_code == 403
    done = await me.post(f"/console/m/visits/{visit['id']}", {"findings": "仍在施工", "conclusion": "confirmed",
                                                               "address": "梅溪湖"},
                         files={"photos": ("现场.jpg", jpeg(40, 30), "image/jpeg")})
    assert done.status_code == 200 and "已记录实地核实" in done.text and "现场.jpg" in done.text
