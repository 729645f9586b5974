"""A channel's public form, built from its field declarations, and how a posted form becomes an order.

The form is generated: the common fields of every request plus the channel's own fields as the plugin
describes them, so no channel needs page code. A posted form goes through the JSON API's path
(``IntakeRequest`` and ``OrderService.intake``); each error is mapped back to the input it belongs to,
so the citizen sees it beside what they typed. Every field is checked on its own first, so one round
shows all the mistakes rather than one at a time.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from core.attachments import NewAttachment
from core.channels import KINDS, Channel, FieldInfo, describe_fields
from core.errors import FieldError, InvalidInput
from core.model import Actor, Citizen, OrderRecord
from core.orders import IntakeRequest, field_errors

WEB_ACTOR = Actor(name="web", role="citizen", kind="citizen")
SOURCE = "web_form"
NAME_MAX = 64  # the width of the stored name; Citizen itself sets no limit
GENERAL = "_form"  # errors that belong to no single input
YES_NO = {"yes": "是", "no": "否"}  # a yes/no question that must be answered is two radio buttons


@dataclasses.dataclass(frozen=True)
class FormField:
    """One input as a template renders it; ``name`` is the request's dotted key (``details.topic``)."""

    name: str
    label: str
    type: str
    required: bool = False
    choices: dict[str, str] | None = None
    help: str = ""
    widget: str | None = None
    maxlength: int | None = None
    minlength: int | None = None
    min: float | None = None
    max: float | None = None
    autocomplete: str | None = None
    example: str | None = None
    shown_when: tuple[str, Any] | None = None  # (input name, value) that makes this input relevant
    default: Any = None  # the value a form shows before anything is typed (the Struct's own default)
    options: tuple[str, ...] = ()  # a typed input's pick list (街道): offered as the input is typed

    @property
    def list_id(self) -> str:
        return self.id + "-list"

    @property
    def id(self) -> str:
        return "f-" + re.sub(r"[^A-Za-z0-9]+", "-", self.name)

    @property
    def control(self) -> str:
        """The HTML control for the field's type (a plugin's ``widget`` hint wins where it fits)."""
        if self.type in ("text", "list") or self.widget == "textarea":
            return "textarea"
        if self.type == "boolean":
            return "radios" if self.required else "checkbox"  # an unticked box cannot mean "not answered"
        if self.type == "choice":
            if self.widget in ("radio", "select"):
                return "radios" if self.widget == "radio" else "select"
            return "radios" if len(self.choices or {}) <= 4 else "select"
        return {"multi_choice": "checkboxes", "boolean": "checkbox", "integer": "number", "number": "number",
                "date": "date", "datetime": "datetime"}.get(self.type, "input")

    @property
    def condition(self) -> tuple[str, str] | None:
        """The input and the form value (as posted) that show this field, for the page's script."""
        if self.shown_when is None:
            return None
        name, value = self.shown_when
        return name, ("true" if value else "false") if isinstance(value, bool) else str(value)

    @property
    def input_type(self) -> str:
        return self.widget if self.widget in ("email", "tel", "url") else "text"

    @property
    def picks(self) -> bool:
        """Chosen rather than typed: the missing-value message says 请选择."""
        return self.type in ("choice", "multi_choice", "boolean", "date", "datetime")


@dataclasses.dataclass(frozen=True)
class Section:
    title: str
    fields: list[FormField]
    note: str = ""


def input_limits(info: FieldInfo) -> dict[str, Any]:
    """An input's length or range limits and its example, read from the field's one description."""
    texty = info.type in ("string", "text")
    numeric = info.type in ("integer", "number")
    return {"maxlength": info.max_length if texty else None,
            "minlength": info.min_length if texty and (info.min_length or 0) > 1 else None,
            "min": info.min if numeric else None, "max": info.max if numeric else None,
            "example": None if info.example is None else str(info.example)}


def struct_limits(struct: type[msgspec.Struct]) -> dict[str, dict[str, Any]]:
    """``input_limits`` of each field of a Struct, by name."""
    return {f.name: input_limits(f) for f in describe_fields(struct)}


def _with_example(help_text: str, example: str | None) -> str:
    if not example or "例如" in help_text:
        return help_text
    return "，".join(p for p in (help_text, f"例如：{example}") if p)


