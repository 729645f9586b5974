"""The shape of the code base, checked: importing the core configures nothing, and the order service
is the only writer of orders (every write audited)."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import core

ROOT = Path(__file__).resolve().parent.parent


def test_importing_any_core_module_creates_no_files_and_reads_no_settings(tmp_path):
    """A fresh process in an empty folder imports every core and api module (piccolo's
    configuration module included): no database file, no var folder, no secret key appears."""
    modules = ["core." + m.name for m in pkgutil.iter_modules(core.__path__)] + [
        "core.builtins.hotline", "api.app", "api.cli", "api.routes", "api.web.routes"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUYING_", "PICCOLO_"))}
    env.update(PICCOLO_CONF="core.piccolo_conf", PYTHONPATH=str(ROOT))
    script = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    done = subprocess.run([sys.executable, "-c", script, *modules], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_database_module_does_not_import_piccolos_configuration():
    """``core.db`` and ``core.piccolo_conf`` no longer import each other in a circle."""
    source = (ROOT / "core" / "db.py").read_text()
    assert "piccolo_conf" not in source
    conf = (ROOT / "core" / "piccolo_conf.py").read_text()
    assert "\nfrom core" not in conf and "\nimport core" not in conf  # only inside functions, on use


async def test_migrations_run_on_the_engine_they_are_given(tmp_path):
    """Two databases migrated side by side in one process, each by its own engine."""
    from piccolo.querystring import QueryString

    from core.db import make_engine
    from core.migrations import migrate
    from core.tables import Order

    first, second = (make_engine(f"sqlite:///{tmp_path / name}") for name in ("a.sqlite3", "b.sqlite3"))
    await migrate(first)
    assert (tmp_path / "a.sqlite3").exists() and not (tmp_path / "b.sqlite3").exists()
    await migrate(second)
    for engine in (first, second):
        rows = await engine.run_querystring(
            QueryString("SELECT name FROM sqlite_master WHERE name = {}", Order._meta.tablename))
        assert rows, engine
        await engine.close_idle()
