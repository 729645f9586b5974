"""Each role's queues on its home page: a name, a Chinese label, the filter and the order they sort in.
A queue is just a saved filter of the order list, so its count and its list can never disagree."""

from __future__ import annotations

from urllib.parse import urlencode

import msgspec

from core.listing import OrderFilter

_OPEN_CENTRE = ("received", "dispatched", "returned", "accepted", "replied", "completed", "appealing")


class Queue(msgspec.Struct, frozen=True):
    key: str
    label: str
    filter: OrderFilter
    sort: str = "due"
    hint: str = ""
    page: str = ""  # a queue with a page of its own (the callback desk) instead of the order list

    @property
    def href(self) -> str:
        if self.page:
            return self.page
        params = {k: (",".join(v) if isinstance(v, tuple) else ("1" if v is True else v))
                  for k, v in msgspec.to_builtins(self.filter).items()}
        return "/console/orders?" + urlencode({**params, "sort": self.sort, "queue": self.key})


def _q(key, label, sort="due", hint="", page="", **criteria) -> Queue:
    return Queue(key, label, OrderFilter(**criteria), sort, hint, page)


QUEUES: dict[str, list[Queue]] = {
    "agent": [
        _q("callback", "待回访", unrated=True, hint="已办结、尚未回访，按回访时限排列；一键拨打并记录结果",
           page="/console/callbacks"),
        _q("received", "待派单", status="received"),
        _q("today", "全部工单", sort="received_desc"),
    ],
    "dispatcher": [
        _q("dispatch", "待派单", status="received", hint="按派单时限排列"),
        _q("returned", "退单待审", status="returned"),
        _q("replied", "待审核", status="replied"),
        _q("extensions", "延期待批", statuses=("accepted", "suspended"), pending_extension=True),
        _q("rated_badly", "差评待处理", status="completed", rated_badly=True, hint="可重办或归档"),
        _q("suspended", "挂起", status="suspended", sort="updated_desc"),
        _q("difficult_requested", "疑难待认定", open_only=True, flag="difficult_requested", sort="updated_desc",
           hint="承办单位申请认定为疑难工单，同意后办理时限按规则顺延"),
        _q("assisting", "协办未办结", open_part=True, hint="有协办单位尚未签收或提交意见的工单"),
    ],
    "handler": [  # the orders it leads (主办); those it assists (协办) have a queue of their own
        _q("accept", "待签收", status="dispatched", lead_only=True),
        _q("handling", "办理中", status="accepted", lead_only=True),
        _q("assisting", "协办待办", open_part=True, hint="本单位协办的工单：签收、提交协办意见或退回"),
        _q("rework", "退回重办", status="accepted", rework=True, lead_only=True),
        _q("supervisions", "督办待回复", statuses=_OPEN_CENTRE, open_supervision=True, lead_only=True),
        _q("extensions", "延期申请", statuses=("accepted", "suspended"), pending_extension=True, lead_only=True),
        _q("appeal", "可申诉", status="completed", rated_badly=True, lead_only=True,
           hint="回访不满意或未解决，3 个工作日内可申诉"),
    ],
    "supervisor": [
        _q("overdue", "超期", statuses=_OPEN_CENTRE, deadline="overdue"),
        _q("at_risk", "临期", statuses=_OPEN_CENTRE, deadline="at_risk"),
        _q("appealing", "申诉待裁决", status="appealing"),
        _q("supervisions", "督办未回复", statuses=_OPEN_CENTRE, open_supervision=True),
        _q("mass_incident", "群体性事件", open_only=True, flag="mass_incident", sort="received_desc"),
        _q("repeat_caller", "重复来电", open_only=True, flag="repeat_caller", sort="received_desc"),
        _q("difficult", "疑难工单", open_only=True, flag="difficult", hint="可就一件或多件召集协调会"),
        _q("difficult_requested", "疑难待认定", open_only=True, flag="difficult_requested", sort="updated_desc"),
    ],
}
QUEUES["admin"] = [QUEUES["dispatcher"][0], QUEUES["supervisor"][0], QUEUES["supervisor"][2],
                   QUEUES["agent"][0]]


def find(role: str, key: str) -> Queue | None:
    return next((q for q in QUEUES.get(role, []) if q.key == key), None)
