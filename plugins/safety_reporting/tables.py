"""The plugin's own record of each report's verification (核查) and reward (举报奖励).

One row per verified order. It holds no identity: the reporter's name, phone, ID number and payment
account stay sealed on the order, so nothing here can leak them to a department.
"""

from piccolo.columns import BigInt, Integer, Text, Timestamptz, Varchar
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
