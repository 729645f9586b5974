"""The ``huying`` command line on a fresh SQLite file: migrate, demo data, adding users."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest


@pytest.fixture
def run(tmp_path):
    env = {**os.environ, "HUYING_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
           "HUYING_VAR_DIR": str(tmp_path), "PICCOLO_CONF": "core.piccolo_conf"}

    def huying(*args):
        return subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, capture_output=True, text=True,
                              timeout=120)

    huying.db = tmp_path / "cli.sqlite3"
    return huying


def test_demo_seeds_departments_staff_and_orders_with_history(run):
    result = run("demo", "--orders", "12")
    assert result.returncode == 0, result.stderr
    assert "演示数据已写入" in result.stdout and "huying-demo" in result.stdout
    with sqlite3.connect(run.db) as db:
        assert db.execute("SELECT count(*) FROM orders").fetchone()[0] == 12
        assert db.execute("SELECT count(*) FROM order_events").fetchone()[0] > 12
        roles = {r for (r,) in db.execute("SELECT DISTINCT role FROM users")}
    assert roles == {"agent", "dispatcher", "handler", "supervisor", "admin"}


def test_user_add_checks_role_department_and_password(run):
    assert run("migrate").returncode == 0
    no_department = run("user", "add", "wang", "--role", "handler", "--password", "long-enough-1")
    assert no_department.returncode != 0 and "所属单位" in no_department.stderr
    short = run("user", "add", "li", "--role", "agent", "--password", "short")
    assert short.returncode != 0 and "至少 8 位" in short.stderr
    ok = run("user", "add", "li", "--role", "agent", "--password", "long-enough-1")
    assert ok.returncode == 0 and "已添加用户 li" in ok.stdout
    again = run("user", "add", "li", "--role", "agent", "--password", "long-enough-1")
    assert again.returncode != 0 and "已存在" in again.stderr


def test_run_job_lists_the_jobs_and_runs_one_by_hand(run):
    import json

    listed = run("run-job", "--list")
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert {"deliver_outbox", "sla_sweep", "schedule_callbacks", "archive_sweep", "integrity_check",
            "city_reconcile"} <= set(names)
    assert "时限巡检" in listed.stdout
    assert run("demo", "--orders", "12").returncode == 0
    swept = run("run-job", "sla_sweep")
    assert swept.returncode == 0, swept.stderr
    assert set(json.loads(swept.stdout)) == {"at_risk", "overdue", "urge", "supervise"}
    checked = run("run-job", "integrity_check")
    assert json.loads(checked.stdout)["orders_without_events"] == []
    with sqlite3.connect(run.db) as db:
        modes = db.execute("SELECT name, mode, ok FROM job_runs ORDER BY id").fetchall()
    assert modes == [("sla_sweep", "manual", 1), ("integrity_check", "manual", 1)]
    unknown = run("run-job", "nope")
    assert unknown.returncode != 0 and "没有名为 nope" in unknown.stderr
