"""保管期限 and 销毁: without rules everything is kept; an admin sets how long archived orders of a kind
or channel are kept, and a purge destroys what the rules allow, every row of each destroyed order
(a plugin's own rows too), and writes the destruction register, while the report facts still count
the orders. Open orders, recent ones and orders no rule covers are kept; a dry run writes nothing."""

from __future__ import annotations

import datetime as dt
import re

import msgspec
import pytest

from core.callbacks import CallbackPolicy
from core.clock import SHANGHAI
from core.errors import Forbidden, InvalidInput
from core.intake import IntakeRequest
from core.model import Actor
from core.reports import facts
from core.reports.tables import ReportFact
from core.retention import RuleInput
from core.search import ORDER_INDEX
from core.tables import (AssistingPart, Attachment, CallDial, CallLink, CityDiscrepancy, KnowledgeCitation, Meeting,
                         MeetingOrder, Order, OrderEvent, OutboxEvent, OutboxMessage, PurgedOrder, PurgeRun, QaSample,
                         RetentionRule, SettingChange, SiteVisit, SurveyCall, TextMessage)
from tests.helpers import intake_body, png

AGENT = Actor(name="agent1", role="agent")
ADMIN = Actor(name="admin", role="admin")
NOW = dt.datetime(2037, 6, 15, 10, 0, tzinfo=SHANGHAI)


def years_ago(years: int) -> dt.datetime:
    return NOW.replace(year=NOW.year - years)


async def _intake(platform, frozen_clock, at: dt.datetime, **overrides) -> str:
    frozen_clock.freeze(at)
    request = msgspec.convert(intake_body(**overrides), IntakeRequest)
    _, made = await platform.orders.intake("hotline", request, AGENT)
    return made.number


async def _archived(platform, frozen_clock, at: dt.datetime, kind: str = "consult") -> str:
    """An order answered on the call and archived at ``at``."""
    platform.orders.callbacks = CallbackPolicy(resolved_at_intake="none")
    number = await _intake(platform, frozen_clock, at, kind=kind)
    done = await platform.orders.act(number, "resolve_at_intake", {"reply": "已电话解答"}, AGENT)
    assert done.order.status == "archived"
    return number


async def _consult_rule(platform, frozen_clock, years: int = 10) -> None:
    """The rule for 咨询, set today, when the centre has taken a new call (a working centre always has
    orders newer than the ones due)."""
    await _intake(platform, frozen_clock, NOW, kind="consult")
    await platform.retention.set_rule(RuleInput(kind="consult", years=years, basis="《档案管理办法》第十二条"), ADMIN)


async def _id(number: str) -> int:
    return (await Order.select(Order.id).where(Order.number == number).first())["id"]


async def _rows_of(platform, order_id: int, number: str) -> dict[str, int]:
    """How many rows each core table (and the search index) holds for the order."""
    from core.db import run

    counts = {}
    for table in (OrderEvent, Attachment, SurveyCall, AssistingPart, QaSample, SiteVisit):
        counts[table._meta.tablename] = await table.count().where(table.order_id == order_id)
    for table in (CallLink, CallDial, MeetingOrder, KnowledgeCitation, TextMessage, CityDiscrepancy, OutboxMessage):
        counts[table._meta.tablename] = await table.count().where(table.order_number == number)
    counts["orders"] = await Order.count().where(Order.id == order_id)
    column = "rowid" if ORDER_INDEX._sqlite(platform.engine) else "id"
    found = await run(platform.engine, f"SELECT COUNT(*) AS n FROM order_search WHERE {column} = {{}}", order_id)
    counts["order_search"] = found[0]["n"]
    return counts


