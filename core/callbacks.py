"""Callbacks (回访) at queue speed: the centre's policy for retries and for orders resolved at intake,
the outcomes an agent records besides a rating, and what the agent's callback queue shows of each order.

An attempt that reaches nobody (未接通) is tried again after ``retry_hours`` working hours, up to
``tries`` attempts (by default three over two working days); the last one closes the callback as
无法回访 and archives the order without a rating. 拒访 and 号码错误 close it at once. Every attempt is
the audited ``callback_attempt`` event with ``outcome``, ``attempt``, ``tries`` and ``closed`` in its
payload, which is what the reports count (a closed callback without a rating is not a valid rating).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import msgspec

OUTCOMES: dict[str, str] = {"no_answer": "未接通", "refused": "拒访", "wrong_number": "号码错误"}
# how a closed callback without a rating is recorded in ``deadlines.callback.outcome``
CLOSED_AS: dict[str, str] = {"no_answer": "unreachable", "refused": "refused", "wrong_number": "wrong_number"}
CLOSED_LABELS: dict[str, str] = {"unreachable": "无法回访", "refused": "市民拒访", "wrong_number": "号码错误"}
REVEAL_REASON = "回访"  # recorded on the reveal an agent makes from the callback queue


class CallbackPolicy(msgspec.Struct, frozen=True, kw_only=True):
    tries: int = 3  # HUYING_CALLBACK_TRIES: attempts before a 未接通 callback closes as 无法回访
    retry_hours: float = 4.0  # HUYING_CALLBACK_RETRY_HOURS: working hours between two attempts
    # HUYING_RESOLVED_AT_INTAKE_CALLBACK: which orders resolved at intake wait for a callback
    resolved_at_intake: str = "sample:0.2"

    @classmethod
    def from_settings(cls, settings: Any) -> CallbackPolicy:
        return cls(tries=settings.callback_tries, retry_hours=settings.callback_retry_hours,
                   resolved_at_intake=settings.resolved_at_intake_callback)

    def resolved_needs_callback(self, number: str) -> bool:
        """Whether an order resolved at intake waits for a callback: ``all``, ``none``, or a sample
        that is the same for the same order number on every process and run (tests rely on it)."""
        return needs_callback(number, self.resolved_at_intake)


def parse_resolved_setting(text: str) -> str:
    """``all`` | ``none`` | ``sample:R`` (0 ≤ R ≤ 1); a bad value stops the start-up."""
    text = (text or "").strip().lower()
    if text in ("all", "none"):
        return text
    kind, _, rate = text.partition(":")
    try:
        value = float(rate)
    except ValueError:
        value = -1.0
    if kind != "sample" or not 0 <= value <= 1:
        raise ValueError(f"HUYING_RESOLVED_AT_INTAKE_CALLBACK: {text!r} 应为 all、none 或 sample:0.2 这样的比例")
    return f"sample:{value:g}"


def sample_point(number: str) -> float:
    """A stable point in [0, 1) for an order number (its SHA-256), for sampling."""
    return int.from_bytes(hashlib.sha256(number.encode()).digest()[:8], "big") / 2 ** 64


def needs_callback(number: str, setting: str) -> bool:
    setting = parse_resolved_setting(setting)
    if setting in ("all", "none"):
        return setting == "all"
    return sample_point(number) < float(setting.partition(":")[2])


def policy_of(service: Any) -> CallbackPolicy:
    return getattr(service, "callbacks", None) or CallbackPolicy()


def attempt_closes(order: Any, outcome: str, policy: CallbackPolicy) -> bool:
    attempts = int(((order.deadlines or {}).get("callback") or {}).get("attempts") or 0)
    return outcome != "no_answer" or attempts + 1 >= policy.tries


def local(value: dt.datetime | str) -> str:
    from core.clock import SHANGHAI

    when = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(SHANGHAI).strftime("%m-%d %H:%M")


async def replies_being_rated(numbers: list[str]) -> dict[str, dict]:
    """For each order, the answer the citizen is asked about: the approved reply (its text, the
    department that wrote it, when, and when the centre approved it) or the agent's answer at intake."""
    from core.tables import Order, OrderEvent

    if not numbers:
        return {}
    ids = {r["id"]: r["number"] for r in await Order.select(Order.id, Order.number).where(Order.number.is_in(numbers))}
    if not ids:
        return {}
    events = await (OrderEvent.select(OrderEvent.order_id, OrderEvent.action, OrderEvent.actor, OrderEvent.department,
                                      OrderEvent.payload, OrderEvent.created_at)
                    .where(OrderEvent.order_id.is_in(list(ids)) &
                           OrderEvent.action.is_in(["reply", "approve", "resolve_at_intake"]))
                    .order_by(OrderEvent.id).output(load_json=True))
    found: dict[str, dict] = {}
    for e in events:  # in order: the last reply and its approval win (a reply sent back is replaced)
        number = ids[e["order_id"]]
        payload = e["payload"] or {}
        if e["action"] == "reply":
            found[number] = {"text": payload.get("reply", ""), "department": e["department"] or "",
                             "by": e["actor"], "at": e["created_at"], "approved_at": None, "at_intake": False}
        elif e["action"] == "approve" and number in found:
            found[number]["approved_at"] = e["created_at"]
        elif e["action"] == "resolve_at_intake":
            found[number] = {"text": payload.get("reply", ""), "department": "", "by": e["actor"],
                             "at": e["created_at"], "approved_at": e["created_at"], "at_intake": True}
    return found
