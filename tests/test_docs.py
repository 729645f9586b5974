"""The documentation cannot drift from the code: the hook reference is compared with the hook
specifications, and the channel guide's complete example is built and run."""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from pathlib import Path

from core import hookspecs
from tests.helpers import intake_body, login

ROOT = Path(__file__).resolve().parents[1]
HOOKS = {name: fn for name, fn in vars(hookspecs).items() if inspect.isfunction(fn) and hasattr(fn, "huying_spec")}
HEADING = re.compile(r"^### `(\w+)\(([^)]*)\)(?: -> [^`]+)?`$", re.M)


def documented_signatures(text: str) -> dict[str, list[str]]:
    """Each ``### `name(a, b) -> T``` heading of the hook reference, as name → parameter names."""
    return {m.group(1): [p.strip() for p in m.group(2).split(",") if p.strip()] for m in HEADING.finditer(text)}


def test_each_documented_hook_signature_matches_its_specification():
    """A wrong or missing parameter name in docs/plugin_hooks.md fails here, as does a heading for
    a hook that does not exist."""
    documented = documented_signatures((ROOT / "docs" / "plugin_hooks.md").read_text())
    assert set(documented) == set(HOOKS)
    for name, fn in HOOKS.items():
        assert documented[name] == list(inspect.signature(fn).parameters), name


def test_the_comparison_catches_a_wrong_parameter_name():
    wrong = documented_signatures("### `validate_action(channel, action, context) -> None`\n")
    assert wrong["validate_action"] != list(inspect.signature(HOOKS["validate_action"]).parameters)


def guide_example() -> str:
    """The first Python block of the channel guide: its complete minimal channel file."""
    guide = (ROOT / "docs" / "writing-a-channel.md").read_text()
    return re.search(r"```python\n(.*?)```", guide, re.S).group(1)


async def test_the_guides_minimal_channel_works_as_written(tmp_path, with_plugins):
    """The guide's file, saved as a module and registered like an installed package, passes the
    start-up checks, is listed with its labelled fields, and takes an order routed by its rule."""
    path = tmp_path / "guide_water_supply.py"
    path.write_text(guide_example())
    spec = importlib.util.spec_from_file_location("guide_water_supply", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        assert "from core.plugin_api import" in path.read_text() and "from core." not in path.read_text().replace(
            "from core.plugin_api", "")
        client = await with_plugins(module)
        listed = (await client.get("/api/channels/water_supply")).json()
        assert listed["name"] == "供水专线" and [f["label"] for f in listed["fields"]] == ["问题类型", "户号"]
        body = intake_body(kind="complaint", subject="小区停水两天", content="小区从前天开始停水，没有任何通知。",
                           details={"problem": "outage"})
        response = await client.post("/api/channels/water_supply/orders", json=body,
                                     headers=await login(client, "agent1"))
        assert response.status_code == 201, response.text
        assert response.json()["suggested_department"] == "urban_mgmt"
        form = await client.get("/forms/water_supply")
        assert form.status_code == 200 and "例如：0102345678" in form.text
    finally:
        sys.modules.pop(spec.name, None)


def _plugin_surface() -> dict[str, list[str]]:
    """Every name a plugin may import and every option of the declarations it writes."""
    import inspect

    import msgspec

    from core import plugin_api
    from core.channels import Channel, field
    from core.routing import RuleSpec

    return {"core.plugin_api.__all__": list(plugin_api.__all__),
            "Channel": [f.name for f in msgspec.structs.fields(Channel)],
            "field": [p for p in inspect.signature(field).parameters if p != "constraints"],
            "RuleSpec": [f.name for f in msgspec.structs.fields(RuleSpec)]}


def test_every_name_and_option_a_plugin_uses_is_documented():
    """A plugin author finds every name of ``core.plugin_api`` and every option of ``Channel``,
    ``field`` and ``RuleSpec`` in the guide or the hook reference (as `name`, or `name=`)."""
    docs = (ROOT / "docs" / "writing-a-channel.md").read_text() + (ROOT / "docs" / "plugin_hooks.md").read_text()
    missing = {owner: [n for n in names if not re.search(rf"`@?{re.escape(n)}\b|\b{re.escape(n)}=", docs)]
               for owner, names in _plugin_surface().items()}
    assert not any(missing.values()), f"undocumented in docs/writing-a-channel.md or docs/plugin_hooks.md: {missing}"


def _load_example(tmp_path, marker: str, name: str):
    guide = (ROOT / "docs" / "writing-a-channel.md").read_text()
    code = next(block for block in re.findall(r"```python\n(.*?)```", guide, re.S) if marker in block)
    path = tmp_path / f"{name}.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_the_guides_rule_predicates_route_as_described(tmp_path, with_plugins):
    """The guide's 消费维权 example: a number range and a multi-choice membership choose the
    department, and an order matching neither falls to the channel's late catch-all."""
    module = _load_example(tmp_path, "ranges=", "guide_consumer_rights")
    try:
        client = await with_plugins(module)
        headers = await login(client, "agent1")

        async def routed(amount, remedies):
            body = intake_body(kind="complaint", subject="网购商品与描述不符", content="商家拒绝处理，请求协调。",
                               details={"amount": amount, "remedies": remedies})
            response = await client.post("/api/channels/consumer_rights/orders", json=body, headers=headers)
            assert response.status_code == 201, response.text
            return response.json()["suggested_department"]

        assert await routed(80000, ["refund"]) == "market"
        assert await routed(50000, ["compensate"]) == "market"  # the bound is inclusive
        assert await routed(300, ["refund", "compensate"]) == "market_lugu"
        assert await routed(300, ["replace"]) == "market_meixihu"
    finally:
        sys.modules.pop("guide_consumer_rights", None)


def test_the_async_hooks_are_named_alike_wherever_the_docs_state_them():
    """Each paragraph of the guide and the hook reference that says which hooks may be ``async def``
    names exactly ``ASYNC_HOOKS``."""
    stated = []
    for name in ("writing-a-channel.md", "plugin_hooks.md"):
        for paragraph in (ROOT / "docs" / name).read_text().split("\n\n"):
            if re.search(r"hooks(?:[^.`]|`[^`]*`)*may be (written `def` or )?`async def`", paragraph.replace("\n", " ")):
                stated.append((name, set(re.findall(r"`(\w+)`", paragraph)) & set(HOOKS)))
    assert {name for name, _ in stated} == {"writing-a-channel.md", "plugin_hooks.md"}
    assert all(hooks == set(hookspecs.ASYNC_HOOKS) for _, hooks in stated), stated
