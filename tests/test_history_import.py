"""Taking over a running hotline: the outgoing system's export imported with a generated and edited
mapping (dry run, refused rows corrected and imported, a second run adding nothing), and the
imported orders found, in caller history and in last year's report; bulk-written orders indexed,
``huying reindex`` and the health check's count of orders missing from the index."""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from core.history_import import (REFUSAL_COLUMN, Mapping, import_history, init_mapping, mapping_text,
                                 read_source)
from core.calendar import SHANGHAI
from core.model import Actor
from core.tables import Department, Order, OrderEvent

NOW = "2026-03-15T10:00:00+08:00"
HEADER = ["受理编号", "来电时间", "联系电话", "姓名", "诉求标题", "问题描述", "诉求类型", "承办单位", "工单状态",
          "答复内容", "办结时间", "满意度", "备注"]
DEPARTMENTS = ["城管局", "住建局", "人社局", "生态环境分局", "交通局", "区信访办"]
SUBJECTS = [("拖欠工资", "某公司拖欠农民工工资三个月，请求帮助讨薪"), ("路灯不亮", "小区门口路灯坏了一周没人修"),
            ("噪音扰民", "工地夜间施工噪音很大影响休息"), ("房屋漏水", "新房交付后卫生间漏水开发商不处理"),
            ("垃圾清运", "垃圾站满了没人清运气味很大")]
KINDS = ["投诉", "咨询", "求助", "建议", "意见"]
BAD = {7: ("联系电话", "12345"), 11: ("承办单位", "某物业公司"), 13: ("来电时间", "1998-05-01 10:00:00"),
       17: ("诉求标题", ""), 19: ("受理编号", "GD2025000003")}  # row index → (column, bad value)
ROWS = 240
OPEN_FROM = 220  # rows from here on are still open in the old system (received in 2026)


def old_export(path: Path) -> list[dict]:
    """An old 12345 system's export: its own column names, status words and department names,
    closed orders of 2025 and open ones of this year, and a few bad rows."""
    rng = random.Random(28)
    rows = []
    for i in range(ROWS):
        subject, content = SUBJECTS[i % len(SUBJECTS)]
        if i < OPEN_FROM:
            day, minute = i * 3 // 2, i * 37 % 600  # spread over 2025, in office hours
            received = f"2025-{1 + day // 28:02d}-{1 + day % 28:02d} {8 + minute // 60:02d}:{minute % 60:02d}:00"
            completed = f"2025-{1 + day // 28:02d}-{min(28, 3 + day % 28):02d} 23:30:00"
            status = "已回访" if i % 3 else "已办结"
            reply, rating = f"经核实已处理完毕（{i}）", ["满意", "基本满意", "不满意", ""][i % 4]
        else:
            received = f"2026-03-{1 + (i - OPEN_FROM) % 12:02d} 10:{i % 60:02d}:00"
            completed = reply = rating = ""
            status = ["处理中", "挂账", "待派单"][i % 3]
        phone = f"139{i:08d}" if i % 10 else f"+86 139-{i // 10000:04d}-{i % 10000:04d}"
        rows.append({"受理编号": f"GD2025{i:06d}", "来电时间": received, "联系电话": phone,
                     "姓名": rng.choice("王李张刘陈") + rng.choice(("先生", "女士")), "诉求标题": subject,
                     "问题描述": f"{content}。（原单 {i}）", "诉求类型": KINDS[i % len(KINDS)],
                     "承办单位": DEPARTMENTS[i % len(DEPARTMENTS)], "工单状态": status, "答复内容": reply,
                     "办结时间": completed, "满意度": rating, "备注": ""})
    for i, (column, value) in BAD.items():
        rows[i][column] = value
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return rows


async def _mapping(platform, path: Path) -> tuple[dict, Mapping]:
    """The generated starter, edited as the centre would: the values it could not recognise mapped."""
    departments = [(r["code"], r["name"]) for r in await Department.select(Department.code, Department.name)]
    mapping, comments = init_mapping([read_source(path)], departments, platform.channels)
    text = mapping_text(mapping, comments)
    data = tomllib.loads(text)  # the starter is valid TOML
    data["departments"]["区信访办"] = "general_office"
    data["statuses"]["挂账"] = "accepted"
    data["kinds"]["意见"] = "suggestion"
    edited = tomllib.loads(mapping_text(data))
    return data, Mapping.from_dict(edited, platform)