def sections(channel: Channel, areas: Sequence[str] = ()) -> list[Section]:
    """The form of one channel: what happened and where, the channel's own fields, how to reach the
    citizen, and any of the channel's fields that belong after the contact details. The wording
    (examples, prompts, notes) is the channel's own (``Channel.wording``). Where is one set of inputs:
    街道 from the list (``areas``, searched by any part of a name) and one address, the channel's own
    place field when it declares one (``Channel.location_field``), else the common 事发地址."""
    common = struct_limits(IntakeRequest)
    wording = channel.wording
    place = None
    own_infos = list(describe_fields(channel.fields))
    if channel.location_field:
        found = next((f for f in own_infos if f.name == channel.location_field), None)
        if found is not None:
            own_infos.remove(found)
            place = _form_field(found)
    problem = Section("反映的问题", [
        FormField("kind", "诉求类型", "choice", True, {k: KINDS[k] for k in channel.kinds}),
        FormField("subject", "标题", "string", True, help=f"用一句话概括，例如：{wording.subject_example}",
                  **common["subject"]),
        FormField("content", "具体内容", "text", True, help=wording.content_help, **common["content"]),
        FormField("area", "所在街道（乡镇）", "string", help="输入街道名称的任一部分后从列表中选择，例如：梅溪湖",
                  options=tuple(areas), autocomplete="off", **{**common["area"], "example": None}),
        place or FormField("address", "事发地址", "string", help=wording.address_help, autocomplete="street-address",
                           **common["address"]),
    ])
    result = [problem]
    own, after = [], []
    for f in own_infos:
        (after if f.after_contact else own).append(_form_field(f))
    if own:
        result.append(Section(f"{channel.name}专项信息", own))
    contact = [
        FormField("citizen.name", wording.name_label, "string", channel.contact_name_required, help=wording.name_help,
                  maxlength=NAME_MAX, autocomplete="name"),
        FormField("citizen.phone", "联系电话", "string", True, widget="tel",
                  help="手机号 11 位，或带区号的座机号" + ("；选择匿名反映时可以不填" if channel.anonymous_allowed else ""),
                  maxlength=20, autocomplete="tel"),
    ]
    if channel.anonymous_allowed:  # asked first: whoever files anonymously skips what follows
        contact.insert(0, FormField("anonymous", "匿名反映", "boolean",
                                    help="匿名后不会电话联系您，办理结果只能凭工单编号和查询码在网上查询"))
    result.append(Section("联系方式", contact, note=wording.contact_note))
    if after:
        result.append(Section(wording.after_contact_title, after, note=wording.after_contact_note))
    return result


def _form_field(f: FieldInfo) -> FormField:
    """One of the channel's own fields as an input."""
    shown_when = (f"details.{f.shown_when['field']}", f.shown_when["value"]) if f.shown_when else None
    limits = input_limits(f)
    return FormField(f"details.{f.name}", f.label, f.type, f.required,
                     YES_NO if f.type == "boolean" and f.required else f.choices,
                     _with_example(f.help, limits["example"]), f.widget, shown_when=shown_when, **limits)


def all_fields(parts: list[Section]) -> list[FormField]:
    return [f for s in parts for f in s.fields]


# -- reading the posted form ---------------------------------------------------------------------------

def _put(data: dict, name: str, value: Any) -> None:
    head, _, rest = name.partition(".")
    if rest:
        data.setdefault(head, {})[rest] = value
    else:
        data[head] = value


def _get(data: dict, name: str) -> Any:
    head, _, rest = name.partition(".")
    return data.get(head, {}).get(rest) if rest else data.get(head)


