"""``huying plugins`` and ``GET /api/plugins``: what is installed, at which version, and what each
plugin adds (hooks, routes, jobs), as Datasette's ``/-/plugins`` and pytest's ``--trace-config`` show."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from litestar import get

from core.channels import Channel
from core.hookspecs import hookimpl
from core.jobs import Job
from tests.helpers import login

ROOT = Path(__file__).resolve().parents[1]


async def _ping(platform) -> dict:
    return {}


class Tracker:
    """A separately installed plugin: a channel, a route and a job."""

    @hookimpl
    def register_channel(self):
        return Channel(code="tracker_line", name="跟踪专线", description="测试用。")

    @hookimpl
    def http_route_handlers(self):
        @get("/api/tracker/status", include_in_schema=False)
        async def status() -> dict:
            return {}

        return [status]

    @hookimpl
    def register_jobs(self):
        return [Job(name="tracker_ping", label="跟踪", run=_ping)]


async def test_an_admin_sees_each_plugin_with_its_version_hooks_routes_and_jobs(with_plugins):
    client = await with_plugins(Tracker())
    response = await client.get("/api/plugins", headers=await login(client, "admin1"))
    assert response.status_code == 200, response.text
    plugins = {p["name"]: p for p in response.json()}
    tracker = plugins[f"{__name__}"]
    assert tracker["channels"] == [{"code": "tracker_line", "name": "跟踪专线"}]
    assert tracker["hooks"] == ["http_route_handlers", "register_channel", "register_jobs"]
    assert tracker["routes"] == ["GET /api/tracker/status"] and tracker["jobs"] == ["tracker_ping"]
    assert tracker["version"] and not tracker["builtin"]
    sweeps = plugins["core.builtins.sweeps"]
    assert sweeps["builtin"] and "sla_sweep" in sweeps["jobs"] and "register_jobs" in sweeps["hooks"]
    assert "GET /api/orders/{number:str}/safety" in plugins["plugins.safety_reporting"]["routes"]
    assert plugins["plugins.safety_reporting"]["version"] == sweeps["version"]  # the project's own version


async def test_only_admins_may_list_the_plugins(client, tokens):
    assert (await client.get("/api/plugins")).status_code == 401
    for user in ("agent1", "dispatcher1"):
        refused = await client.get("/api/plugins", headers=tokens[user])
        assert refused.status_code == 403 and refused.json()["detail"]


async def test_the_listing_is_in_the_api_document(client):
    doc = (await client.get("/schema/openapi.json")).json()
    answer = doc["paths"]["/api/plugins"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["items"]["$ref"].endswith("PluginInfo")
    assert {"version", "hooks", "routes", "jobs", "channels"} <= set(doc["components"]["schemas"]["PluginInfo"]["properties"])


def test_the_command_lists_channels_hooks_and_jobs_in_words():
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUYING_TEST_")}
    shown = subprocess.run([sys.executable, "-m", "api.cli", "plugins"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "plugins.enterprise_help" in shown.stdout and "渠道：公司帮扶（enterprise_help）" in shown.stdout
    assert "后台任务：" in shown.stdout and "sla_sweep" in shown.stdout
    as_json = subprocess.run([sys.executable, "-m", "api.cli", "plugins", "--json"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    names = {p["name"] for p in json.loads(as_json.stdout)}
    assert {"core.builtins.hotline", "plugins.mayor_mailbox"} <= names
