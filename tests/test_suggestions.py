"""Dispatch and category suggestions learned from history; the evaluation command."""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from pathlib import Path

from core.suggestions import Example, Model, load_lexicon, read_labelled_csv
from tests.helpers import intake_body

ROOT = Path(__file__).resolve().parent.parent
BENCHMARK = ROOT / "core" / "demo_data" / "labelled-messages.csv"
RIVER = ("河里漂着死鱼", "河水发黑发臭，岸边全是死鱼。")
FOOD = ("奶茶店卖过期食品", "买的奶茶喝完拉肚子，店里的原料都过期了。")


async def _finish(client, tokens, subject, content, department) -> None:
    """An order taken, dispatched, handled and approved: history the model learns from."""
    order = (await client.post("/api/channels/hotline/orders", headers=tokens["agent1"],
                               json=intake_body(subject=subject, content=content))).json()
    handler = {"eco_env": "eco_handler", "market": "market_handler"}[department]
    for who, action, payload in (("dispatcher1", "dispatch", {"department": department}),
                                 (handler, "accept", {}), (handler, "reply", {"reply": "已处理"}),
                                 ("dispatcher1", "approve", {})):
        response = await client.post(f"/api/orders/{order['number']}/actions/{action}", json=payload,
                                     headers=tokens[who])
        assert response.status_code == 200, response.text


async def test_model_fills_the_gap_rules_leave(client, tokens):
    """With no rule matching, a new order gets the department that handled similar orders before,
    with a confidence and the words that weighed; the suggestion API shows the top three."""
    for i in range(6):
        await _finish(client, tokens, RIVER[0] + str(i), RIVER[1], "eco_env")
        await _finish(client, tokens, FOOD[0] + str(i), FOOD[1], "market")
    response = await client.post("/api/dispatch-models/train", headers=tokens["admin1"])
    assert response.status_code == 200, response.text
    trained = {r["target"]: r for r in response.json()}
    assert trained["department"]["trained"] and trained["department"]["examples"] == 12
    order = (await client.post("/api/channels/hotline/orders", headers=tokens["agent1"],
                               json=intake_body(subject="小河里好多死鱼", content="河水发臭发黑。"))).json()
    assert order["suggested_department"] == "eco_env"
    assert order["suggestion_reason"].startswith("模型建议")
    response = await client.post("/api/suggestions", headers=tokens["dispatcher1"],
                                 json={"subject": "奶茶过期", "content": "喝了拉肚子"})
    body = response.json()
    assert body["rule"] is None
    assert body["departments"][0]["department"] == "market" and body["departments"][0]["reasons"]
    assert 0 < body["departments"][1]["confidence"] < body["departments"][0]["confidence"] <= 1
    models = (await client.get("/api/dispatch-models", headers=tokens["supervisor1"])).json()
    assert {m["target"] for m in models if m["active"]} == {"department", "category"}
    assert all("accuracy_at_1" in m["evaluation"] for m in models)


async def test_a_matching_rule_still_wins(client, tokens):
    """An order whose words match a routing rule keeps the rule's department and reason."""
    response = await client.post("/api/suggestions", headers=tokens["dispatcher1"],
                                 json={"subject": "工地噪音", "content": "夜里施工噪音很大"})
    assert response.json()["rule"]["department"] == "eco_env"
    order = (await client.post("/api/channels/hotline/orders", headers=tokens["agent1"], json=intake_body())).json()
    assert order["suggestion_reason"].startswith("诉求内容含有")


async def test_category_suggestions_from_the_benchmark(client, tokens):
    """Trained with no history at all, the category model still suggests from the labelled messages."""
    response = await client.post("/api/dispatch-models/train", headers=tokens["admin1"])
    assert response.status_code == 200
    body = (await client.post("/api/suggestions", headers=tokens["agent1"], json={
        "subject": "孩子入学学位不够", "content": "小区配套小学学位紧张，孩子今年上不了学。"})).json()
    assert body["categories"][0]["category"] == "教育文体"
    assert len(body["categories"]) == 3 and body["categories"][0]["reasons"]
    response = await client.post("/api/suggestions", headers=tokens["eco_handler"], json={"subject": "x"})
    assert response.status_code == 403


