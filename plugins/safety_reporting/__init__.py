"""安全生产有奖举报 + 隐患排查: tip-offs about safety hazards, violations and concealed accidents.

The reporter may stay anonymous; one who asks for a reward gives a name, phone and ID number, which
the core seals and hides from every department. The department that handles a report records its
verification (核查) before it may reply; the centre then calculates the reward from a rule table kept
as data, a supervisor approves it and an administrator records the payment. A founded hazard may get a
rectification order (隐患整改) that only a passed re-inspection (复查) closes, and that is escalated
(督办) when its deadline passes.
"""

from core.plugin_api import FieldError, Refusal, RuleSpec, hookimpl, staff_notice
from plugins.safety_reporting import rectification, report
from plugins.safety_reporting.channel import CHANNEL, FALLBACK, HAZARD_TYPES, ROUTES, valid_id_number
from plugins.safety_reporting.routes import safety_state
from plugins.safety_reporting.workflow import ACTIONS, case_of


@hookimpl
def register_channel():
    return CHANNEL


@hookimpl
def validate_intake(channel, intake, details):
    errors = []
    if not (details.site_address.strip() or intake["address"].strip()):
        errors.append(FieldError("details.site_address", "请填写被举报企业或场所的地址"))
    if details.id_number and not valid_id_number(details.id_number):
        errors.append(FieldError("details.id_number", "身份证号码不正确（18位，末位可为X）"))
    if details.reward_requested:
        if intake["anonymous"]:
            errors.append(FieldError("details.reward_requested", "匿名举报不能申请奖励；申请奖励须实名举报"))
        if not intake["citizen"]["name"].strip():
            errors.append(FieldError("citizen.name", "申请奖励须填写举报人真实姓名"))
        if not intake["citizen"]["phone"].strip():
            errors.append(FieldError("citizen.phone", "申请奖励须留下联系电话"))
        if not details.id_number:
            errors.append(FieldError("details.id_number", "申请奖励须填写身份证号，用于核实身份和发放奖励"))
    return errors


@hookimpl
def routing_rules(channel):
    """By the category the agent chose, then by words in the report, else the emergency bureau.
    The general hotline rules start at position 10; this channel's own rules all come first."""
    rules = [RuleSpec(department=department, category=HAZARD_TYPES[code], position=1,
                      reason=f"举报类型为「{HAZARD_TYPES[code]}」：{reason}")
             for code, (department, _, reason) in ROUTES.items()]
    rules += [RuleSpec(department=department, keywords=keywords, position=min(2 + i, 9),
                       reason=f"举报内容涉及{HAZARD_TYPES[code]}：{reason}")
              for i, (code, (department, keywords, reason)) in enumerate(ROUTES.items())]
    department, reason = FALLBACK
    rules.append(RuleSpec(department=department, position=10, reason=reason))
    return rules


@hookimpl
def workflow_actions(channel):
    return [*ACTIONS, *rectification.ACTIONS]


@hookimpl
async def validate_action(channel, action, ctx):
    """The department replies only once its verification is on record (in this plugin's table), and
    a rectification it ordered has passed its re-inspection."""
    if action.name == "reply" and await case_of(ctx.order.id) is None:
        raise Refusal("请先记录核查结果（属实、部分属实或不属实），再答复")
    await rectification.check(action, ctx.order.id)


@hookimpl
def on_transition(channel, order, event, outbox):
    for to, note in rectification.notices(order, event):
        staff_notice(outbox, to, "sla", number=order.number, subject=order.subject, note=note)


@hookimpl
async def order_panels(channel, order, viewer):
    """The rectification and its re-inspections, on the order's console page."""
    found = await rectification.panel(order["number"], viewer)
    return [found] if found else []


@hookimpl
def register_jobs():
    return rectification.JOBS


@hookimpl
def http_route_handlers():
    return [safety_state]


@hookimpl
def piccolo_apps():
    return ["plugins.safety_reporting.piccolo_app"]


@hookimpl
async def report_section(channel, start, end, department):
    """The channel's section of the periodic reports (report.py)."""
    return await report.section(channel, start, end, department)


@hookimpl
async def purge_order_rows(order_ids, numbers):
    """Orders destroyed under the retention rules take their verification, reward, rectification and
    re-inspection records with them."""
    from plugins.safety_reporting.tables import SafetyCase, SafetyRectification, SafetyReinspection

    for table in (SafetyCase, SafetyRectification, SafetyReinspection):
        await table.delete().where(table.order_id.is_in(list(order_ids)))
