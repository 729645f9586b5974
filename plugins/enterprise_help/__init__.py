"""公司帮扶: enterprises ask the district for help with financing, hiring, approvals, land, policy
payouts or utilities, and a department visits them.

Workflow additions, and why:
- ``schedule_visit`` (预约走访) and ``record_visit`` (上门调查与现场核实) by a handler of the order's
  department or by centre staff; visits live in this plugin's table and are read at
  ``GET /api/orders/{number}/visits``.
- ``reply`` is refused until a visit has been recorded since handling began (or since the latest
  rework): help for an enterprise is verified on site, not on paper. The reply, not the approval, is
  refused, so the department can still record the visit and then reply.
- After a bad callback (不满意 or 未解决) ``archive`` is refused until a follow-up visit is recorded
  after the rating. ``rework`` and ``appeal`` stay open: a rework sends the order back to the
  department, whose new reply again needs a visit before approval, and an appeal is the department
  contesting the rating, which the centre rules on.
"""

from typing import Annotated, Literal

import msgspec

from core.plugin_api import Channel, CitizenWording, FieldError, RuleSpec, SlaDefaults, field, hookimpl
from plugins.enterprise_help import credit_code, report, visits

INDUSTRIES = {
    "manufacturing": "制造业",
    "construction": "建筑业",
    "trade": "批发和零售业",
    "software": "信息传输、软件和信息技术服务业",
    "logistics": "交通运输、仓储和邮政业",
    "hospitality": "住宿和餐饮业",
    "agriculture": "农、林、牧、渔业",
    "services": "租赁和商务服务业",
    "other": "其他",
}
PROBLEMS = {
    "financing": "融资",
    "hiring": "用工",
    "approvals": "审批",
    "land": "用地",
    "policy_payouts": "政策兑现",
    "utilities": "水电气",
    "other": "其他",
}
CREDIT_CODE_MESSAGES = {
    "format": "统一社会信用代码应为18位，由数字和大写字母组成（不含 I、O、S、V、Z）",
    "check": "统一社会信用代码校验位不正确，请对照营业执照核对",
}


class EnterpriseRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    enterprise_name: Annotated[str, field("企业名称", "与营业执照上的名称一致", min_length=2, max_length=100)]
    credit_code: Annotated[str, field("统一社会信用代码", "营业执照上的18位代码", max_length=32,
                                      examples=["91350100M000100Y43"])]
    industry: Annotated[Literal[tuple(INDUSTRIES)], field("所属行业", choices=INDUSTRIES)]
    problem: Annotated[Literal[tuple(PROBLEMS)], field(
        "困难类型", "选择最主要的一项，并在诉求内容中写明具体情况", choices=PROBLEMS)]


CHANNEL = Channel(
    code=visits.CODE,
    name="公司帮扶",
    description="企业在融资、用工、审批、用地、政策兑现、水电气等方面遇到困难，由相关部门上门走访、协调解决。",
    anonymous_allowed=False,  # a visit needs someone to meet: the enterprise names its contact person
    contact_name_required=True,
    wording=CitizenWording(
        card="企业在融资、用工、审批、用地、政策兑现、水电气等方面遇到困难，可以在这里求助，相关部门会上门走访、协调解决。",
        subject_example="新厂房消防验收迟迟排不上，影响投产",
        content_help="请写明遇到的困难、已经找过哪些部门、希望得到什么帮助",
        address_help="企业经营地址，上门走访时用",
        name_label="联系人",
        name_help="负责与走访部门对接的人员，例如：王经理",
        contact_note="走访部门会通过这个电话与您预约上门时间。"),
    fields=EnterpriseRequest,
    kinds=("help", "consult", "complaint", "suggestion"),
    sla=SlaDefaults(handle_days_by_kind={"help": 10, "consult": 3, "complaint": 13, "suggestion": 13}),
    site_visit="enterprise_visit",  # the centre's staff schedule and record visits too (实地核实)
)

# problem type → department, the words enterprises use for it, and the reason shown to the dispatcher.
# The routing engine matches the request's text, not its fields, so each type is found by its words;
# they go before the general rules, so that 消防验收 is an approval, not a safety hazard.
PROBLEM_ROUTES = (
    ("financing", "development", "企业融资困难，由经济发展局牵头对接金融机构"),
    ("policy_payouts", "development", "惠企政策兑现，由经济发展局统筹落实"),
    ("hiring", "hrss", "企业用工问题，由人力资源和社会保障局协调"),
    ("land", "natural_resources", "企业用地问题，由自然资源和规划局办理"),
    ("approvals", "general_office", "审批事项办理不畅，由管委会办公室（政务服务）协调相关审批部门"),
    ("utilities", "development", "水电气要素保障，由经济发展局协调供水、供电、供气单位"),
)
FALLBACK_REASON = "公司帮扶专线诉求由经济发展局统筹协调"


@hookimpl
def register_channel():
    return CHANNEL


@hookimpl
def validate_intake(channel, intake, details):
    code = details.credit_code
    if not credit_code.well_formed(code):
        return [FieldError("details.credit_code", CREDIT_CODE_MESSAGES["format"])]
    if not credit_code.valid(code):
        return [FieldError("details.credit_code", CREDIT_CODE_MESSAGES["check"])]
    return None


@hookimpl
def routing_rules(channel):
    rules = [RuleSpec(department=department, details={"problem": problem}, position=position, reason=reason)
             for position, (problem, department, reason) in enumerate(PROBLEM_ROUTES, start=1)]
    return [*rules, RuleSpec(department="development", position=1000, reason=FALLBACK_REASON)]


@hookimpl
def workflow_actions(channel):
    return visits.ACTIONS


@hookimpl
async def validate_action(channel, action, ctx):
    await visits.check(action, ctx.order)


@hookimpl
async def order_panels(channel, order, viewer):
    """The visits to the enterprise, on the order's console page."""
    return [await visits.panel(order["number"], viewer)]


@hookimpl
def http_route_handlers():
    return [visits.list_visits]


@hookimpl
def piccolo_apps():
    return ["plugins.enterprise_help.piccolo_app"]


@hookimpl
async def report_section(channel, start, end, department):
    """The channel's section of the periodic reports (report.py)."""
    return await report.section(channel, start, end, department)


@hookimpl
async def purge_order_rows(order_ids, numbers):
    """Orders destroyed under the retention rules take their visits with them."""
    from plugins.enterprise_help.tables import Visit

    await Visit.delete().where(Visit.order_id.is_in(list(order_ids)))
