"""市级回访不满意/未办结工单复查: the city platform calls back the citizens of orders it transferred
to us; when a citizen says 不满意 or 未办结, the city sends the result back, and we recheck.

- The city's results come as an XLSX or CSV file in its own column layout (README.md here), or as the
  same rows over the API. Each import is previewed, then committed in one transaction: every good row
  becomes a recheck order, linked to the original by the city number and sent back to the department
  that handled it; duplicates, unknown city numbers and bad rows are reported with the reason.
- The department records the outcome (``record_recheck``): confirmed resolved (with evidence
  uploaded to the order), reworked, or not verifiable; its reply is refused until it has.
- The original order's timeline shows the recheck and its outcome (notes written through the order
  service), and counts by outcome and department are served for the reports.
"""

from core.plugin_api import KINDS, Channel, SlaDefaults, hookimpl
from plugins.city_recheck import imports, routes, workflow

CHANNEL = Channel(
    code=imports.CODE,
    name="市级回访复查",
    description="市级12345平台回访为不满意或未办结的转派工单，导入后生成复查工单，派回原承办单位复查并记录结论。",
    fields=imports.RecheckDetails,
    kinds=tuple(KINDS),
    sla=SlaDefaults(handle_days_by_kind={kind: 5 for kind in KINDS}),
    public=False,  # rechecks come from the city's callback results, never from a citizen's form
    site_visit="recheck",  # the centre may verify a recheck on site (实地核实)
)


@hookimpl
def register_channel():
    return CHANNEL


@hookimpl
def validate_intake(channel, intake, details):
    return imports.only_from_an_import()


@hookimpl
def routing_rules(channel):
    return imports.ROUTING_RULES


@hookimpl
def workflow_actions(channel):
    return workflow.ACTIONS


@hookimpl
def validate_action(channel, action, ctx):
    workflow.check(action, ctx.order)


@hookimpl
def http_route_handlers():
    return routes.HANDLERS


@hookimpl
def piccolo_apps():
    return ["plugins.city_recheck.piccolo_app"]


@hookimpl
async def purge_order_rows(order_ids, numbers):
    """A recheck order destroyed under the retention rules takes its recheck record with it."""
    from plugins.city_recheck.tables import Recheck

    await Recheck.delete().where(Recheck.order_id.is_in(list(order_ids)))
