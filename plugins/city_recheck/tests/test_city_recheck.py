"""市级回访复查 over the API: a file of the city's callback results is previewed, then committed in one
transaction; each good row becomes a recheck order sent back to the original's department, the
original's timeline shows it, the department records the outcome, and the counts feed the reports."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl
import pytest

from core import clock
from core.plugin_api import Actor
from plugins.city_recheck import imports
from plugins.city_recheck import rows as reading
from plugins.city_recheck.tables import Recheck, RecheckImport
from tests.helpers import city_transfer, intake_body, png

PNG = png()  # a real image: uploads are decoded
HEADER = ["工单编号", "市级编号", "回访时间", "回访结果", "不满意原因"]


@pytest.fixture
async def client(client):
    await Recheck.delete(force=True)
    await RecheckImport.delete(force=True)
    return client


async def _act(client, headers, number, action, payload=None):
    response = await client.post(f"/api/orders/{number}/actions/{action}", json=payload or {}, headers=headers)
    assert response.status_code == 200, (action, response.text)
    return response.json()


async def _transferred(client, tokens, city_number, *, department="eco_env", complete=True) -> dict:
    """An order the city transferred to us, handled by ``department`` and (by default) completed."""
    number = (await city_transfer(client.platform, external_id=city_number)).number
    handler = {"eco_env": "eco_handler", "housing": "housing_handler"}[department]
    await _act(client, tokens["dispatcher1"], number, "dispatch", {"department": department})
    await _act(client, tokens[handler], number, "accept")
    if complete:
        await _act(client, tokens[handler], number, "reply", {"reply": "已责令工地夜间停工。"})
        await _act(client, tokens["dispatcher1"], number, "approve")
    return {"number": number}


def _csv(rows, header=HEADER) -> bytes:
    lines = [",".join(header), *[",".join(r) for r in rows]]
    return ("\n".join(lines) + "\n").encode("utf-8-sig")


async def _upload(client, tokens, data: bytes, filename="回访结果.csv", user="dispatcher1"):
    return await client.post("/api/city-recheck/imports", files={"data": (filename, data)}, headers=tokens[user])


async def _two_originals(client, tokens):
    first = await _transferred(client, tokens, "SJ20261101000001")
    second = await _transferred(client, tokens, "SJ20261101000002", department="housing")
    return first, second


async def test_the_channel_is_listed_with_its_fields_but_has_no_citizens_form(client):
    channel = (await client.get("/api/channels/city_recheck")).json()
    assert channel["name"] == "市级回访复查" and channel["public"] is False
    assert [(f["name"], f["label"], f["type"], f["required"]) for f in channel["fields"]] == [
        ("original_number", "原工单编号", "string", True), ("city_number", "市级编号", "string", True),
        ("callback_at", "回访时间", "datetime", True), ("callback_result", "回访结果", "choice", True),
        ("callback_reason", "不满意原因", "text", False)]
    assert channel["fields"][3]["choices"] == {"unsatisfied": "不满意", "unresolved": "未办结"}
    assert (await client.get("/forms/city_recheck")).status_code == 404
    assert "/forms/city_recheck" not in (await client.get("/forms")).text


async def test_a_recheck_cannot_be_taken_in_directly(client, tokens):
    details = {"original_number": "XJ20261101000001", "city_number": "SJ1", "callback_at": "2026-11-20T10:00:00+08:00",
               "callback_result": "unsatisfied"}
    response = await client.post("/api/channels/city_recheck/orders", json=intake_body(details=details),
                                 headers=tokens["agent1"])
    assert response.status_code == 400 and response.json()["extra"][0]["key"] == "channel"
    bad = await client.post("/api/channels/city_recheck/orders", headers=tokens["agent1"],
                            json=intake_body(details={**details, "callback_result": "satisfied"}))
    assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "details.callback_result"


async def test_a_file_with_good_duplicate_and_unknown_rows_imports_exactly_the_good_ones(client, tokens):
    first, second = await _two_originals(client, tokens)
    open_order = await _transferred(client, tokens, "SJ20261101000003", complete=False)
    data = _csv([
        [first["number"], "SJ20261101000001", "2026-11-20 10:15", "不满意", "夜里还在施工"],
        ["", "SJ20261101000002", "2026/11/20 11:00", "未办结", "物业仍未整改"],
        [first["number"], "SJ20261101000001", "2026-11-20 10:15", "不满意", "重复的一行"],
        ["", "SJ20269999999999", "2026-11-20 12:00", "不满意", "查无此单"],
        [second["number"], "SJ20261101000001", "2026-11-21 09:00", "不满意", "编号对不上"],
        ["", "SJ20261101000003", "2026-11-21 09:00", "不满意", "还在办"],
        ["", "SJ20261101000002", "昨天下午", "满意", ""],
    ])
    preview = await _upload(client, tokens, data)
    assert preview.status_code == 201, preview.text
    report = preview.json()
    assert report["status"] == "previewed"
    assert report["counts"] == {"ok": 2, "created": 0, "duplicate": 1, "unknown": 1, "invalid": 3}
    verdicts = {r["line"]: (r["status"], r["message"]) for r in report["rows"]}
    assert verdicts[4] == ("duplicate", "与第 2 行是同一条回访（市级编号和回访时间相同）")
    assert verdicts[5] == ("unknown", "市级编号 SJ20269999999999 在本平台没有对应的市级转派工单")
    assert verdicts[6] == ("invalid", f"工单编号 {second['number']} 与市级编号 SJ20261101000001 对应的工单 "
                                      f"{first['number']} 不一致")
    assert verdicts[7] == ("invalid", f"原工单 {open_order['number']} 当前为「办理中」，尚未办结，无需复查")
    assert verdicts[8][0] == "invalid" and "回访时间「昨天下午」无法识别" in verdicts[8][1]
    assert "回访结果为「满意」，无需复查" in verdicts[8][1]
    assert await Recheck.count() == 0
    assert (await client.get("/api/orders", params={"channel": "city_recheck"}, headers=tokens["agent1"])).json()["total"] == 0

    committed = await client.post(f"/api/city-recheck/imports/{report['id']}/commit", headers=tokens["dispatcher1"])
    assert committed.status_code == 200, committed.text
    result = committed.json()
    assert result["status"] == "committed"
    assert result["counts"] == {"ok": 0, "created": 2, "duplicate": 1, "unknown": 1, "invalid": 3}
    made = {r["line"]: r["recheck_number"] for r in result["rows"] if r["status"] == "created"}
    assert sorted(made) == [2, 3]

    recheck = (await client.get(f"/api/orders/{made[2]}", headers=tokens["agent1"])).json()
    assert recheck["channel"] == "city_recheck" and recheck["status"] == "dispatched"
    assert recheck["department"] == "eco_env" and recheck["citizen"]["phone"] == "139****5678"
    assert recheck["details"]["original_number"] == first["number"]
    assert recheck["details"]["city_number"] == "SJ20261101000001"
    assert recheck["details"]["callback_result"] == "unsatisfied"
    assert recheck["subject"].startswith("复查：") and "夜里还在施工" in recheck["content"]
    dispatch = next(e for e in recheck["events"] if e["action"] == "dispatch")
    assert dispatch["reason"] == f"复查工单派回原承办单位（原工单 {first['number']} 由该单位办理）"
    other = (await client.get(f"/api/orders/{made[3]}", headers=tokens["agent1"])).json()
    assert other["department"] == "housing" and other["details"]["callback_result"] == "unresolved"

    original = (await client.get(f"/api/orders/{first['number']}", headers=tokens["agent1"])).json()
    note = original["events"][-1]
    assert note["action"] == "recheck_opened" and note["actor"] == "dispatcher1"
    assert note["reason"] == f"市级回访不满意，已生成复查工单 {made[2]}"
    assert note["payload"]["city_number"] == "SJ20261101000001" and original["status"] == "completed"

    again = await _upload(client, tokens, data)
    assert again.json()["counts"]["ok"] == 0 and again.json()["counts"]["duplicate"] == 3
    assert next(r for r in again.json()["rows"] if r["line"] == 2)["message"].endswith(f"复查工单 {made[2]}")


async def test_an_xlsx_file_with_reordered_and_extra_columns_is_read_by_its_header(client, tokens):
    first, _ = await _two_originals(client, tokens)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["序号", "不满意原因", "回访结果", "承办单位", "回访时间", "市级编号", "工单编号"])
    sheet.append([1, "噪音依旧", "不满意", "生态环境分局", dt.datetime(2026, 11, 20, 10, 15), "SJ20261101000001",
                  first["number"]])
    sheet.append([2, "", "未办结", "住建局", "2026-11-20 11:00", "SJ20261101000002", None])
    buffer = io.BytesIO()
    book.save(buffer)
    response = await _upload(client, tokens, buffer.getvalue(), filename="市级回访.xlsx")
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["ignored_columns"] == ["序号", "承办单位"]
    assert [(r["status"], r["callback_at"], r["reason"]) for r in report["rows"]] == [
        ("ok", "2026-11-20T10:15:00+08:00", "噪音依旧"), ("ok", "2026-11-20T11:00:00+08:00", "")]


async def test_the_api_takes_the_same_rows_and_refuses_a_layout_without_a_required_column(client, tokens):
    first, _ = await _two_originals(client, tokens)
    rows = [{"市级编号": "SJ20261101000001", "回访时间": "2026-11-20T10:15:00+08:00", "回访结果": "不满意",
             "不满意原因": "夜里还在施工", "工单编号": first["number"]},
            {"市级编号": "SJ404", "回访时间": "2026-11-20 10:15", "回访结果": "未办结"}]
    response = await client.post("/api/city-recheck/imports/rows", json={"rows": rows, "name": "接口推送"},
                                 headers=tokens["dispatcher1"])
    assert response.status_code == 201, response.text
    assert [(r["line"], r["status"]) for r in response.json()["rows"]] == [(1, "ok"), (2, "unknown")]
    committed = await client.post(f"/api/city-recheck/imports/{response.json()['id']}/commit",
                                  headers=tokens["admin1"])
    assert committed.json()["counts"]["created"] == 1
    missing = await client.post("/api/city-recheck/imports/rows", headers=tokens["dispatcher1"],
                                json={"rows": [{"市级编号": "SJ1", "回访结果": "不满意"}]})
    assert missing.status_code == 400
    assert missing.json()["extra"] == [{"key": "rows", "message": "缺少必需的列：回访时间（表头须与市级平台导出一致，列的顺序不限）",
                                        "source": "body"}]
    no_header = await _upload(client, tokens, _csv([["SJ1", "2026-11-20 10:15", "不满意"]], header=["编号", "时间", "结果"]))
    assert no_header.status_code == 400 and no_header.json()["extra"][0]["key"] == "file"
    not_a_sheet = await _upload(client, tokens, b"PK\x03\x04garbage", filename="x.xlsx")
    assert not_a_sheet.status_code == 400 and not_a_sheet.json()["extra"][0]["key"] == "file"


async def test_a_form_without_the_file_is_refused_naming_the_part_to_send(client, tokens):
    """A multipart form whose parts are all plain fields used to fail inside the framework (500)."""
    response = await client.post("/api/city-recheck/imports", headers=tokens["dispatcher1"], data={"other": "x"},
                                 files={"unused": ("", b"")})
    assert response.status_code == 400, response.text
    assert response.json()["extra"] == [{"key": "data", "message": "请选择要导入的 XLSX 或 CSV 文件", "source": "body"}]
    text_for_file = await client.post("/api/city-recheck/imports", headers=tokens["dispatcher1"],
                                      data={"data": "not a file"}, files={"unused": ("", b"")})
    assert text_for_file.status_code == 400, text_for_file.text


async def test_only_the_centres_dispatchers_import_and_an_import_commits_once(client, tokens):
    await _two_originals(client, tokens)
    data = _csv([["", "SJ20261101000001", "2026-11-20 10:15", "不满意", "仍有噪音"]])
    for user in ("eco_handler", "agent1"):
        assert (await _upload(client, tokens, data, user=user)).status_code == 403
    report = (await _upload(client, tokens, data)).json()
    assert (await client.post(f"/api/city-recheck/imports/{report['id']}/commit",
                              headers=tokens["eco_handler"])).status_code == 403
    assert (await client.post(f"/api/city-recheck/imports/{report['id']}/commit",
                              headers=tokens["dispatcher1"])).status_code == 200
    twice = await client.post(f"/api/city-recheck/imports/{report['id']}/commit", headers=tokens["dispatcher1"])
    assert twice.status_code == 409 and "已经提交过" in twice.json()["detail"]
    assert (await client.post("/api/city-recheck/imports/999999/commit", headers=tokens["dispatcher1"])).status_code == 404
    assert await Recheck.count() == 1


async def test_a_failure_midway_leaves_nothing_half_imported(client, tokens, monkeypatch):
    first, second = await _two_originals(client, tokens)
    data = _csv([["", "SJ20261101000001", "2026-11-20 10:15", "不满意", "仍有噪音"],
                 ["", "SJ20261101000002", "2026-11-20 11:00", "未办结", "仍未整改"]])
    report = (await _upload(client, tokens, data)).json()
    service = client.platform.services  # what the import is handed
    real_note = service.note
    calls = []

    async def failing_note(number, action, actor, **kwargs):
        calls.append(number)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return await real_note(number, action, actor, **kwargs)

    monkeypatch.setattr(service, "note", failing_note)
    with pytest.raises(RuntimeError):
        await imports.commit(service, Actor(name="dispatcher1", role="dispatcher"), report["id"],
                             clock.now())
    monkeypatch.setattr(service, "note", real_note)
    assert await Recheck.count() == 0
    assert (await client.get("/api/orders", params={"channel": "city_recheck"}, headers=tokens["agent1"])).json()["total"] == 0
    original = (await client.get(f"/api/orders/{first['number']}", headers=tokens["agent1"])).json()
    assert "recheck_opened" not in [e["action"] for e in original["events"]]
    shown = (await client.get(f"/api/city-recheck/imports/{report['id']}", headers=tokens["dispatcher1"])).json()
    assert shown["status"] == "previewed"
    retried = await client.post(f"/api/city-recheck/imports/{report['id']}/commit", headers=tokens["dispatcher1"])
    assert retried.json()["counts"]["created"] == 2


async def _imported(client, tokens) -> tuple[dict, dict, dict]:
    first, second = await _two_originals(client, tokens)
    data = _csv([["", "SJ20261101000001", "2026-11-20 10:15", "不满意", "夜里还在施工"],
                 ["", "SJ20261101000002", "2026-11-20 11:00", "未办结", "仍未整改"]])
    report = (await _upload(client, tokens, data)).json()
    result = (await client.post(f"/api/city-recheck/imports/{report['id']}/commit", headers=tokens["dispatcher1"])).json()
    numbers = [r["recheck_number"] for r in result["rows"]]
    return first, second, {"eco": numbers[0], "housing": numbers[1]}


async def test_the_department_records_the_outcome_and_the_original_shows_it(client, tokens):
    first, _, rechecks = await _imported(client, tokens)
    number = rechecks["eco"]
    await _act(client, tokens["eco_handler"], number, "accept")
    reply = await client.post(f"/api/orders/{number}/actions/reply", json={"reply": "已复查"},
                              headers=tokens["eco_handler"])
    assert reply.status_code == 409 and "须先记录复查结论" in reply.json()["detail"]
    no_evidence = await client.post(f"/api/orders/{number}/actions/record_recheck", headers=tokens["eco_handler"],
                                    json={"outcome": "confirmed_resolved", "note": "现场已停工"})
    assert no_evidence.status_code == 400 and no_evidence.json()["extra"][0]["key"] == "evidence"
    elsewhere = await client.post(f"/api/orders/{number}/actions/record_recheck", headers=tokens["eco_handler"],
                                  json={"outcome": "confirmed_resolved", "note": "现场已停工", "evidence": ["nope"]})
    assert elsewhere.status_code == 400 and elsewhere.json()["extra"][0]["key"] == "evidence"
    bad = await client.post(f"/api/orders/{number}/actions/record_recheck", headers=tokens["eco_handler"],
                            json={"outcome": "fixed", "note": "x"})
    assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "outcome"
    assert (await client.post(f"/api/orders/{number}/actions/record_recheck", headers=tokens["dispatcher1"],
                              json={"outcome": "reworked", "note": "x"})).status_code == 403
    assert (await client.post(f"/api/orders/{number}/actions/record_recheck", headers=tokens["housing_handler"],
                              json={"outcome": "reworked", "note": "x"})).status_code == 404
    photo = await client.post(f"/api/orders/{number}/attachments", files={"data": ("现场.png", PNG)},
                              headers=tokens["eco_handler"])
    assert photo.status_code == 201, photo.text
    recorded = await _act(client, tokens["eco_handler"], number, "record_recheck",
                          {"outcome": "confirmed_resolved", "note": "夜间复查两次，工地已停工", "evidence": [photo.json()["key"]]})
    assert recorded["status"] == "accepted" and recorded["events"][-1]["action"] == "record_recheck"
    await _act(client, tokens["eco_handler"], number, "reply", {"reply": "经复查，工地已停止夜间施工。"})

    original = (await client.get(f"/api/orders/{first['number']}", headers=tokens["agent1"])).json()
    note = original["events"][-1]
    assert note["action"] == "recheck_outcome" and note["actor"] == "eco_handler"
    assert note["reason"] == f"复查工单 {number} 结论：确认已解决。夜间复查两次，工地已停工"
    assert note["payload"]["evidence"] == [photo.json()["key"]]
    listed = (await client.get(f"/api/orders/{first['number']}/rechecks", headers=tokens["eco_handler"])).json()
    assert [(r["recheck_number"], r["outcome"], r["outcome_label"]) for r in listed] == [(number, "confirmed_resolved", "确认已解决")]
    assert (await client.get(f"/api/orders/{first['number']}/rechecks", headers=tokens["housing_handler"])).status_code == 404


async def test_counts_by_outcome_and_department_feed_the_reports(client, tokens):
    _, _, rechecks = await _imported(client, tokens)
    await _act(client, tokens["housing_handler"], rechecks["housing"], "accept")
    await _act(client, tokens["housing_handler"], rechecks["housing"], "record_recheck",
               {"outcome": "not_verifiable", "note": "三次联系市民均未接通"})
    stats = (await client.get("/api/city-recheck/stats", headers=tokens["supervisor1"])).json()
    assert stats["total"] == 2
    assert stats["by_outcome"] == {"confirmed_resolved": 0, "reworked": 0, "not_verifiable": 1, "pending": 1}
    assert [(c["department"], c["outcome"], c["count"]) for c in stats["by_department_and_outcome"]] == [
        ("eco_env", "pending", 1), ("housing", "not_verifiable", 1)]
    own = (await client.get("/api/city-recheck/stats", headers=tokens["housing_handler"])).json()
    assert [(c["department"], c["outcome"]) for c in own["by_department_and_outcome"]] == [("housing", "not_verifiable")]
    future = (await client.get("/api/city-recheck/stats", params={"start": "2099-01-01"}, headers=tokens["supervisor1"])).json()
    assert future["total"] == 0
    wrong = await client.get("/api/city-recheck/stats", params={"start": "2026-12-01", "end": "2026-11-01"},
                             headers=tokens["supervisor1"])
    assert wrong.status_code == 400 and wrong.json()["extra"][0]["key"] == "start"


def _forged_dimension(data: bytes) -> bytes:
    """The same workbook claiming to span every row and column a sheet can have."""
    import re
    import zipfile

    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename.startswith("xl/worksheets/"):
                content = re.sub(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1:XFD1048576"/>', content)
            target.writestr(info, content)
    return out.getvalue()


async def test_a_workbook_is_read_by_its_content_not_by_the_size_it_claims(client, tokens):
    """A small file cannot make the server walk a million empty rows of 16384 columns."""
    await _two_originals(client, tokens)
    book = openpyxl.Workbook()
    book.active.append(["市级编号", "回访时间", "回访结果"])
    book.active.append(["SJ20261101000001", "2026-11-20 10:15", "不满意"])
    buffer = io.BytesIO()
    book.save(buffer)
    forged = _forged_dimension(buffer.getvalue())
    assert [len(r) for r in reading._xlsx(forged)] == [3, 3]  # not 16384 cells a row, as the file claims
    response = await _upload(client, tokens, forged, filename="回访.xlsx")
    assert response.status_code == 201, response.text
    assert [(r["line"], r["status"]) for r in response.json()["rows"]] == [(2, "ok")]
