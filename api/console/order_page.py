"""The order page of the console (``detail``) and what it is made of: the actions' forms, the
timeline in words, the callback desk beside the reply being rated. The pages that end on an order
(an action, an upload, a callback) render it through here."""

from __future__ import annotations

import msgspec
from litestar import Request, Response

from api.console.centre import related_articles
from api.console.forms import GENERAL, PRIORITIES, struct_fields
from api.console.pages import platform_of, render_page
from api.console.panels import order_panels
from api.presenter import present
from api.web.tracking import publishes_replies
from core import meetings, reply_templates, site_visits, telephony
from core.callbacks import CLOSED_LABELS, OUTCOMES, policy_of, replies_being_rated
from core.channels import SOURCES, describe_fields
from core.knowledge import READERS
from core.lifecycle import RETURN_REASONS, STATUSES
from core.model import Actor, actor_label
from core.sla import DEADLINE_LABELS
from core.surveys import EVENTS as SURVEY_EVENTS
from core.tables import Department, Order
from core.users import display_names

EVENT_LABELS = {"intake": "受理", "attach": "上传附件", "calendar_reschedule": "工作日历调整时限",
                "department_merged": "单位合并", **SURVEY_EVENTS,
                **meetings.EVENTS, **site_visits.EVENTS, **telephony.ORDER_EVENTS}
INTAKE_CHOICES = {"source": SOURCES, "priority": PRIORITIES}


async def departments(*, dispatchable: bool = False) -> list[dict]:
    """Every department (to filter by), or those taking new orders (to dispatch to)."""
    query = Department.select(Department.code, Department.name, Department.parent, Department.aliases)
    if dispatchable:
        query = query.where(Department.active == True)  # noqa: E712  (a column comparison)
    return await query.order_by(Department.sort).order_by(Department.code).output(load_json=True)


async def desk(platform, order: dict, actor) -> dict | None:
    """What the callback form shows beside it, or None when this user cannot call this order back now."""
    offered = {a["name"] for a in order["actions"]}
    if not offered & {"callback", "callback_attempt"}:
        return None
    row = await Order.select(Order.deadlines).where(Order.number == order["number"]).output(load_json=True).first()
    callback = ((row or {}).get("deadlines") or {}).get("callback") or {}
    reply = (await replies_being_rated([order["number"]])).get(order["number"])
    return {"reply": reply, "attempts": int(callback.get("attempts") or 0), "tries": policy_of(platform.orders).tries,
            "retry_at": callback.get("retry_at"), "outcomes": OUTCOMES, "rate": "callback" in offered,
            "attempt": "callback_attempt" in offered,
            # 外呼: through the PBX when its originate interface is configured, else a tel: link
            "originate": bool(platform.settings.cti_originate_url), "dials": await platform.telephony.dials_of_order(
                order["number"])}


def action_fields(platform, order: dict, action) -> list:
    fields = struct_fields(action.payload)
    if action.name == "reply" and not publishes_replies(platform.channels.get(order["channel"])):
        fields = [f for f in fields if f.name != "public_reply"]
    return fields


def timeline(platform, order: dict, names: dict[str, str], people: dict[str, str],
              files: dict[str, str] | None = None) -> list[dict]:
    lifecycle = platform.channels.lifecycle(order["channel"])
    shown = []
    for e in order.get("events", []):
        action = lifecycle.get(e["action"])
        described = describe_fields(action.payload) if action else []
        labels = {f.name: f.label for f in described}
        choices = {f.name: f.choices or {} for f in described}
        choices.update(INTAKE_CHOICES)
        if e["action"] in site_visits.EVENTS:
            labels.update({key: label for key, (label, _) in site_visits.TIMELINE_KEYS.items()})
            choices.update({key: known for key, (_, known) in site_visits.TIMELINE_KEYS.items()})
        details = []
        for key, value in (e["payload"] or {}).items():
            if value in ("", None, [], {}) or key in ("reason", "note", "text") and value == e["reason"]:
                continue
            if e["action"] == "attach" and key not in ("filename", "size"):  # its storage key, type, uploader
                continue
            if key in ("department", "suggested_department", "from_department"):
                value = names.get(value, value)
            elif key == "assisting" and isinstance(value, list):  # departments named by a dispatch
                value = "、".join(names.get(v, "（已删除的单位）") for v in value)
            elif key == "attachments" and isinstance(value, list) and files is not None:
                value = "、".join(files.get(v, "附件") for v in value)
            elif isinstance(value, str) and value in choices.get(key, {}):
                value = choices[key][value]
            elif isinstance(value, bool):
                value = "是" if value else "否"
            elif isinstance(value, list):
                value = "、".join(map(str, value))
            details.append((labels.get(key, {"source": "来源", "priority": "紧急程度", "flags": "预警",
                                              "filename": "文件名", "size": "大小", "attempt": "第几次回访",
                                              "tries": "回访次数上限", "closed": "回访结束", "closed_as": "结果",
                                              "callback": "需要回访", "extended_days": "顺延工作日",
                                              "handle_due": "新的办理时限", "department": "承办单位",
                                              "from_department": "原承办单位", "withdrawn_parts": "撤销的协办",
                                              **meetings.EVENT_FIELDS, **telephony.EVENT_FIELDS}.get(key, key)),
                            CLOSED_LABELS.get(value, value) if key == "closed_as" else value))
        shown.append({
            "label": action.label if action else EVENT_LABELS.get(e["action"], e["action"]),
            "actor": actor_label(e["actor"], e["role"], people),
            "department": names.get(e["department"] or "", ""),
            "from": STATUSES.get(e["from_status"] or "", ""), "to": STATUSES.get(e["to_status"] or "", ""),
            "reason": e["reason"], "details": details, "at": e["created_at"],
        })
    return shown


