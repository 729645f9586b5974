"""The plugin's own record of each report's verification (核查), reward (举报奖励), and for a founded
hazard its rectification (隐患整改) and re-inspections (复查).

None of them holds an identity: the reporter's name, phone, ID number and payment account stay sealed
on the order, so nothing here can leak them to a department.
"""

from piccolo.columns import JSON, BigInt, Boolean, Date, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class SafetyCase(Table, tablename="safety_cases"):
    # the order's id, as a plain number like the core's own attachments and events: the plugin's
    # table depends on no core table, so it migrates and tests on its own
    order_id = BigInt(unique=True, index=True)
    result = Varchar(length=16)  # true / partly / false
    findings = Text(default="")
    fine_yuan = BigInt(null=True, default=None)
    accident_grade = Varchar(length=32, null=True, default=None)
    verified_deaths = Integer(null=True, default=None)
    verified_by = Varchar(length=128)
    verified_at = Timestamptz()
    reward_status = Varchar(length=16, default="")  # "" → calculated → approved → paid
    reward_fen = BigInt(null=True, default=None)  # money in fen, exact
    reward_rule = Varchar(length=64, default="")
    reward_basis = Text(default="")
    calculated_by = Varchar(length=128, default="")
    calculated_at = Timestamptz(null=True, default=None)
    approved_by = Varchar(length=128, default="")
    approved_at = Timestamptz(null=True, default=None)
    paid_by = Varchar(length=128, default="")
    paid_at = Timestamptz(null=True, default=None)
    payment_reference = Varchar(length=64, default="")


class SafetyRectification(Table, tablename="safety_rectifications"):
    """隐患整改: the rectification ordered on a founded report (one per order). It stays ``open`` until a
    re-inspection passes; each failed re-inspection sets a new deadline and starts a new round."""

    order_id = BigInt(unique=True, index=True)
    order_number = Varchar(length=32, index=True)  # the sweep acts on the order by its number
    responsible_unit = Varchar(length=200)
    measures = Text(default="")
    deadline = Date()  # 整改期限: the last local day to finish
    status = Varchar(length=16, default="open", index=True)  # open → closed
    round = Integer(default=1)
    escalated_for = Date(null=True, default=None)  # the deadline last escalated (once per deadline)
    ordered_by = Varchar(length=128)
    ordered_at = Timestamptz()
    closed_at = Timestamptz(null=True, default=None)


class SafetyReinspection(Table, tablename="safety_reinspections"):
    """复查: one visit checking the rectification, with its findings and photos (the order's attachments)."""

    order_id = BigInt(index=True)
    round = Integer()
    passed = Boolean()
    findings = Text(default="")
    photos = JSON(default=[])  # attachment keys on the order
    next_deadline = Date(null=True, default=None)  # set when it failed
    inspected_by = Varchar(length=128)
    inspected_at = Timestamptz()
