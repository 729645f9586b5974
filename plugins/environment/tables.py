"""The environment line's own table: which source each report is about, to link repeated reports."""

from piccolo.columns import BigInt, Timestamptz, Varchar
from piccolo.table import Table


class SourceReport(Table, tablename="environment_source_reports"):
    """One order's source, normalised (``sources.key``); written in the intake's transaction."""

    order_id = BigInt(index=True)
    order_number = Varchar(length=32)
    source_key = Varchar(length=320, index=True)
    received_at = Timestamptz(index=True)
