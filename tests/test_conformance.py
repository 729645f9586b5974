"""``huying check-channel``: the generic channel contract, as a channel author meets it and as the core
suite applies it to every bundled channel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import msgspec

from api.conformance import check_channel
from core.plugin_api import Channel, FieldError, SlaDefaults, field, hookimpl
from tests.helpers import login

ROOT = Path(__file__).resolve().parents[1]
ENV = {k: v for k, v in os.environ.items()
       if k not in ("HUYING_TEST_POSTGRES_URL", "HUYING_TEST_REDIS_URL", "HUYING_TEST_BACKENDS", "CI",
                    "HUYING_DATABASE_URL", "HUYING_VAR_DIR")}


def huying(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=timeout)


def test_a_new_channel_passes_the_check_as_generated(tmp_path):
    """``new-channel`` then ``check-channel`` on a package kept apart from plugins/: every line passes,
    its own generated tests included, and the configured database is never touched."""
    made = huying("new-channel", "demo_line", "--name", "演示专线", "--dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    checked = huying("check-channel", "demo_line", "--dir", str(tmp_path))
    assert checked.returncode == 0, checked.stdout + checked.stderr[-2000:]
    lines = checked.stdout.splitlines()
    for name in ("注册", "字段声明", "网页表单", "表单提交", "接口受理", "接口拒绝", "演示数据", "时限声明", "派单规则", "自带测试"):
        assert any(line.startswith(f"通过  {name}") for line in lines), (name, checked.stdout)
    assert "4 passed" in checked.stdout and lines[-1].endswith("项通过") and "失败" not in checked.stdout


BROKEN = '''
from typing import Annotated, Literal

import msgspec

from core.plugin_api import Channel, RuleSpec, SlaDefaults, field, hookimpl


class Request(msgspec.Struct, kw_only=True):
    topic: Annotated[Literal["a", "b"], field("问题类型", choices={"a": "甲", "b": "b"})]
    code: str


@hookimpl
def register_channel():
    return Channel(code="broken_line", name="坏专线", description="用来检验检查。", fields=Request,
                   kinds=("complaint",), sla=SlaDefaults(accept_days=100, handle_days_by_kind={"complaint": 10}))


@hookimpl
def routing_rules(channel):
    return [RuleSpec(department="no_such_office")]
'''


def test_a_broken_channel_is_told_what_to_fix_in_words(tmp_path):
    (tmp_path / "broken_line").mkdir()
    (tmp_path / "broken_line" / "__init__.py").write_text(BROKEN, encoding="utf-8")
    checked = huying("check-channel", "broken_line", "--dir", str(tmp_path))
    assert checked.returncode == 1, checked.stdout + checked.stderr[-2000:]
    out = checked.stdout
    assert "失败  字段声明" in out and "字段 code 没有中文标签" in out and "字段 topic 的选项没有中文名称：b" in out
    assert "失败  时限声明" in out and "accept_days=100" in out
    assert "失败  派单规则" in out and "承办单位 no_such_office 不存在" in out
    assert "通过  自带测试：渠道没有 tests/ 目录" in out
    assert "提示：" in out and "Traceback" not in out + checked.stderr


def test_a_rule_condition_on_a_field_the_channel_lacks_is_named_at_registration(tmp_path):
    """A routing condition that cannot fit the channel's fields stops the platform assembling: the
    check says which rule and which field, before anything else runs."""
    (tmp_path / "broken_line").mkdir()
    source = BROKEN.replace('RuleSpec(department="no_such_office")',
                            'RuleSpec(department="market", reason="甲类", ranges={"topic": (1, None)}, '
                            'includes={"colour": "red"})')
    (tmp_path / "broken_line" / "__init__.py").write_text(source, encoding="utf-8")
    checked = huying("check-channel", "broken_line", "--dir", str(tmp_path), "--no-tests")
    assert checked.returncode == 1
    line = next(x for x in checked.stdout.splitlines() if x.startswith("失败  注册"))
    assert "分派规则（甲类）" in line and "不是本渠道的字段：colour" in line and "只能用于数字字段，topic 不是" in line


def test_an_unknown_channel_fails_with_how_to_register_one():
    checked = huying("check-channel", "no_such_line", "--no-tests")
    assert checked.returncode == 1
    assert "失败  注册：没有找到渠道 no_such_line" in checked.stdout and "register_channel" in checked.stdout


async def test_every_bundled_channel_keeps_the_contract(client):
    """The same checks the command runs, on this suite's platform (each backend): a channel that
    breaks them is told which line failed and why, not left with a core test's assertion."""
    headers = await login(client, "agent1")
    for channel in client.platform.channels:
        results = await check_channel(client, channel.code, headers)
        failed = [r.line() for r in results if not r.ok]
        assert not failed, f"渠道 {channel.code}：\n" + "\n".join(failed)


class PlateFields(msgspec.Struct, kw_only=True):
    plate: Annotated[str, field("车牌号", max_length=10)]


class _Picky:
    """A channel from elsewhere whose own check refuses the sample its fields' description gives."""

    @staticmethod
    @hookimpl
    def register_channel():
        return Channel(code="picky_line", name="挑剔专线", description="只收湘A车牌。", fields=PlateFields,
                       kinds=("complaint",), sla=SlaDefaults(handle_days_by_kind={"complaint": 10}))

    @staticmethod
    @hookimpl
    def validate_intake(channel, intake, details):
        if not details.plate.startswith("湘A"):
            return [FieldError("details.plate", "车牌号须以湘A开头")]


async def test_a_channel_from_elsewhere_is_told_by_the_check_not_by_a_core_test(with_plugins):
    """A third-party channel the core's own form and demo tests leave to the contract check, which
    names the refused field in the author's words and how to fix it."""
    from tests.helpers import bundled_channels

    client = await with_plugins(_Picky())
    assert "picky_line" in client.platform.channels
    assert "picky_line" not in {c.code for c in bundled_channels(client.platform)}
    assert {"hotline", "mayor_mailbox"} <= {c.code for c in bundled_channels(client.platform)}
    results = await check_channel(client, "picky_line", await login(client, "agent1"))
    failed = {r.name: r.line() for r in results if not r.ok}
    assert "表单提交" in failed and "车牌号须以湘A开头" in failed["表单提交"] and "examples=" in failed["表单提交"]
    assert {"网页表单", "表单字段", "表单报错"} <= {r.name for r in results if r.ok}