async def test_category_tree_served_and_editable_by_admins(client, tokens):
    """The reference tree is the centre's category list; an admin adds and renames, others may not."""
    tree = (await client.get("/api/categories", headers=tokens["agent1"])).json()
    top = {c["name"]: c for c in tree}
    assert "环境保护" in top and any(c["name"] == "环境污染" for c in top["环境保护"]["children"])
    parent = top["环境保护"]["children"][0]["id"]
    response = await client.post("/api/categories", json={"name": "光污染", "parent_id": parent},
                                 headers=tokens["agent1"])
    assert response.status_code == 403
    added = await client.post("/api/categories", json={"name": "光污染", "parent_id": parent},
                              headers=tokens["admin1"])
    assert added.status_code == 201 and added.json()["level"] == 3
    again = await client.post("/api/categories", json={"name": "光污染", "parent_id": parent},
                              headers=tokens["admin1"])
    assert again.status_code == 409
    deeper = await client.post("/api/categories", json={"name": "太深", "parent_id": added.json()["id"]},
                               headers=tokens["admin1"])
    assert deeper.status_code == 400 and deeper.json()["extra"][0]["key"] == "parent_id"
    renamed = await client.patch(f"/api/categories/{added.json()['id']}", json={"name": "光污染扰民"},
                                 headers=tokens["admin1"])
    assert renamed.json()["name"] == "光污染扰民"


def test_suggestion_is_fast_and_explained():
    """A trained model answers in well under 5 ms per order and names the words that weighed."""
    examples = read_labelled_csv(BENCHMARK)
    model = Model.fit(examples, load_lexicon(), use_category=False)
    orders = [Example(subject=e.subject, content=e.content) for e in examples[:50]]
    start = time.process_time()
    for order in orders:
        ranked = model.rank(order)
    per_order = (time.process_time() - start) / len(orders)
    assert per_order < 0.005, per_order
    assert len(ranked) == 3 and ranked[0].reasons


def test_eval_command_prints_accuracy_for_any_labelled_csv(tmp_path):
    """`huying eval-dispatch --data FILE.csv` cross-validates a file with the benchmark's columns."""
    rows = list(csv.DictReader(open(BENCHMARK, encoding="utf-8")))
    keep = [r for r in rows if r["category"] in ("教育文体", "劳动和社会保障", "交通运输")][:60]
    small = tmp_path / "small.csv"
    with open(small, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "user", "subject", "time", "detail", "category"])
        writer.writeheader()
        writer.writerows(keep)
    result = subprocess.run([sys.executable, "-m", "api.cli", "eval-dispatch", "--data", str(small), "--folds", "3"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith("accuracy@1=0.") or line.startswith("accuracy@1=1.")
    assert float(line.split()[0].split("=")[1]) >= 0.7 and " accuracy@3=" in line
    bad = tmp_path / "bad.csv"
    bad.write_text("id,text\n1,hello\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "api.cli", "eval-dispatch", "--data", str(bad)],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode != 0 and "缺少列" in result.stderr


async def test_only_the_newest_models_are_kept(client, tokens):
    """Each training stores a version of megabytes; 64 daily trainings once filled 390 MB of a 459 MB
    database. The training deletes all but the newest ``HUYING_DISPATCH_MODELS_KEPT`` (default 3)."""
    import msgspec

    from core.suggestions import train
    from core.tables import DispatchModel

    for i in range(6):
        await _finish(client, tokens, RIVER[0] + str(i), RIVER[1], "eco_env")
        await _finish(client, tokens, FOOD[0] + str(i), FOOD[1], "market")
    assert client.platform.settings.dispatch_models_kept == 3  # the default
    client.platform.settings = msgspec.structs.replace(client.platform.settings, dispatch_models_kept=2)
    assert (await client.post("/api/dispatch-models/train", headers=tokens["admin1"])).status_code == 200
    for _ in range(2):
        await train("department", keep=client.platform.settings.dispatch_models_kept)
    kept = await DispatchModel.select(DispatchModel.number, DispatchModel.active).where(
        DispatchModel.target == "department").order_by(DispatchModel.number)
    assert [(m["number"], m["active"]) for m in kept] == [(2, False), (3, True)]
    assert await DispatchModel.count().where(DispatchModel.target == "category") == 1
    assert (await train("department", keep=1))["version"] == 4
    assert [m["number"] for m in await DispatchModel.select(DispatchModel.number).where(
        DispatchModel.target == "department")] == [4]
