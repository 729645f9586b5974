"""History import speed on SQLite, against a bare ``executemany`` of the same rows in the same run.

    .venv/bin/python bench/import_history.py [--rows 410000] [--keep DIR]

An old system's export of ``--rows`` rows (the layout of tests/test_history_import.py: its own column
names, status words and department names; mostly closed orders of the last year, some open) is
written to a CSV, then:

- baseline: the CSV read with ``csv`` and its rows inserted with one ``executemany`` per 1,000 rows
  into a plain table of the same twelve text columns (no checks, no events, no index);
- ``huying import-history``'s path (``core.history_import.import_history``) into a fresh, migrated
  database: every row checked, mapped and written with its events, its search document and its day
  counter, then the report facts refreshed.

Prints rows/s of each and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = ["受理编号", "来电时间", "联系电话", "姓名", "诉求标题", "问题描述", "诉求类型", "承办单位", "工单状态",
          "答复内容", "办结时间", "满意度"]
DEPARTMENTS = {"城管局": "urban_mgmt", "住建局": "housing", "人社局": "hrss", "生态环境分局": "eco_env",
               "交通局": "transport", "区信访办": "general_office"}
STATUSES = {"已办结": "archived", "已回访": "archived", "处理中": "accepted", "待派单": "received"}


def export(path: Path, rows: int, year: int) -> None:
    from core.demo import _messages, _replies

    messages, replies = _messages(), _replies()
    rng = random.Random(410)
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for i in range(rows):
            m = messages[i % len(messages)]
            day = i * 365 // rows
            received = f"{year}-01-01 08:00:00"
            month, mday = 1 + day * 12 // 366, 1 + day % 28
            received = f"{year}-{month:02d}-{mday:02d} {8 + i % 10:02d}:{i % 60:02d}:00"
            closed = i % 50
            writer.writerow([
                f"GD{year}{i:07d}", received, f"139{i:08d}", rng.choice("王李张刘陈") + "女士",
                m["subject"][:200], (m["detail"] or m["subject"])[:2000], rng.choice(("投诉", "咨询", "求助", "建议")),
                rng.choice(tuple(DEPARTMENTS)), rng.choice(("已办结", "已回访")) if closed else "处理中",
                rng.choice(replies)[:300] if closed else "", f"{year}-{month:02d}-{min(28, mday + 3):02d} 23:00:00"
                if closed else "", rng.choice(("满意", "基本满意", "不满意", "")) if closed else ""])


def baseline(source: Path, target: Path) -> float:
    started = time.perf_counter()
    db = sqlite3.connect(target)
    db.execute(f"CREATE TABLE rows ({', '.join(f'c{i} TEXT' for i in range(len(HEADER)))})")
    with open(source, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        batch = []
        for row in reader:
            batch.append(row)
            if len(batch) == 1000:
                with db:
                    db.executemany(f"INSERT INTO rows VALUES ({', '.join('?' for _ in HEADER)})", batch)
                batch = []
        if batch:
            with db:
                db.executemany(f"INSERT INTO rows VALUES ({', '.join('?' for _ in HEADER)})", batch)
    db.close()
    return time.perf_counter() - started


async def huying(source: Path, target: Path) -> tuple[float, int]:
    os.environ["HUYING_DATABASE_URL"] = f"sqlite:///{target}"
    os.environ.setdefault("PICCOLO_CONF", "core.piccolo_conf")
    from core.history_import import Mapping, import_history, init_mapping, read_source
    from core.platform import Platform
    from core.tables import Department

    platform = Platform()
    await platform.migrate()
    await platform.start()
    try:
        from core.demo import seed_reference

        await seed_reference()
        departments = [(r["code"], r["name"]) for r in await Department.select(Department.code, Department.name)]
        mapping, _ = init_mapping([read_source(source)], departments, platform.channels)
        mapping["departments"].update(DEPARTMENTS)
        mapping["statuses"].update(STATUSES)
        started = time.perf_counter()
        report = await import_history(platform, Mapping.from_dict(mapping, platform), [source])
        return time.perf_counter() - started, report.written
    finally:
        await platform.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=410_000)
    parser.add_argument("--keep", type=Path, help="a directory to keep the CSV and databases in")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="huying-import-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HUYING_VAR_DIR", str(work / "var"))
    from core import clock

    year = clock.today().year - 1
    source = work / "export.csv"
    export(source, args.rows, year)
    bare = baseline(source, work / "bare.sqlite3")
    seconds, written = asyncio.run(huying(source, work / "huying.sqlite3"))
    print(f"rows: {args.rows:,} (written {written:,})")
    print(f"bare executemany: {args.rows / bare:,.0f} rows/s ({bare:.1f} s)")
    print(f"huying import-history: {args.rows / seconds:,.0f} rows/s ({seconds:.1f} s)")
    print(f"ratio: {seconds / bare:.1f}x the bare insert's time")


if __name__ == "__main__":
    main()
