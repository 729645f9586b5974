"""Console forms generated from declarations: each action's payload Struct (core/lifecycle.py, or a
channel's own action) and the phone intake from the channel's field Struct. Labels, help, choices and
limits all come from the Struct, so no action or channel needs page code.
"""

from __future__ import annotations

from typing import Any

import msgspec

from api.web.forms import YES_NO, FormField, input_limits, plain_message, struct_limits
from core.channels import KINDS, describe_fields
from core.errors import FieldError
from core.intake import IntakeRequest

GENERAL = "_form"


def struct_fields(struct: type[msgspec.Struct] | None, prefix: str = "") -> list[FormField]:
    """One form input per field of ``struct``, labelled by the Struct's own metadata."""
    if struct is None:
        return []
    return [FormField(prefix + f.name, f.label, f.type, f.required,
                      YES_NO if f.type == "boolean" and f.required else f.choices, f.help, f.widget,
                      default=f.default, **input_limits(f)) for f in describe_fields(struct)]


def read_values(form: Any, fields: list[FormField]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The posted values as data for the Struct (empty inputs left out so defaults apply, dotted
    names nested) and the raw values to show again."""
    data: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for f in fields:
        if f.type == "multi_choice" or f.widget in ("attachments", "departments"):
            picked = [v for v in form.getall(f.name, []) if isinstance(v, str) and v]
            values[f.name] = picked
            value: Any = picked or None
        elif f.type == "boolean" and f.required:
            answer = form.get(f.name)
            values[f.name] = answer if answer in YES_NO else ""
            value = (answer == "yes") if answer in YES_NO else None
        elif f.type == "boolean":
            value = str(form.get(f.name, "")).lower() in ("on", "true", "1", "yes")
            values[f.name] = value
        else:
            raw = form.get(f.name)
            raw = raw if isinstance(raw, str) else ""
            values[f.name] = raw
            text = raw.strip()
            value = [line.strip() for line in text.splitlines() if line.strip()] if f.type == "list" else text
            value = value or None
        if value is not None:
            head, _, rest = f.name.partition(".")
            if rest:
                data.setdefault(head, {})[rest] = value
            else:
                data[head] = value
    return data, values


def check_fields(structs: dict[str, type[msgspec.Struct] | None], fields: list[FormField],
                 data: dict[str, Any]) -> dict[str, str]:
    """Every input against its own declared type at once (msgspec stops at the first error).
    ``structs`` maps a name prefix ("" or "details.") to the Struct declaring those names."""
    declared: dict[str, tuple[Any, bool]] = {}
    for prefix, struct in structs.items():
        if struct is not None:
            for f in msgspec.structs.fields(struct):
                declared[prefix + f.encode_name] = (f.type, f.required)
    errors: dict[str, str] = {}
    for f in fields:
        type_, required = declared.get(f.name, (None, False))
        head, _, rest = f.name.partition(".")
        value = data.get(head, {}).get(rest) if rest else data.get(head)
        if value is None:
            if required:
                errors[f.name] = f"请{'选择' if f.picks or f.widget in ('department', 'supervision') else '填写'}{f.label}"
            continue
        if type_ is not None:
            try:
                msgspec.convert(value, type_, strict=False)
            except msgspec.ValidationError as exc:
                errors[f.name] = plain_message(str(exc))
    return errors


def file_errors(errors: dict[str, str], found: list[FieldError], fields: list[FormField]) -> dict[str, str]:
    """Put the service's refusals beside their inputs (anything else at the top of the form)."""
    names = {f.name for f in fields}
    for error in found:
        key = error.key
        while key not in names and "." in key:
            key = key.rsplit(".", 1)[0]
        if key in names:
            errors.setdefault(key, plain_message(error.message))
        else:
            errors[GENERAL] = "；".join(p for p in (errors.get(GENERAL, ""), plain_message(error.message)) if p)
    return errors


# -- the agent's phone intake ------------------------------------------------------------------------

PRIORITIES = {"normal": "一般", "urgent": "紧急"}


def intake_fields() -> list[FormField]:
    """The common part of a phone intake, in the order a call-taker fills it."""
    limits = struct_limits(IntakeRequest)
    return [
        FormField("citizen.phone", "来电号码", "string", False, widget="tel", maxlength=20,
                  help="输入号码后右侧显示该号码 90 天内的工单"),
        FormField("citizen.name", "来电人", "string", maxlength=64, help="可只写姓氏，如：李女士"),
        FormField("anonymous", "匿名", "boolean"),
        FormField("kind", "诉求类型", "choice", True, dict(KINDS)),
        FormField("priority", "紧急程度", "choice", False, PRIORITIES),
        FormField("category", "分类", "string", help="输入关键字选择，如：噪音", **limits["category"]),
        FormField("subject", "标题", "string", True, **limits["subject"]),
        FormField("content", "来电内容", "text", True, **limits["content"]),
        FormField("address", "事发地址", "string", **limits["address"]),
        FormField("area", "街道（乡镇）", "string", **limits["area"]),
    ]


def channel_fields(channel) -> list[FormField]:
    return struct_fields(channel.fields, "details.")
