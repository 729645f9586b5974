"""Fixtures for the whole suite, ``tests/`` and each plugin's own ``plugins/<code>/tests/``: a migrated
database per backend, a clean slate per test, an API client, staff tokens.

Every test runs against SQLite, and again against PostgreSQL when ``HUYING_TEST_POSTGRES_URL`` is set.
In CI (``CI=true``) an unset or unreachable PostgreSQL is a failure, never a silent skip.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="huying-tests-"))
os.environ.setdefault("HUYING_DATABASE_URL", f"sqlite:///{_TMP / 'conf.sqlite3'}")
os.environ.setdefault("HUYING_VAR_DIR", str(_TMP))
os.environ.setdefault("PICCOLO_CONF", "core.piccolo_conf")

import core.auth  # noqa: E402
from core.model import Actor  # noqa: E402
from core.settings import Settings  # noqa: E402
from tests import helpers  # noqa: E402

POSTGRES_URL = os.environ.get("HUYING_TEST_POSTGRES_URL")
IN_CI = os.environ.get("CI") == "true"
core.auth.SCRYPT_COST = 2 ** 4  # hashing strength is not under test; speed is


def _backends() -> list[str]:
    chosen = os.environ.get("HUYING_TEST_BACKENDS")  # an explicit choice (CI's second run), never a silent skip
    if chosen:
        backends = [b.strip() for b in chosen.split(",") if b.strip()]
        if not backends or set(backends) - {"sqlite", "postgres"} or ("postgres" in backends and not POSTGRES_URL):
            raise pytest.UsageError(f"HUYING_TEST_BACKENDS={chosen!r}: name sqlite and/or postgres (postgres needs "
                                    "HUYING_TEST_POSTGRES_URL)")
        return backends
    if IN_CI and not POSTGRES_URL:
        raise pytest.UsageError("CI=true but HUYING_TEST_POSTGRES_URL is not set: PostgreSQL must be tested")
    return ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]


def pytest_generate_tests(metafunc):
    if "database_url" in metafunc.fixturenames:
        metafunc.parametrize("database_url", _backends(), indirect=True, scope="session")


@pytest.fixture(autouse=True)
def _running_clock(request):
    """Every test starts on the process's running clock (the system's, or ``HUYING_CLOCK``'s), or on
    one running from the instant its ``clock`` mark names (cases written around fixed dates)."""
    from core import clock

    clock.reset()
    mark = request.node.get_closest_marker("clock")
    if mark:
        clock.start_at(mark.args[0])
    yield
    clock.reset()


@pytest.fixture
def frozen_clock():
    """The platform's clock, for a test that needs "now" at a set instant: ``frozen_clock.freeze(...)``."""
    from core import clock

    return clock


@pytest.fixture(scope="session")
def database_url(request) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{_TMP / 'test.sqlite3'}"
    asyncio.run(helpers.reset_postgres(POSTGRES_URL))
    return POSTGRES_URL


@pytest.fixture(scope="session")
def settings(database_url) -> Settings:
    # every order resolved at intake waits for its callback here (the lifecycle tests follow it through);
    # the tests of the sampled default set their own policy
    return Settings(database_url=database_url, secret_key="test-secret", max_body_bytes=64 * 1024,
                    resolved_at_intake_callback="all")


@pytest.fixture(scope="session")
def migrated(settings) -> Settings:
    from core.db import make_engine
    from core.migrations import migrate

    asyncio.run(migrate(make_engine(settings.database_url)))
    return settings


@pytest.fixture
async def platform(migrated):
    """A started platform on an empty database (reference departments and staff seeded)."""
    from core.platform import Platform

    platform = Platform(migrated)
    await platform.start()
    await helpers.clean(platform)
    await platform.start()  # re-store the plugins' routing rules after the clean-up
    await helpers.seed_staff()
    yield platform
    await platform.stop()


@pytest.fixture
async def client(platform):
    from litestar.testing import AsyncTestClient

    from api.app import create_app

    app = create_app(platform, pool=False, run_jobs=False)
    async with AsyncTestClient(app) as client:
        client.platform = platform
        yield client


@pytest.fixture
async def tokens(client) -> dict[str, dict[str, str]]:
    """Authorization headers for each demo staff user, by username."""
    headers = {}
    for username in helpers.STAFF:
        response = await client.post("/api/auth/token", json={"username": username, "password": helpers.PASSWORD})
        assert response.status_code == 200, response.text
        headers[username] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return headers


@pytest.fixture
def actors() -> dict[str, Actor]:
    return {name: Actor(name=name, role=role, department=dept) for name, (role, dept) in helpers.STAFF.items()}


@pytest.fixture
async def with_plugins(migrated):
    """Make an API client on a platform with extra plugins registered (as installed packages would be)."""
    from litestar.testing import AsyncTestClient

    from api.app import create_app
    from core.platform import Platform
    from core.plugins import get_plugin_manager

    opened = []

    async def make(*plugins):
        platform = Platform(migrated, pm=get_plugin_manager(extra=plugins))
        await platform.start()
        await helpers.clean(platform)
        await platform.start()
        await helpers.seed_staff()
        client = AsyncTestClient(create_app(platform, pool=False, run_jobs=False))
        await client.__aenter__()
        opened.append(client)
        client.platform = platform
        return client

    yield make
    for client in opened:
        await client.__aexit__(None, None, None)