async def _every_row(platform, order_id: int, number: str) -> tuple[str, int]:
    """Give the order a row in every core table that names orders; returns its attachment's file key
    and its delivered message's id."""
    key = platform.attachments.save(png(), "image/png")
    await Attachment.insert(Attachment(order_id=order_id, key=key, filename="现场.png", content_type="image/png",
                                       size=10, uploaded_by="agent1"))
    await SurveyCall.insert(SurveyCall(survey_id=1, order_id=order_id, order_number=number))
    await AssistingPart.insert(AssistingPart(order_id=order_id, department="housing", status="submitted",
                                             assigned_at=NOW, due=NOW))
    await QaSample.insert(QaSample(order_id=order_id, order_number=number, agent="agent1", reason="random",
                                   received_at=NOW))
    await SiteVisit.insert(SiteVisit(order_id=order_id, purpose="verify"))
    await CallLink.insert(CallLink(call_key="pbx/1", order_number=number))
    await CallDial.insert(CallDial(reference="dial-1", order_number=number, number="13912345678"))
    meeting = (await Meeting.insert(Meeting(title="协调会", at=NOW, orders=[number], minutes="已议定",
                                            minutes_at=NOW)).returning(Meeting.id))[0]["id"]
    await MeetingOrder.insert(MeetingOrder(meeting_id=meeting, order_number=number))
    await KnowledgeCitation.insert(KnowledgeCitation(article_id=1, version_number=1, order_number=number,
                                                     actor="agent1"))
    await TextMessage.insert(TextMessage(kind="sms", recipient="13912345678", order_number=number, text="您的诉求已办结",
                                         status="sent"))
    await CityDiscrepancy.insert(CityDiscrepancy(order_number=number, external_id="C1", ours="archived", theirs="办结",
                                                 resolved_at=NOW))
    sent = (await OutboxMessage.insert(OutboxMessage(topic="sms", order_number=number, payload={"phone": "139"},
                                                     delivered_at=NOW)).returning(OutboxMessage.id))[0]["id"]
    await OutboxEvent.insert(OutboxEvent(message_id=sent, action="retry", actor="admin"))
    return key, sent


async def test_without_rules_nothing_is_due_and_nothing_is_destroyed(platform, frozen_clock):
    number = await _archived(platform, frozen_clock, years_ago(30))
    frozen_clock.freeze(NOW)
    assert await platform.retention.due() == []
    run = await platform.retention.purge(ADMIN)
    assert run["destroyed"] == 0 and await Order.count().where(Order.number == number) == 1


async def test_an_order_kept_past_its_rule_is_destroyed_with_all_its_rows(platform, frozen_clock):
    """A rule for 咨询, 10 years: archived 11 years ago goes, with every row that names it; archived
    9 years ago, still open after 11 years, or of another kind, it stays."""
    old = await _archived(platform, frozen_clock, years_ago(11))
    recent = await _archived(platform, frozen_clock, years_ago(9))
    still_open = await _intake(platform, frozen_clock, years_ago(11), kind="consult")
    complaint = await _archived(platform, frozen_clock, years_ago(11), kind="complaint")
    old_id = await _id(old)
    key, sent = await _every_row(platform, old_id, old)
    await _consult_rule(platform, frozen_clock)
    frozen_clock.freeze(NOW)
    assert [o.number for o in await platform.retention.due()] == [old]
    assert (await _rows_of(platform, old_id, old))["order_search"] == 1
    await facts.refresh()
    progress = []
    run = await platform.retention.purge(ADMIN, progress=progress.append)
    assert run["destroyed"] == 1 and progress == [1] and run["operator"] == "admin" and run["files"] == 1
    assert set((await _rows_of(platform, old_id, old)).values()) == {0}
    assert await OutboxEvent.count().where(OutboxEvent.message_id == sent) == 0
    with pytest.raises(FileNotFoundError):
        platform.attachments.open(key)
    for kept in (recent, still_open, complaint):
        assert await Order.count().where(Order.number == kept) == 1
    # the register: the run and the order, with nothing personal
    [entry] = await platform.retention.register(run["id"])
    assert entry["number"] == old and entry["channel"] == "综合热线" and entry["kind"] == "咨询"
    assert entry["received"] == years_ago(11).date().isoformat() and entry["closed"] == years_ago(11).date().isoformat()
    assert entry["rule"] == "所有渠道 · 咨询 10 年" and entry["basis"] == "《档案管理办法》第十二条"
    assert "13912345678" not in str(entry) and "李女士" not in str(entry)
    assert run["rules"] == [{"key": "*/consult", "label": "所有渠道 · 咨询", "years": 10,
                             "basis": "《档案管理办法》第十二条"}]
    # past reports still count it
    assert await ReportFact.count().where(ReportFact.order_id == old_id) == 1
    await facts.refresh(full=True)
    assert await ReportFact.count().where(ReportFact.order_id == old_id) == 1
    # a second run finds nothing more
    assert (await platform.retention.purge(ADMIN))["destroyed"] == 0
    assert await PurgeRun.count() == 2 and await PurgedOrder.count() == 1


