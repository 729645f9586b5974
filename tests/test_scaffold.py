"""``huying new-channel`` writes a channel package whose own tests pass as generated."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.scaffold import ScaffoldError, new_channel

ROOT = Path(__file__).resolve().parents[1]


def test_new_channel_scaffolds_a_package_whose_tests_pass(tmp_path):
    """Run the command into a temporary folder (a package installed apart from plugins/), then run
    the tests it wrote, with the project's fixtures, on SQLite."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("HUYING_TEST_POSTGRES_URL", "HUYING_TEST_REDIS_URL", "HUYING_TEST_BACKENDS", "CI")}
    made = subprocess.run([sys.executable, "-m", "api.cli", "new-channel", "water_supply", "--name", "供水专线",
                           "--dir", str(tmp_path), "--department", "urban_mgmt"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    package = tmp_path / "water_supply"
    assert {p.name for p in package.rglob("*.py")} == {"__init__.py", "test_water_supply.py"}
    source = (package / "__init__.py").read_text()
    assert "from core.plugin_api import" in source and 'name="供水专线"' in source
    ran = subprocess.run([sys.executable, "-m", "pytest", str(package / "tests"), "-q", "-p", "conftest",
                          "-c", str(ROOT / "pyproject.toml"), "-p", "no:logging"],
                         cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert "4 passed" in ran.stdout


@pytest.mark.parametrize("code, name, why", [
    ("Water", "供水专线", "小写字母"), ("water-supply", "供水专线", "小写字母"), ("water", " ", "中文名称"),
])
def test_a_bad_code_or_name_is_refused_in_words(tmp_path, code, name, why):
    with pytest.raises(ScaffoldError, match=why):
        new_channel(code, name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_package_is_never_overwritten(tmp_path):
    new_channel("water_supply", "供水专线", tmp_path)
    with pytest.raises(ScaffoldError, match="已存在"):
        new_channel("water_supply", "供水专线", tmp_path)