@pytest.mark.clock(NOW)
async def test_init_mapping_recognises_columns_and_departments(platform, tmp_path):
    """The starter maps the old export's columns and the departments it can name by name or
    abbreviation; values it does not know are left empty for the centre."""
    source = tmp_path / "old.csv"
    old_export(source)
    departments = [(r["code"], r["name"]) for r in await Department.select(Department.code, Department.name)]
    mapping, comments = init_mapping([read_source(source)], departments, platform.channels)
    assert mapping["columns"] | {} == {**mapping["columns"], "number": "受理编号", "received_at": "来电时间",
                                       "phone": "联系电话", "name": "姓名", "subject": "诉求标题",
                                       "content": "问题描述", "kind": "诉求类型", "department": "承办单位",
                                       "status": "工单状态", "reply": "答复内容", "completed_at": "办结时间",
                                       "rating": "满意度"}
    assert mapping["departments"] == {"城管局": "urban_mgmt", "住建局": "housing", "人社局": "hrss",
                                      "生态环境分局": "eco_env", "交通局": "transport", "区信访办": "",
                                      "某物业公司": ""}
    assert mapping["statuses"] == {"已回访": "archived", "已办结": "archived", "处理中": "accepted",
                                   "待派单": "received", "挂账": ""}
    assert mapping["kinds"]["意见"] == "" and mapping["kinds"]["投诉"] == "complaint"
    text = mapping_text(mapping, comments)
    assert "未识别" in text and "备注" in text  # unused column named for the centre
    with pytest.raises(Exception, match="工单状态"):
        Mapping.from_dict({**tomllib.loads(text), "columns": {"number": "受理编号", "received_at": "来电时间"}},
                          platform)


@pytest.mark.clock(NOW)
async def test_import_dry_run_refusals_correction_and_repeat(client, tokens, tmp_path):
    platform = client.platform
    source = tmp_path / "old.csv"
    rows = old_export(source)
    _, mapping = await _mapping(platform, source)

    dry = await import_history(platform, mapping, [source], dry_run=True, progress=False)
    refused = {o.line - 2: o.reasons for o in dry.outcomes if o.outcome == "refused"}
    assert set(refused) == set(BAD)
    assert "来电号码「12345」格式不正确" in refused[7][0]
    assert refused[11] == ["承办单位「某物业公司」在映射文件 [departments] 中没有对应"]
    assert refused[13] == ["受理时间早于 2000-01-01"]
    assert refused[17] == ["缺少诉求标题"]
    assert refused[19] == ["原工单编号与第 5 行重复"]
    assert dry.totals == {"rows": ROWS, "ok": ROWS - len(BAD), "merged": 0, "refused": len(BAD), "written": 0}
    assert await Order.count() == 0 and await OrderEvent.count() == 0  # a dry run writes nothing
    with open(dry.refused_file, encoding="utf-8-sig") as f:
        written = list(csv.DictReader(f))
    assert [r["受理编号"] for r in written] == [rows[i]["受理编号"] for i in sorted(BAD)]
    assert all(r[REFUSAL_COLUMN] for r in written)

    report = await import_history(platform, mapping, [source], progress=False)
    assert report.written == ROWS - len(BAD) == await Order.count()

    closed = await Order.select().where(Order.legacy_number == "GD2025000001").output(load_json=True).first()
    assert closed["status"] == "archived" and closed["department"] == "housing"  # 住建局
    assert closed["received_at"].astimezone(SHANGHAI).isoformat() == "2025-01-02T08:37:00+08:00"
    assert closed["rating"]["satisfaction"] == "basically_satisfied" and "imported" in closed["flags"]
    assert closed["number"].startswith("XJ202501")
    events = await OrderEvent.select().where(OrderEvent.order_id == closed["id"]).order_by(OrderEvent.id).output(
        load_json=True)
    assert [e["action"] for e in events] == ["intake", "dispatch", "accept", "reply", "approve", "callback"]
    assert {e["actor"] for e in events} == {"历史导入"} and events[3]["payload"]["reply"] == "经核实已处理完毕（1）"
    assert events[4]["created_at"].astimezone(SHANGHAI).isoformat() == "2025-01-04T23:30:00+08:00"
    open_row = await Order.select().where(Order.legacy_number == f"GD2025{OPEN_FROM:06d}").output(
        load_json=True).first()
    assert open_row["status"] == "accepted" and "import_review" in open_row["flags"]  # 挂账 → 办理中
    assert open_row["deadlines"]["handle"]["done"] is None and open_row["due_at"] is not None

    listed = await client.get("/api/orders", params={"flag": "import_review", "page_size": 100},
                              headers=tokens["dispatcher1"])
    assert listed.status_code == 200, listed.text
    assert listed.json()["total"] == ROWS - OPEN_FROM

    # the refused rows, corrected by the centre, import; the original file again adds nothing
    with open(dry.refused_file, encoding="utf-8-sig") as f:
        fixed = list(csv.DictReader(f))
    fixes = {"联系电话": "13900000007", "承办单位": "城管局", "来电时间": "2025-01-20 10:00:00",
             "诉求标题": "噪音扰民", "受理编号": "GD2025000019"}
    for row in fixed:
        for column, value in fixes.items():
            if row[column] in [v for c, v in BAD.values() if c == column]:
                row[column] = value
    corrected = tmp_path / "corrected.csv"
    with open(corrected, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, list(fixed[0]))
        writer.writeheader()
        writer.writerows(fixed)
    again = await import_history(platform, mapping, [corrected], progress=False)
    assert again.totals["refused"] == 0 and again.written == len(BAD)
    repeat = await import_history(platform, mapping, [source], progress=False)
    assert repeat.written == 0 and repeat.totals["merged"] == ROWS - len(BAD)
    assert await Order.count() == ROWS

    # found by the old number, by words, by phone (centre); in caller history; in last year's report
    agent = tokens["agent1"]
    found = await client.get("/api/orders", params={"q": "GD2025000042"}, headers=agent)
    assert [o["number"] for o in found.json()["items"]] == [
        (await Order.select(Order.number).where(Order.legacy_number == "GD2025000042").first())["number"]]
    wages = await client.get("/api/orders", params={"q": "拖欠工资", "page_size": 100}, headers=agent)
    assert wages.json()["total"] == sum(1 for i in range(ROWS) if i % len(SUBJECTS) == 0)
    by_phone = await client.get("/api/orders", params={"q": "139-0000-0042"}, headers=agent)
    assert by_phone.json()["total"] == 1
    history = await platform.orders.caller_history(Actor(name="agent1", role="agent"), f"139{OPEN_FROM + 3:08d}")
    assert history["total"] == 1 and history["open"] == 1
    annual = await client.get("/api/reports/annual", params={"start": "2025-01-01"}, headers=tokens["supervisor1"])
    assert annual.status_code == 200, annual.text
    counts = annual.json()["counts"]
    assert counts["intake"] == OPEN_FROM and counts["completed"] == OPEN_FROM