async def test_a_plugins_own_rows_of_the_order_go_too(platform, frozen_clock):
    from plugins.environment.tables import SourceReport

    number = await _archived(platform, frozen_clock, years_ago(11))
    await SourceReport.insert(SourceReport(order_id=await _id(number), order_number=number, source_key="化工厂",
                                           received_at=years_ago(11)))
    await SourceReport.insert(SourceReport(order_id=999999, order_number="OTHER", source_key="化工厂",
                                           received_at=years_ago(1)))
    await _consult_rule(platform, frozen_clock)
    frozen_clock.freeze(NOW)
    assert (await platform.retention.purge(ADMIN))["destroyed"] == 1
    assert [r["order_number"] for r in await SourceReport.select(SourceReport.order_number)] == ["OTHER"]


async def test_orders_are_destroyed_in_bounded_batches(platform, frozen_clock):
    numbers = [await _archived(platform, frozen_clock, years_ago(12)) for _ in range(5)]
    await _consult_rule(platform, frozen_clock)
    frozen_clock.freeze(NOW)
    progress = []
    run = await platform.retention.purge(ADMIN, size=2, progress=progress.append)
    assert progress == [2, 4, 5] and run["destroyed"] == 5
    assert sorted(r["number"] for r in await platform.retention.register(run["id"])) == sorted(numbers)


async def test_a_merged_order_goes_with_the_archived_order_it_was_merged_into(platform, frozen_clock):
    platform.orders.callbacks = CallbackPolicy(resolved_at_intake="none")
    target = await _intake(platform, frozen_clock, years_ago(12), kind="consult")
    duplicate = await _intake(platform, frozen_clock, years_ago(12), kind="consult")
    dispatcher = Actor(name="dispatcher1", role="dispatcher")
    await platform.orders.act(duplicate, "merge", {"into": target, "reason": "重复来电"}, dispatcher)
    await _consult_rule(platform, frozen_clock)
    frozen_clock.freeze(NOW)
    assert await platform.retention.due() == []  # the order it was merged into is still open
    frozen_clock.freeze(years_ago(9))
    await platform.orders.act(target, "resolve_at_intake", {"reply": "已电话解答"}, AGENT)
    frozen_clock.freeze(NOW)
    assert await platform.retention.due() == []  # archived 9 years ago: both are kept
    frozen_clock.freeze(years_ago(-2))
    assert [o.number for o in await platform.retention.due()] == [target]  # its text message is not out yet
    await OutboxMessage.update({OutboxMessage.delivered_at: NOW}, force=True)
    assert sorted(o.number for o in await platform.retention.due()) == sorted([target, duplicate])


async def test_an_order_on_a_meeting_still_under_way_is_kept(platform, frozen_clock):
    number = await _archived(platform, frozen_clock, years_ago(11))
    meeting = (await Meeting.insert(Meeting(title="协调会", at=NOW, orders=[number])).returning(Meeting.id))[0]["id"]
    await MeetingOrder.insert(MeetingOrder(meeting_id=meeting, order_number=number))
    await _consult_rule(platform, frozen_clock)
    frozen_clock.freeze(NOW)
    assert await platform.retention.due() == []


async def test_the_longest_rule_covering_an_order_wins(platform, frozen_clock):
    number = await _archived(platform, frozen_clock, years_ago(11))
    await _consult_rule(platform, frozen_clock, 10)
    await platform.retention.set_rule(RuleInput(channel="hotline", kind="consult", years=30, basis="本区规定"), ADMIN)
    frozen_clock.freeze(NOW)
    assert await platform.retention.due() == []
    assert await Order.count().where(Order.number == number) == 1


async def test_the_dry_run_counts_per_rule_and_writes_nothing(platform, frozen_clock):
    first = await _archived(platform, frozen_clock, years_ago(15))
    await _archived(platform, frozen_clock, years_ago(11))
    await _consult_rule(platform, frozen_clock)
    frozen_clock.freeze(NOW)
    before = {t: await t.count() for t in (Order, OrderEvent, PurgeRun, PurgedOrder, SettingChange)}
    [row] = await platform.retention.summary()
    assert row["label"] == "所有渠道 · 咨询" and row["count"] == 2
    assert row["oldest"] == years_ago(15).date().isoformat() and row["newest"] == years_ago(11).date().isoformat()
    assert {t: await t.count() for t in before} == before
    assert await Order.count().where(Order.number == first) == 1