async def detail(request: Request, actor: Actor, number: str, *, order: dict | None = None,
                  status_code: int = 200, open_action: str = "", values: dict | None = None,
                  errors: dict | None = None, banner: str = "", banner_kind: str = "info",
                  back: str = "") -> Response:
    """The order page: the order, its timeline, files and panels, and the actions this user may take
    now (one of them opened with what was typed and its errors, after a refusal)."""
    platform = platform_of(request)
    if order is None:
        record, events = await platform.orders.detail(number, actor)
        order = present(platform, record, actor, events)
    names = await platform.orders.department_names()
    people = await display_names()
    lifecycle = platform.channels.lifecycle(order["channel"])
    channel = platform.channels.get(order["channel"])
    attachments = [msgspec.to_builtins(a) for a in await platform.orders.attachments(number, actor)]
    callback = await desk(platform, order, actor)  # the callback form, beside the reply it rates
    actions = []
    for a in order["actions"]:
        action = lifecycle.get(a["name"])
        if action is None or action.reveals_contact or callback and a["name"] in ("callback", "callback_attempt"):
            continue
        actions.append({"name": action.name, "label": action.label, "fields": action_fields(platform, order, action),
                        "open": action.name == open_action})
    reveal = next((a for a in order["actions"] if lifecycle.get(a["name"]) and lifecycle.get(a["name"]).reveals_contact),
                  None)
    panels = await order_panels(platform, order, actor)
    visits = await platform.site_visits.for_order(number, actor)
    fits = site_visits.purposes_for(channel, order["status"])
    knowledge = await related_articles(platform, order, actor) if actor.role in READERS else None
    returned_by = {e["department"] for e in order.get("events", []) if e["action"] == "return" and e["department"]}
    dispatch_default = order["suggested_department"] if order["suggested_department"] not in returned_by else None
    duplicates = []
    if actor.in_centre and order["status"] == "received":
        summary = {"number": order["number"], "_phone": ""}
        await platform.orders.mark_duplicates([summary])
        duplicates = summary["duplicate_orders"]
    return await render_page(
        request, actor, "order.html", status_code=status_code, order=order, names=names, channel=channel,
        fields=[(f.label, choice_labels(f, order["details"].get(f.name)))
                for f in describe_fields(channel.fields if channel else None)
                if order["details"].get(f.name) not in (None, "", [])],
        timeline=timeline(platform, order, names, people, {a["key"]: a["filename"] for a in attachments}),
        people=people, attachments=attachments, actions=actions, reveal=reveal,
        panels=panels, values=values or {}, errors=errors or {}, general=(errors or {}).get(GENERAL, ""),
        banner=banner, banner_kind=banner_kind, departments=await departments(dispatchable=True), duplicates=duplicates,
        deadline_labels=DEADLINE_LABELS, done=request.query_params.get("done", ""),
        reply_templates={"own": await reply_templates.list_for(order["department"]) if any(
            a["name"] == "reply" for a in actions) else [], "generic": reply_templates.GENERIC},
        knowledge=knowledge, callback=callback, back=back,
        meetings=await platform.meetings.for_order(number, actor),
        site_visits=visits, place_text=site_visits.place_text,
        schedule_visit=bool(fits) and site_visits.may_schedule(actor, order["department"], fits),
        calls=await platform.telephony.calls_of_order(order["number"]),
        dispatch_default=dispatch_default, pending_return=pending_return(order, names, people, actions))


def pending_return(order: dict, names: dict, people: dict, actions: list[dict]) -> dict | None:
    """A 退单 waiting for the dispatcher's ruling, shown at the top of the order beside its rulings."""
    if order["status"] != "returned":
        return None
    last = next((e for e in reversed(order.get("events", [])) if e["action"] == "return"), None)
    if last is None:
        return None
    payload = last["payload"] or {}
    suggested = payload.get("suggested_department") or ""
    return {"department": last["department"] or "", "department_name": names.get(last["department"] or "", "承办单位"),
            "by": actor_label(last["actor"], last["role"], people), "at": last["created_at"],
            "type": RETURN_REASONS.get(payload.get("reason_type") or "", ""),
            "reason": payload.get("reason") or last["reason"], "suggested": suggested,
            "suggested_name": names.get(suggested, "") if suggested else "",
            "may_rule": any(a["name"] == "uphold_return" for a in actions)}


def choice_labels(f, value):
    """A channel field's value as its declaration names it: a choice by its label, a list of choices
    by theirs."""
    if not f.choices:
        return value
    if isinstance(value, list):
        return [f.choices.get(v, v) if isinstance(v, str) else v for v in value]
    return f.choices.get(value, value) if isinstance(value, str) else value
