"""The recheck line's own tables: each recheck with its outcome, and each import with its report."""

from piccolo.columns import JSON, BigInt, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Recheck(Table, tablename="city_recheck_rechecks"):
    """One city callback found unsatisfied or unresolved, and the recheck order made for it.

    ``callback_key`` (city number and callback time) is unique: the same callback imported twice is a
    duplicate, a later callback on the same order is a new recheck. Orders are referred to by id and
    number, like the core's attachments, not by foreign key."""

    callback_key = Varchar(length=128, unique=True)
    import_id = BigInt(index=True)
    order_id = BigInt(index=True)  # the recheck order
    order_number = Varchar(length=32, index=True)
    original_id = BigInt(index=True)
    original_number = Varchar(length=32, index=True)
    city_number = Varchar(length=64, index=True)
    callback_at = Timestamptz()
    callback_result = Varchar(length=16)
    reason = Text(default="")
    department = Varchar(length=64, null=True, default=None, index=True)
    outcome = Varchar(length=32, null=True, default=None)  # None until the department records it
    outcome_note = Text(default="")
    evidence = JSON(default=[])  # keys of attachments on the recheck order
    decided_by = Varchar(length=128, null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow(), index=True)


class RecheckImport(Table, tablename="city_recheck_imports"):
    """One file (or one batch of rows over the API): previewed, then committed once."""

    filename = Varchar(length=255, default="")
    status = Varchar(length=16)  # previewed / committed
    rows = JSON(default=[])  # what was read, row by row, with the preview's verdicts
    report = JSON(default=[])  # the commit's verdicts, row by row
    ignored_columns = JSON(default=[])  # columns of the file this line does not read
    created = Integer(default=0)
    uploaded_by = Varchar(length=128)
    committed_by = Varchar(length=128, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    committed_at = Timestamptz(null=True, default=None)