async def test_rules_are_checked_changed_by_admins_only_and_audited(platform):
    retention = platform.retention
    with pytest.raises(Forbidden):
        await retention.set_rule(RuleInput(kind="consult", years=10, basis="依据"), AGENT)
    with pytest.raises(InvalidInput) as refused:
        await retention.set_rule(RuleInput(years=0, basis=" "), ADMIN)
    assert {e.key for e in refused.value.extra} == {"channel", "years", "basis"}
    with pytest.raises(InvalidInput) as refused:
        await retention.set_rule(RuleInput(channel="nowhere", kind="x", years=101, basis="依据"), ADMIN)
    assert {e.key for e in refused.value.extra} == {"channel", "kind", "years"}
    await retention.set_rule(RuleInput(kind="consult", years=10, basis="《档案管理办法》第十二条"), ADMIN)
    await retention.set_rule(RuleInput(kind="consult", years=15, basis="市档案馆通知"), ADMIN)
    await retention.remove_rule("*/consult", "改按专线分别设定", ADMIN)
    assert await RetentionRule.count() == 0
    history = await retention.history()
    assert [(h["old"], h["new"], h["reason"]) for h in history] == [
        ("15 年", "（已删除）", "改按专线分别设定"), ("10 年", "15 年", "市档案馆通知"),
        ("（无）", "10 年", "《档案管理办法》第十二条")]
    assert all(h["label"] == "所有渠道 · 咨询" and h["changed_by"] == "admin" for h in history)


async def test_only_an_admin_may_purge(platform):
    with pytest.raises(Forbidden):
        await platform.retention.purge(Actor(name="supervisor1", role="supervisor"))
    assert await PurgeRun.count() == 0


# -- the console page --------------------------------------------------------------------------------

async def _staff(client, username: str):
    from tests.test_console import Staff

    staff = Staff(client)
    await staff.login(username)
    return staff


async def test_an_agent_reads_the_rules_but_cannot_change_them_or_purge(client):
    agent = await _staff(client, "agent1")
    page = await agent.get("/console/admin/retention")
    assert page.status_code == 200 and "保管期限" in page.text and "还没有保管规则" in page.text
    assert "retention-form" not in page.text
    refused = await agent.post("/console/admin/retention", {"kind": "consult", "years": "10", "basis": "依据"})
    assert refused.status_code == 403
    assert (await agent.get("/console/admin/retention/purge")).status_code == 403
    confirmed = await agent.post("/console/admin/retention/purge", {"confirmation": "确认销毁", "total": "0"})
    assert confirmed.status_code == 403
    assert await RetentionRule.count() == 0


