"""The channel's own table: visits to an enterprise (上门走访), planned and carried out."""

from piccolo.columns import JSON, BigInt, Boolean, Date, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Visit(Table, tablename="enterprise_help_visits"):
    """One visit: ``planned`` by schedule_visit, ``done`` by record_visit (上门调查与现场核实).

    Keyed by the order's id like the core's attachments; ``follow_up`` marks a visit recorded after
    a bad callback rating."""

    order_id = BigInt(index=True)
    kind = Varchar(length=16)
    visit_date = Date()
    staff = JSON(default=[])
    note = Text(default="")
    findings = Text(default="")
    photos = JSON(default=[])  # keys of attachments uploaded to the order
    follow_up = Boolean(default=False)
    department = Varchar(length=64, null=True, default=None)
    recorded_by = Varchar(length=128)
    created_at = Timestamptz(default=TimestamptzNow())
