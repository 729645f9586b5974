"""What a channel (渠道/专线) declares: its identity, its fields with their labels, kinds and time limits.

A channel's fields are a msgspec Struct; each field's label, help and choice labels ride on its type
through ``Annotated[..., field(...)]``, so the API, the web form and validation all read one source.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
from typing import Annotated, Any, Literal

import msgspec

KINDS: dict[str, str] = {
    "consult": "咨询",
    "help": "求助",
    "complaint": "投诉",
    "report": "举报",
    "suggestion": "建议",
    "praise": "表扬",
}
Kind = Literal[tuple(KINDS)]  # type: ignore[valid-type]  # the kinds as a type: KINDS is its one source

# the district's message boards, each a source of its own (an admin adds others: core/sources.py)
BOARDS: dict[str, str] = {"hongwang": "区红网", "renminwang": "区人民网"}
SOURCES: dict[str, str] = {
    "phone": "电话",
    "city_transfer": "市级转派",
    "web_form": "网页表单",
    "netboard": "网络留言（其他）",
    **BOARDS,
    "mailbox": "信箱",
    "api": "接口",
}
BUILTIN_SOURCES = dict(SOURCES)  # SOURCES also holds the boards an admin added (core/sources.py)


def field(label: str, help: str = "", *, choices: dict[str, str] | None = None,
          widget: str | None = None, shown_when: tuple[str, Any] | None = None,
          after_contact: bool = False, **constraints: Any) -> msgspec.Meta:
    """The metadata of one channel field: its Chinese label, help text, choice labels and widget.

    ``shown_when=("reply_method", "email")`` asks forms to offer the field only once another field of
    the channel has that value (the plugin's own check still decides whether it is required);
    ``after_contact`` places it after the citizen's contact details (a reward claim's bank account)."""
    extra: dict[str, Any] = {"label": label}
    if choices:
        extra["choices"] = choices
    if widget:
        extra["widget"] = widget
    if shown_when:
        extra["shown_when"] = {"field": shown_when[0], "value": shown_when[1]}
    if after_contact:
        extra["after_contact"] = True
    return msgspec.Meta(title=label, description=help or None, extra=extra, **constraints)


class CitizenWording(msgspec.Struct, frozen=True, kw_only=True):
    """What a channel's public pages say, in the channel's own words (defaults suit the hotline).

    The core gives every form the same shape; the wording, examples and notices are the channel's."""

    card: str = ""  # the channel's card on /forms, written for citizens (falls back to the description)
    notice: str = ""  # shown at the top of the form, before anything is typed (e.g. emergencies: 110/119)
    subject_example: str = "小区旁工地夜间施工噪音扰民"
    content_help: str = "请写明时间、地点、经过和您希望怎样解决，写得越清楚办得越快"
    address_help: str = "街道、小区、门牌号等"
    name_label: str = "姓名或称呼"
    name_help: str = "可以只写姓氏，例如：李女士"
    contact_note: str = "您的姓名和电话只用于办理和回访，不会公开。"
    after_contact_title: str = "补充信息"  # the section of fields declared ``after_contact``
    after_contact_note: str = ""
    explainer_title: str = ""  # a short section of the channel's rules (a reward, say), shown on the form
    explainer: tuple[str, ...] = ()


class SlaDefaults(msgspec.Struct, frozen=True, kw_only=True):
    """Time limits for one channel (docs/architecture.md), overridable per kind in ``handle_days_by_kind``."""

    dispatch_hours: float = 2
    accept_days: int = 1
    handle_days_by_kind: dict[str, int] = msgspec.field(
        default_factory=lambda: {"consult": 3, "help": 3, "complaint": 13, "report": 13,
                                 "suggestion": 13, "praise": 3})
    urgent_natural_hours: int = 24
    callback_days: int = 1
    appeal_days: int = 3
    appeal_review_days: int = 3  # the centre rules on a department's 申诉 within this many working days
    difficult_days: int = 10  # a 疑难 order's handling deadline moves on by this many working days