async def test_an_admin_sets_a_rule_sees_what_is_due_and_destroys_it_after_confirming(client, frozen_clock):
    platform = client.platform
    number = await _archived(platform, frozen_clock, years_ago(11))
    await _intake(platform, frozen_clock, NOW, kind="consult")
    admin = await _staff(client, "admin1")
    await admin.get("/console/admin/retention")
    bad = await admin.post("/console/admin/retention", {"kind": "consult", "years": "10", "basis": ""})
    assert bad.status_code == 400 and "请写明依据" in bad.text and 'value="10"' in bad.text
    done = await admin.post("/console/admin/retention", {"kind": "consult", "years": "10",
                                                          "basis": "《档案管理办法》第十二条"}, follow_redirects=True)
    assert done.status_code == 200 and "已设定：所有渠道 · 咨询 保管 10 年" in done.text
    shown = re.sub(r'(value|href|action|name|id|for)="[^"]*"', "", done.text.split("<main", 1)[-1])
    assert "consult" not in shown and "hotline" not in shown  # labels, not codes
    due = done.text.split('id="retention-due"', 1)[1].split("</table>", 1)[0]
    assert "所有渠道 · 咨询（10 年）" in due and ">1<" in due
    # the second step: nothing goes without the typed confirmation
    confirm = await admin.get("/console/admin/retention/purge")
    assert confirm.status_code == 200 and 'id="confirm-total">1<' in confirm.text
    wrong = await admin.post("/console/admin/retention/purge", {"confirmation": "好", "total": "1"})
    assert wrong.status_code == 400 and "请输入「确认销毁」" in wrong.text
    stale = await admin.post("/console/admin/retention/purge", {"confirmation": "确认销毁", "total": "2"})
    assert stale.status_code == 409
    assert await Order.count().where(Order.number == number) == 1 and await PurgeRun.count() == 0
    purged = await admin.post("/console/admin/retention/purge", {"confirmation": "确认销毁", "total": "1"},
                              follow_redirects=True)
    assert purged.status_code == 200 and "已销毁 1 件工单" in purged.text
    assert await Order.count().where(Order.number == number) == 0
    [run] = await platform.retention.runs()
    assert run["via"] == "console" and run["operator"] == "admin1"
    csv = await admin.get(f"/console/admin/retention/runs/{run['id']}/register.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("工单编号,渠道,诉求类型") and lines[1].startswith(f"{number},综合热线,咨询,已归档")
    assert len(lines) == 2


# -- the command line --------------------------------------------------------------------------------

def test_the_command_line_shows_a_dry_run_and_purges_as_a_named_admin(tmp_path):
    import os
    import sqlite3
    import subprocess
    import sys

    env = {**os.environ, "HUYING_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
           "HUYING_VAR_DIR": str(tmp_path / "var"), "PICCOLO_CONF": "core.piccolo_conf"}

    def huying(*args, **overrides):
        return subprocess.run([sys.executable, "-m", "api.cli", *args], env={**env, **overrides},
                              capture_output=True, text=True, timeout=180)

    assert huying("demo", "--orders", "30").returncode == 0
    later = {"HUYING_CLOCK": "2090-01-01T10:00:00+08:00"}
    none = huying("purge", "--dry-run", **later)
    assert none.returncode == 0 and "没有保管规则" in none.stdout
    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        db.execute("INSERT INTO retention_rules (key, channel, kind, years, basis, updated_by, updated_at) "
                   "VALUES ('*/consult', '', 'consult', 10, '《档案管理办法》第十二条', 'admin', '2026-01-01T00:00:00+00:00')")
        due = db.execute("SELECT count(*) FROM orders WHERE kind = 'consult' AND status = 'archived' "
                         "AND id < (SELECT MAX(id) FROM orders)").fetchone()[0]
        before = db.execute("SELECT count(*) FROM orders").fetchone()[0]
    dry = huying("purge", "--dry-run", **later)
    assert dry.returncode == 0, dry.stderr
    assert f"所有渠道 · 咨询（归档后 10 年，依据：《档案管理办法》第十二条）：到期 {due} 件" in dry.stdout
    assert "未销毁" in dry.stdout
    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM orders").fetchone()[0] == before
        assert db.execute("SELECT count(*) FROM purge_runs").fetchone()[0] == 0
    assert "--operator" in huying("purge", "--confirm", **later).stderr
    refused = huying("purge", "--confirm", "--operator", "agent1", **later)
    assert refused.returncode != 0 and "不是在用的管理员账号" in refused.stderr
    done = huying("purge", "--confirm", "--operator", "admin", **later)
    assert done.returncode == 0, done.stderr
    assert f"已销毁 {due}/{due} 件" in done.stdout and f"销毁 {due} 件工单" in done.stdout
    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM orders").fetchone()[0] == before - due
        assert db.execute("SELECT count(*) FROM purged_orders").fetchone()[0] == due
        assert db.execute("SELECT operator, destroyed FROM purge_runs").fetchall() == [("admin", due)]


async def test_on_sqlite_the_newest_order_is_kept_so_its_id_is_never_given_again(platform, frozen_clock):
    first = await _archived(platform, frozen_clock, years_ago(12))
    newest = await _archived(platform, frozen_clock, years_ago(11))
    await platform.retention.set_rule(RuleInput(kind="consult", years=10, basis="《档案管理办法》第十二条"), ADMIN)
    frozen_clock.freeze(NOW)
    due = [o.number for o in await platform.retention.due()]
    assert due == ([first] if platform.settings.is_sqlite else [first, newest])
