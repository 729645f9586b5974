"""One audit trail for the people records: every change to training, teams, leave, rotas and 质检
writes a ``staff_events`` row in the change's own transaction."""

from __future__ import annotations

from typing import Any

from core import clock
from core.model import Actor
from core.tables import StaffEvent

ACTIONS: dict[str, str] = {
    "training_recorded": "登记培训",
    "training_session": "登记培训场次",
    "trained": "培训合格，取得上岗资格",
    "trained_override": "管理员设定上岗资格",
    "team_saved": "保存班组",
    "shift_saved": "保存班次",
    "shift_enabled": "启用班次",
    "shift_disabled": "停用班次",
    "leave_recorded": "登记请假",
    "leave_cancelled": "撤销请假",
    "rota_swap_cancelled": "撤销调班",
    "training_passed": "登记培训合格",
    "rota_proposed": "生成排班草案",
    "rota_edited": "修改排班",
    "rota_swapped": "调班",
    "rota_published": "发布排班",
    "qa_items": "修改质检评分表",
    "qa_rule": "修改抽检规则",
    "qa_drawn": "抽取质检样本",
    "qa_scored": "质检评分",
    "qa_appealed": "质检申诉",
    "qa_ruled": "质检申诉裁定",
}


async def record(subject: str, action: str, actor: Actor, *, reason: str = "", **detail: Any) -> None:
    await StaffEvent.insert(StaffEvent(subject=subject[:64], action=action, actor=actor.name[:128], role=actor.role,
                                       reason=reason, detail=detail, created_at=clock.now()))


async def history(subject: str, limit: int = 100) -> list[dict[str, Any]]:
    rows = await (StaffEvent.select().where(StaffEvent.subject == subject).order_by(StaffEvent.id, ascending=False)
                  .limit(limit).output(load_json=True))
    return [{"at": r["created_at"].isoformat(), "action": r["action"], "action_label": ACTIONS.get(r["action"], r["action"]),
             "actor": r["actor"], "reason": r["reason"], "detail": r["detail"]} for r in rows]