async def test_demo_orders_are_found_and_reindex_repairs_a_missing_index(client, tokens):
    """The demo generator indexes what it writes; orders whose documents are lost are counted by the
    health check and found again after ``reindex``."""
    from core.demo import seed_orders
    from core.healthcheck import monthly_check
    from core.reindex import missing_count, reindex
    from core.search import ORDER_INDEX

    platform = client.platform
    await seed_orders(platform, 300, progress=False)
    wages = sum(1 for r in await Order.select(Order.subject, Order.content, Order.category, Order.details)
                if "工资" in r["subject"] + r["content"] + r["category"] + str(r["details"]))
    assert wages > 0
    found = await client.get("/api/orders", params={"q": "工资", "page_size": 100}, headers=tokens["agent1"])
    assert found.json()["total"] == wages
    await ORDER_INDEX.clear(platform.engine)
    assert await missing_count(platform) == 300
    finding = next(f for f in await monthly_check(platform) if f["name"] == "搜索索引")
    assert not finding["ok"] and "300 张工单" in finding["detail"] and "huying reindex" in finding["detail"]
    assert (await client.get("/api/orders", params={"q": "工资"}, headers=tokens["agent1"])).json()["total"] == 0
    assert await reindex(platform, progress=False) == 300
    assert await missing_count(platform) == 0
    found = await client.get("/api/orders", params={"q": "工资", "page_size": 100}, headers=tokens["agent1"])
    assert found.json()["total"] == wages
    assert next(f for f in await monthly_check(platform) if f["name"] == "搜索索引")["ok"]


def test_cli_import_history_smoke(tmp_path):
    """From the command line: the starter is written, the dry run prints each row and the totals, the
    import reports its rate on stderr, and reindex runs."""
    env = {**os.environ, "HUYING_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
           "HUYING_VAR_DIR": str(tmp_path / "var"), "PICCOLO_CONF": "core.piccolo_conf", "HUYING_CLOCK": NOW}

    def huying(*args):
        return subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, capture_output=True, text=True,
                              timeout=180)

    assert huying("demo", "--orders", "5").returncode == 0
    source = tmp_path / "old.csv"
    old_export(source)
    mapping = tmp_path / "mapping.toml"
    made = huying("import-history", "--init-mapping", str(mapping), str(source))
    assert made.returncode == 0, made.stderr
    assert "未识别" in mapping.read_text(encoding="utf-8")
    text = mapping.read_text(encoding="utf-8").replace('"区信访办" = ""', '"区信访办" = "general_office"')
    mapping.write_text(text.replace('"挂账" = ""', '"挂账" = "accepted"').replace('"意见" = ""', '"意见" = "suggestion"'),
                       encoding="utf-8")
    dry = huying("import-history", "--mapping", str(mapping), "--dry-run", str(source))
    assert dry.returncode == 0, dry.stderr
    assert "old.csv 第 9 行 GD2025000007：拒绝：来电号码「12345」格式不正确" in dry.stdout
    assert f"共 {ROWS} 行：可导入 {ROWS - len(BAD)}，已导入过（合并跳过）0，拒绝 {len(BAD)}；试运行（未写入）" in dry.stdout
    done = huying("import-history", "--mapping", str(mapping), str(source))
    assert done.returncode == 0, done.stderr
    assert f"已导入 {ROWS - len(BAD)} 张" in done.stdout and "行/秒" in done.stderr
    assert "old.refused.csv" in done.stdout
    again = huying("import-history", "--mapping", str(mapping), str(source))
    assert f"已导入过（合并跳过）{ROWS - len(BAD)}" in again.stdout and "已导入 0 张" in again.stdout
    rebuilt = huying("reindex", "--since", "2025-01-01")
    assert rebuilt.returncode == 0 and f"已重建 {ROWS - len(BAD) + 5} 张" in rebuilt.stdout  # the demo's too