def read_form(form: Any, fields: list[FormField]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The intake data (checkbox "on" → true, empty inputs left out so defaults apply) and the raw
    values to show again, exactly as typed."""
    data: dict[str, Any] = {"source": SOURCE, "citizen": {}, "details": {}}
    values: dict[str, Any] = {}
    for f in fields:
        if f.type == "multi_choice":
            picked = [v for v in form.getall(f.name, []) if isinstance(v, str) and v]
            values[f.name] = picked
            if picked:
                _put(data, f.name, picked)
        elif f.type == "boolean" and f.required:
            answer = form.get(f.name)
            values[f.name] = answer if answer in YES_NO else ""
            if answer in YES_NO:
                _put(data, f.name, answer == "yes")
        elif f.type == "boolean":
            checked = str(form.get(f.name, "")).lower() in ("on", "true", "1", "yes")
            values[f.name] = checked
            _put(data, f.name, checked)
        else:
            raw = form.get(f.name)
            raw = raw if isinstance(raw, str) else ""
            values[f.name] = raw
            text = raw.strip()
            if f.type == "list":
                items = [line.strip() for line in text.splitlines() if line.strip()]
                if items:
                    _put(data, f.name, items)
            elif text:
                _put(data, f.name, text)
    return data, values


# -- validation --------------------------------------------------------------------------------------

_CJK = re.compile(r"[\u4e00-\u9fff]")


def plain_message(message: str) -> str:
    """msgspec's English for a citizen; the core's and the plugins' Chinese messages pass unchanged."""
    if _CJK.search(message):
        return message
    rules = (
        (r"missing required field", lambda m: "此项必填"),
        (r"length >= 1\b", lambda m: "此项不能为空"),
        (r"length >= (\d+)", lambda m: f"至少填写 {m.group(1)} 个字"),
        (r"length <= (\d+)", lambda m: f"不能超过 {m.group(1)} 个字"),
        (r"Invalid enumeration value", lambda m: "请从给出的选项中选择"),
        (r"matching regex", lambda m: "格式不正确"),
        (r"Expected `int`, got", lambda m: "请填写整数"),
        (r"Expected `(float|number)`, got", lambda m: "请填写数字"),
        (r"`(?:int|float)` >= (-?[\d.]+)", lambda m: f"不能小于 {m.group(1)}"),
        (r"`(?:int|float)` > (-?[\d.]+)", lambda m: f"须大于 {m.group(1)}"),
        (r"`(?:int|float)` <= (-?[\d.]+)", lambda m: f"不能大于 {m.group(1)}"),
        (r"`(?:int|float)` < (-?[\d.]+)", lambda m: f"须小于 {m.group(1)}"),
        (r"datetime", lambda m: "请填写有效的日期和时间"),
        (r"date", lambda m: "请填写有效的日期，例如 2025-03-01"),
        (r"`bool`", lambda m: "请勾选或不勾选"),
    )
    for pattern, say in rules:
        match = re.search(pattern, message)
        if match:
            return say(match)
    return "填写的内容不符合要求"


def _types(channel: Channel) -> dict[str, tuple[Any, bool]]:
    """Each input's declared type and whether the Struct requires it."""
    found = {}
    for prefix, struct in (("", IntakeRequest), ("citizen.", Citizen), ("details.", channel.fields)):
        if struct is not None:
            for f in msgspec.structs.fields(struct):
                found[prefix + f.encode_name] = (f.type, f.required)
    return found


def precheck(channel: Channel, fields: list[FormField], data: dict[str, Any]) -> dict[str, str]:
    """Every input against its own declared type, so all type and required errors show at once."""
    types = _types(channel)
    errors: dict[str, str] = {}
    for f in fields:
        declared, required = types.get(f.name, (None, False))
        value = _get(data, f.name)
        if value is None:
            if required:
                errors[f.name] = f"请{'选择' if f.picks else '填写'}{f.label}"
            continue
        if f.maxlength and isinstance(value, str) and len(value) > f.maxlength:
            errors[f.name] = f"不能超过 {f.maxlength} 个字（现在 {len(value)} 个字）"
            continue
        if declared is not None:
            try:
                msgspec.convert(value, declared, strict=False)
            except msgspec.ValidationError as exc:
                errors[f.name] = plain_message(str(exc))
    return errors


def add_errors(errors: dict[str, str], found: list[FieldError], fields: list[FormField]) -> None:
    """File each error under its input (``details.tags.0`` under ``details.tags``); the first one wins."""
    names = {f.name for f in fields}
    for error in found:
        key = error.key
        while key not in names and "." in key:
            key = key.rsplit(".", 1)[0]
        if key not in names:
            key = GENERAL
        if key == GENERAL:
            errors.setdefault(GENERAL, "")
            errors[GENERAL] = "；".join(p for p in (errors[GENERAL], plain_message(error.message)) if p)
        else:
            errors.setdefault(key, plain_message(error.message))


_PLACEHOLDERS = {"subject": "-", "content": "-"}


def _probe(channel: Channel, data: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """The data with the inputs already known to be bad stood in for, so the core can still judge the
    rest (the phone rule, the kinds this channel takes) in the same round."""
    probe = copy.deepcopy(data)
    for name in errors:
        head, _, rest = name.partition(".")
        if rest:
            probe.get(head, {}).pop(rest, None)
        elif name == "kind":
            probe["kind"] = channel.kinds[0]
        elif name in _PLACEHOLDERS:
            probe[name] = _PLACEHOLDERS[name]
        else:
            probe.pop(name, None)
    return probe


class FormRejected(Exception):
    """The form has mistakes: ``errors`` maps input names (and ``_form``) to messages."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("form rejected")
        self.errors = errors


async def submit(platform: Any, channel: Channel, fields: list[FormField], data: dict[str, Any], *,
                 submission: str, hold: bool = False, attachments: Sequence[NewAttachment] = (),
                 admit: Callable[[], Awaitable[None]] | None = None) -> OrderRecord:
    """Record the form (and the files it carries) as an order and return it, or raise ``FormRejected``.

    ``submission`` is the form's own random id, used as the intake's idempotency key: posting the
    same form twice (a double tap, a reload) gives the first order back. ``hold`` checks everything
    but records nothing (an attachment was refused, so the citizen must see the form again).
    ``admit`` is awaited once the form is valid, just before it is recorded (the rate limit).
    """
    errors = precheck(channel, fields, data)
    probe = _probe(channel, data, errors)
    try:
        request = msgspec.convert(probe, IntakeRequest, strict=False)
    except msgspec.ValidationError as exc:
        add_errors(errors, field_errors(exc), fields)
        raise FormRejected(errors) from None
    request, area_error = await platform.orders.resolve_area(request, WEB_ACTOR)
    if area_error is not None:
        add_errors(errors, [area_error], fields)
    try:
        platform.orders.check_intake(channel.code, request, WEB_ACTOR)
        if not (errors or hold):
            if admit is not None:
                await admit()  # only a submission that would be recorded counts against the citizen's limit
            _, order = await platform.orders.intake(channel.code, request, WEB_ACTOR, idempotency_key=submission,
                                                    attachments=attachments)
            return order
    except InvalidInput as exc:
        add_errors(errors, exc.errors, fields)
    raise FormRejected(errors)