class Channel(msgspec.Struct, frozen=True, kw_only=True):
    """One business line. ``fields`` is the Struct its ``details`` must satisfy."""

    code: str
    name: str
    description: str
    fields: type[msgspec.Struct] | None = None
    kinds: tuple[str, ...] = tuple(KINDS)
    sla: SlaDefaults = SlaDefaults()
    public: bool = True  # offered to citizens as a web form
    # The citizen is a reporter whose identity nobody outside the centre may see (tip-offs):
    # name and phone are sealed at rest and left out of every view outside the centre.
    protect_reporter: bool = False
    confidential: tuple[str, ...] = ()  # detail fields sealed at rest and shown to the centre only
    anonymous_allowed: bool = True  # a citizen may file without a name and phone
    contact_name_required: bool = False  # the citizen's name (a contact person) must be given
    wording: CitizenWording = CitizenWording()
    # A boolean field in which the citizen consents to having the request and its reply published;
    # a channel naming one gets a public page of answered, consented requests (personal data masked).
    consent_field: str | None = None
    # The text field of the channel that says where the matter is (环保's 具体位置): the web form shows it
    # in place of the common 事发地址, beside 街道, and an intake without an address takes it as one.
    location_field: str | None = None
    default: bool = False  # the line an order belongs to when nothing names a channel (one only)
    # 联合办理 (core/joint.py): whether a dispatch may name assisting (协办) departments besides the lead
    joint_handling: str = "allowed"  # one of JOINT_HANDLING
    # What the centre verifies on site (实地核实, core.site_visits) for this line's orders, when it does:
    # "recheck" or "enterprise_visit". Any order with an appeal awaiting its ruling may be verified too.
    site_visit: str | None = None


JOINT_HANDLING: dict[str, str] = {
    "allowed": "可联合办理",  # a dispatcher may name assisting departments, or none
    "required": "须联合办理",  # every dispatch names at least one assisting department
    "forbidden": "不联合办理",  # one department handles each order alone
}

FLAGS: dict[str, str] = {
    "mass_incident": "群体性事件预警",
}


class Assessment(msgspec.Struct, frozen=True, kw_only=True):
    """A channel's judgement of a new order (the ``assess_intake`` hook)."""

    priority: Literal["normal", "urgent"] = "normal"
    flags: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()  # shown to staff: why it is urgent or flagged


class Panel(msgspec.Struct, frozen=True, kw_only=True):
    """A channel's box on an order's console page (the ``order_panels`` hook)."""

    title: str
    rows: tuple[tuple[str, str], ...] = ()  # (label, value) pairs, shown in order
    text: str = ""  # a paragraph under the rows


class FieldInfo(msgspec.Struct, frozen=True):
    """A channel field as API clients and forms see it: computed once from the declaration
    (``describe_fields``) and read by the API schema, the web and console forms, the demo generator,
    ``huying check-channel`` and the tests, so no one introspects a field Struct on their own."""

    name: str
    label: str
    type: str
    required: bool
    choices: dict[str, str] | None = None
    help: str = ""
    widget: str | None = None
    shown_when: dict[str, Any] | None = None  # offered only when another field has this value
    after_contact: bool = False
    # the limits the field's type declares (``field(..., ge=1, max_length=40)``) and its first example
    min: float | None = None
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    example: Any = None
    default: Any = None  # the value an order gets when the field is left out (None: none declared)

    @property
    def sample(self) -> Any:
        """A value this description alone says is valid (``sample_value``): what the demo, the core
        tests and ``huying check-channel`` fill the field with."""
        return sample_value(self)


def _unwrap(tp: Any) -> tuple[Any, list[msgspec.Meta], bool]:
    metas: list[msgspec.Meta] = []
    optional = False
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp, *extras = typing.get_args(tp)
            metas.extend(m for m in extras if isinstance(m, msgspec.Meta))
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(tp))
            if len(args) != 1:
                return tp, metas, optional
            tp = args[0]
        else:
            return tp, metas, optional


def _type_name(tp: Any) -> tuple[str, list[str] | None]:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "choice", [str(a) for a in typing.get_args(tp)]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "choice", [str(m.value) for m in tp]
    if origin in (list, tuple, set, frozenset):
        inner, _ = _type_name(_unwrap(typing.get_args(tp)[0])[0])
        return ("multi_choice" if inner == "choice" else "list"), _type_name(_unwrap(typing.get_args(tp)[0])[0])[1]
    simple = {bool: "boolean", int: "integer", float: "number", str: "string",
              dt.date: "date", dt.datetime: "datetime"}
    return simple.get(tp, "string"), None


