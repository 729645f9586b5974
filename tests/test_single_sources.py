"""Facts the platform states once: the centre's time zone, the request kinds, and how a field is
described; a second copy that could drift fails here."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import pytest

from core.channels import KINDS, Channel, Kind, describe_fields, field

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for folder in ("core", "api", "plugins", "bench", "tests") for p in (ROOT / folder).rglob("*.py")]


def test_the_centres_time_zone_is_defined_in_one_place():
    """Beijing time is ``core.clock.SHANGHAI`` (and its offset for SQL day arithmetic); nowhere
    else builds a UTC+8 zone or names Asia/Shanghai in code."""
    pattern = re.compile(r"ZoneInfo\(\s*[\"']Asia/Shanghai|timezone\(\s*(dt\.)?timedelta\(\s*hours\s*=\s*8|OFFSET\w* = 8 \* 3600")
    found = [str(p.relative_to(ROOT)) for p in SOURCES
             if p != ROOT / "core" / "clock.py" and p != Path(__file__) and pattern.search(p.read_text())]
    assert found == []


def test_the_kinds_type_is_read_from_the_kinds_labels():
    """``Kind`` is ``KINDS``'s keys: a kind added with its label is accepted by the intake request
    and the city's pushes alike, with no second list to update."""
    from core.city import CityOrder
    from core.intake import IntakeRequest

    assert typing.get_args(Kind) == tuple(KINDS)
    for struct in (IntakeRequest, CityOrder):
        hints = typing.get_type_hints(struct, include_extras=True)
        assert hints["kind"] is Kind or typing.get_args(hints["kind"])[0] is Kind, struct


class Letter(msgspec.Struct, kw_only=True):
    topic: Annotated[Literal["roads", "parks"], field("主题", choices={"roads": "道路", "parks": "公园"})]
    aspects: Annotated[list[Literal["noise", "light"]], field("方面", choices={"noise": "噪音", "light": "灯光"})]
    people: Annotated[int, field("人数", gt=0, le=500)]
    amount: Annotated[float, field("金额", ge=0.5, examples=[1200.5])]
    account: Annotated[str, field("账号", min_length=6, max_length=19)]
    note: Annotated[str, field("备注", max_length=40)] = ""


def test_the_web_form_reads_its_limits_from_the_field_description():
    """The public form's inputs carry the limits and example of the one ``FieldInfo``: the integer
    bound as the inclusive one it means, lengths on text only, the example in the help."""
    from api.web.forms import all_fields, sections

    channel = Channel(code="letters", name="来信", description="测试", fields=Letter)
    inputs = {f.name: f for f in all_fields(sections(channel))}
    info = {f.name: f for f in describe_fields(Letter)}
    assert (inputs["details.people"].min, inputs["details.people"].max) == (info["people"].min, info["people"].max) == (1, 500)
    assert (inputs["details.account"].minlength, inputs["details.account"].maxlength) == (6, 19)
    assert inputs["details.aspects"].minlength is None and inputs["details.aspects"].maxlength is None
    assert inputs["details.amount"].min == 0.5 and "例如：1200.5" in inputs["details.amount"].help
    assert inputs["subject"].maxlength == 200 and inputs["content"].maxlength == 20000


def test_each_field_description_carries_a_sample_its_own_type_accepts():
    infos = describe_fields(Letter)
    sample = {f.name: f.sample for f in infos}
    assert sample["aspects"] == ["noise"] and sample["topic"] == "roads" and sample["people"] == 1
    assert sample["amount"] == 1200.5 and 6 <= len(sample["account"]) <= 19
    msgspec.convert(sample, Letter)


@pytest.mark.parametrize("struct_path", ["core.lifecycle.CallbackPayload", "core.lifecycle.CallbackAttemptPayload",
                                         "core.site_visits.Record", "core.builtins.sweeps.SlaMark"])
def test_a_choice_fields_type_and_labels_name_the_same_codes(struct_path):
    """Where a choice field's type and its labels sit side by side, the type is read from the
    labels, so a code cannot be accepted without a label to show for it."""
    import importlib

    module, name = struct_path.rsplit(".", 1)
    struct = getattr(importlib.import_module(module), name)
    for info in describe_fields(struct):
        if info.type == "choice":
            hints = typing.get_type_hints(struct, include_extras=True)
            declared = typing.get_args(hints[info.name])[0]
            while typing.get_origin(declared) is not Literal:
                declared = next(a for a in typing.get_args(declared) if a is not type(None))
            labels = {k: v for k, v in (info.choices or {}).items()}
            assert set(typing.get_args(declared)) <= set(labels), (struct_path, info.name)