def describe_fields(struct: type[msgspec.Struct] | None) -> list[FieldInfo]:
    """Read a channel's field Struct into the public field descriptions, in declaration order."""
    if struct is None:
        return []
    hints = typing.get_type_hints(struct, include_extras=True)
    infos = []
    for f in msgspec.structs.fields(struct):
        tp, metas, _ = _unwrap(hints[f.name])
        extra: dict[str, Any] = {}
        help_text = ""
        limits: dict[str, Any] = {}
        for m in metas:
            extra.update(m.extra or {})
            help_text = m.description or help_text
            low = m.ge if m.ge is not None else m.gt
            high = m.le if m.le is not None else m.lt
            for key, value in (("min", low), ("max", high), ("min_length", m.min_length),
                               ("max_length", m.max_length), ("example", (m.examples or [None])[0])):
                if value is not None:
                    limits.setdefault(key, value)
        type_name, values = _type_name(tp)
        choices = extra.get("choices")
        if values is not None and choices is None:
            choices = {v: v for v in values}
        if extra.get("widget") == "textarea":
            type_name = "text"
        if type_name == "integer":  # exclusive integer limits as the inclusive ones they mean
            if limits.get("min") is not None and metas and any(m.gt is not None for m in metas):
                limits["min"] = limits["min"] + 1
            if limits.get("max") is not None and metas and any(m.lt is not None for m in metas):
                limits["max"] = limits["max"] - 1
        infos.append(FieldInfo(
            name=f.encode_name,
            label=extra.get("label", f.name),
            type=type_name,
            required=f.required,
            choices=choices,
            help=help_text,
            widget=extra.get("widget"),
            shown_when=extra.get("shown_when"),
            after_contact=bool(extra.get("after_contact")),
            default=None if f.default is msgspec.NODEFAULT or f.default_factory is not msgspec.NODEFAULT
            else f.default,
            **limits,
        ))
    return infos


def sample_value(info: FieldInfo) -> Any:
    """A value the field's description alone says is valid (JSON-shaped, as the API takes it): its
    declared example, else its first choice (a one-item list for a multi-choice), a required yes/no
    answered yes, the least number its limits allow, today, or a text within its length limits.

    The demo generator, ``huying check-channel`` and the core tests all fill a channel's fields with
    this, so a channel whose own checks refuse it should declare ``examples=[...]`` on the field."""
    from core import clock

    if info.example is not None:
        return info.example
    if info.type == "choice" and info.choices:
        return next(iter(info.choices))
    if info.type == "multi_choice" and info.choices:
        return list(info.choices)[:max(1, info.min_length or 1)]
    if info.type == "boolean":
        return info.required
    if info.type == "integer":
        return int(info.min) if info.min is not None else (1 if info.max is None or info.max >= 1 else int(info.max))
    if info.type == "number":  # strictly inside the limits, whether they are inclusive or not
        if info.min is None:
            return 1 if info.max is None or info.max > 1 else info.max - 1
        if info.max is None or info.min + 1 < info.max:
            return info.min + 1
        return (info.min + info.max) / 2
    if info.type == "date":
        return clock.today().isoformat()
    if info.type == "datetime":
        return clock.local_now().replace(second=0, microsecond=0).isoformat()
    if info.type == "list":
        return []
    if info.widget in _WIDGET_SAMPLES:
        return _WIDGET_SAMPLES[info.widget]
    text = f"{info.label}（示例）"
    while len(text) < (info.min_length or 0):
        text += f"{info.label}（示例）"
    return text[:info.max_length] if info.max_length else text


_WIDGET_SAMPLES = {"email": "citizen@example.com", "tel": "13912345678", "url": "https://example.com/"}


def sample_details(struct: type[msgspec.Struct] | None, *, optional: bool = False) -> dict[str, Any]:
    """A sample for each required field of a channel (and each optional one when ``optional``)."""
    return {f.name: sample_value(f) for f in describe_fields(struct) if f.required or optional}


def field_labels(struct: type[msgspec.Struct] | None) -> dict[str, str]:
    return {f.name: f.label for f in describe_fields(struct)}
