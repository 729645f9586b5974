"""Persistence: every table of the core. The same migrations serve SQLite and PostgreSQL.

Identity columns are plain codes (department code, username, order number) rather than foreign keys
where a record must stay readable after the thing it names changes: an audit event keeps the name it
was written with.
"""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    BigInt,
    Boolean,
    Date,
    DoublePrecision,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Department(Table, tablename="departments"):
    """承办单位: the department tree (the centre itself is a department too)."""

    code = Varchar(length=64, unique=True)
    name = Varchar(length=128)
    parent = Varchar(length=64, null=True, default=None)
    sort = Integer(default=0)
    aliases = JSON(default=[])  # other names people use for it (routing and import match them too)
    contacts = JSON(default=[])  # [{"name", "phone", "duty"}]: whom the centre calls
    active = Boolean(default=True)  # false: disabled, no new dispatch; its history stays
    merged_into = Varchar(length=64, null=True, default=None)  # merged: the department that took it over


class User(Table, tablename="users"):
    """Staff: agents, dispatchers, handlers (of one department), supervisors, admins."""

    username = Varchar(length=64, unique=True)
    display_name = Varchar(length=128, default="")
    role = Varchar(length=32)
    department = Varchar(length=64, null=True, default=None)
    password_hash = Varchar(length=256)
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    # Raised on a password change or reset, a deactivation and a re-activation: tokens and console
    # sessions carry the value they were issued under, so every earlier one stops working at once.
    token_version = Integer(default=1)
    trained = Boolean(default=False)  # 已培训上岗: an agent takes no calls and records no orders before it
    extension = Varchar(length=32, null=True, default=None, index=True)  # the agent's phone extension (telephony)


class ApiKey(Table, tablename="api_keys"):
    """A key for an integration, scoped to the channels it may write to (empty: all channels)."""

    name = Varchar(length=128)
    prefix = Varchar(length=16, unique=True)
    key_hash = Varchar(length=128)
    channels = JSON(default=[])
    reply_url = Varchar(length=500, null=True, default=None)  # where a board takes the centre's replies
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())


class Order(Table, tablename="orders"):
    """工单: one citizen request from intake to archive."""

    number = Varchar(length=32, unique=True)
    query_code = Varchar(length=16, default="")
    channel = Varchar(length=64, index=True)
    kind = Varchar(length=32)
    source = Varchar(length=32)
    subject = Varchar(length=200)
    content = Text()
    citizen_name = Varchar(length=64, default="")
    citizen_phone = Varchar(length=32, default="")
    citizen_sealed = Text(default="")  # a protected reporter's name and phone, sealed; the two above stay empty
    anonymous = Boolean(default=False)
    address = Varchar(length=255, default="")
    area = Varchar(length=64, default="")
    category = Varchar(length=128, default="")
    details = JSON(default={})
    status = Varchar(length=32, index=True)
    status_before_suspend = Varchar(length=32, null=True, default=None)
    department = Varchar(length=64, null=True, default=None, index=True)
    suggested_department = Varchar(length=64, null=True, default=None)
    suggestion_reason = Varchar(length=255, default="")
    priority = Varchar(length=16, default="normal")
    received_at = Timestamptz(index=True)
    deadlines = JSON(default={})
    rating = JSON(null=True, default=None)
    external_id = Varchar(length=128, null=True, default=None)
    rework_count = Integer(default=0)
    merged_into = Varchar(length=32, null=True, default=None)
    suspended_at = Timestamptz(null=True, default=None)
    extensions = JSON(default=[])  # 延期: requested → approved / rejected
    supervisions = JSON(default=[])  # 督办/催办: issued → answered
    flags = JSON(default=[])  # early-warning marks set at intake (e.g. mass incident)
    assisting = JSON(default=[])  # 协办: the assisting departments' parts (core/joint.py)
    # the time limits in force when it was received (core/sla_rules.py): its later deadlines count by
    # them, not by a rule changed since; null for orders from before, which count by the plugin's
    sla_limits = JSON(null=True, default=None)
    # the earliest due time of the open deadlines and when the first of them turns 临期 (kept with
    # ``deadlines`` by the service), so lists filter by deadline state in the database
    due_at = Timestamptz(null=True, default=None, index=True)
    at_risk_at = Timestamptz(null=True, default=None, index=True)
    version = Integer(default=1)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    # the outgoing system's number of an order brought in by ``huying import-history`` (unique)
    legacy_number = Varchar(length=64, null=True, default=None)


class OrderEvent(Table, tablename="order_events"):
    """The audit trail: one row per action, written in the transaction that made the change."""

    order_id = BigInt(index=True)
    action = Varchar(length=64)
    actor = Varchar(length=128)
    role = Varchar(length=32)
    department = Varchar(length=64, null=True, default=None)
    from_status = Varchar(length=32, null=True, default=None)
    to_status = Varchar(length=32, null=True, default=None)
    reason = Text(default="")
    payload = JSON(default={})
    created_at = Timestamptz(default=TimestamptzNow())


class Counter(Table, tablename="counters"):
    """Named sequences (one per day for order numbers), bumped inside the intake transaction."""

    key = Varchar(length=64, unique=True)
    value = BigInt(default=0)


class IdempotencyKey(Table, tablename="idempotency_keys"):
    """The first answer to a request sent with an Idempotency-Key, replayed for any repeat."""

    scope = Varchar(length=160)
    key = Varchar(length=200)
    request_hash = Varchar(length=64)
    status_code = Integer()
    response = JSON(default={})
    created_at = Timestamptz(default=TimestamptzNow())


class OutboxMessage(Table, tablename="outbox"):
    """Anything that must leave the system, written with the change and delivered by a job."""

    topic = Varchar(length=64, index=True)
    order_number = Varchar(length=32, null=True, default=None)
    payload = JSON(default={})
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(default=TimestamptzNow(), index=True)
    delivered_at = Timestamptz(null=True, default=None)
    last_error = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())
    abandoned_at = Timestamptz(null=True, default=None)  # given up by an admin, with the reason
    abandon_reason = Text(default="")


class OutboxEvent(Table, tablename="outbox_events"):
    """The audit trail of the outbox's operators: who retried or abandoned a message, and why."""

    message_id = BigInt(index=True)
    action = Varchar(length=32)
    actor = Varchar(length=128)
    reason = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())


class JobRun(Table, tablename="job_runs"):
    """One run of a background job: when, where (worker, in-process, by hand) and what it found."""

    name = Varchar(length=64, index=True)
    mode = Varchar(length=16)
    started_at = Timestamptz(default=TimestamptzNow())
    finished_at = Timestamptz(null=True, default=None)
    ok = Boolean(default=False)
    result = JSON(default={})
    error = Text(default="")


class JobLease(Table, tablename="job_leases"):
    """Work only one process may do at a time (the in-process schedule): who holds it, until when
    (seconds since the epoch); a holder that stops renewing loses it when it expires."""

    name = Varchar(length=64, unique=True)
    holder = Varchar(length=64, default="")
    expires_at = BigInt(default=0)


class InboundPush(Table, tablename="inbound_pushes"):
    """Signatures of pushes the city platform sent in the last minutes: a replay is refused."""

    signature = Varchar(length=64, unique=True)
    received_at = Timestamptz(default=TimestamptzNow(), index=True)


class CityDiscrepancy(Table, tablename="city_discrepancies"):
    """A transferred order whose state differs between us and the city platform (reconciliation)."""

    order_number = Varchar(length=32, index=True)
    external_id = Varchar(length=128)
    ours = Varchar(length=32)
    theirs = Varchar(length=64)
    pending_messages = Integer(default=0)  # our changes not yet delivered when it was found
    found_at = Timestamptz(default=TimestamptzNow())
    resolved_at = Timestamptz(null=True, default=None)


class TextMessage(Table, tablename="text_messages"):
    """Every SMS and staff message the notifier handled: sent, recorded, or held back and why."""

    outbox_id = BigInt(null=True, default=None, index=True)
    kind = Varchar(length=16)  # sms / staff
    recipient = Varchar(length=128, index=True)  # a phone number, or "department:x" / "role:y"
    template = Varchar(length=32, default="")
    order_number = Varchar(length=32, null=True, default=None)
    text = Text()
    status = Varchar(length=16)  # sent / recorded / opted_out / rate_limited
    provider = Varchar(length=32, default="")
    created_at = Timestamptz(default=TimestamptzNow(), index=True)


class SmsOptOut(Table, tablename="sms_opt_outs"):
    """A phone number whose owner asked for no more text messages."""

    phone = Varchar(length=32, unique=True)
    note = Varchar(length=255, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class RoutingRule(Table, tablename="routing_rules"):
    """An ordered dispatch rule; the first rule that matches an order suggests its department."""

    origin = Varchar(length=64)  # "plugin:<channel>" for contributed rules, "admin" for the centre's own
    channel = Varchar(length=64, null=True, default=None)
    position = Integer(default=100)
    keywords = JSON(default=[])
    category = Varchar(length=128, default="")
    area = Varchar(length=64, default="")
    kind = Varchar(length=32, default="")
    details = JSON(default={})  # channel field values the order must carry
    predicates = JSON(default={})  # {"ranges": {field: [low, high]}, "includes": {field: choice}}
    department = Varchar(length=64)
    reason = Varchar(length=255, default="")
    active = Boolean(default=True)


class CalendarDay(Table, tablename="calendar_days"):
    """A day the centre marks as working or not, ahead of the calendar package (a new year's
    holidays and make-up working days, announced each winter by the State Council)."""

    day = Date(unique=True)
    workday = Boolean()
    note = Varchar(length=128, default="")


class Attachment(Table, tablename="attachments"):
    """A file on an order (evidence for an appeal, photos of a visit); the bytes live in the store."""

    order_id = BigInt(index=True)
    key = Varchar(length=128, unique=True)
    filename = Varchar(length=255)
    content_type = Varchar(length=64)
    size = Integer()
    uploaded_by = Varchar(length=128)
    created_at = Timestamptz(default=TimestamptzNow())


class Incident(Table, tablename="incidents"):
    """故障跟踪: an incident an admin recorded, or one the platform recorded about itself (a job
    failing again and again, the city platform unreachable); ``key`` keeps one open per cause."""

    occurred_at = Timestamptz(index=True)
    title = Varchar(length=200)
    impact = Text(default="")
    actions = Text(default="")
    resolved = Boolean(default=False)
    resolved_at = Timestamptz(null=True, default=None)
    source = Varchar(length=16, default="admin")  # admin | platform
    key = Varchar(length=128, null=True, default=None, index=True)
    recorded_by = Varchar(length=128, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    reported_by = Varchar(length=128, default="")  # who noticed the fault (any member of staff)


class AccessEvent(Table, tablename="access_events"):
    """The access audit: sign-ins (both outcomes), staff views of an order's detail, exports."""

    at = Timestamptz(default=TimestamptzNow(), index=True)
    action = Varchar(length=32, index=True)  # core.access_audit.ACTIONS: login_succeeded, view_order, …
    actor = Varchar(length=128, index=True)
    role = Varchar(length=32, default="")
    address = Varchar(length=64, default="")
    target = Varchar(length=255, default="")
    detail = JSON(default={})


ALL_TABLES: tuple[type[Table], ...] = (
    Department,
    User,
    ApiKey,
    Order,
    OrderEvent,
    Counter,
    IdempotencyKey,
    OutboxMessage,
    OutboxEvent,
    JobRun,
    JobLease,
    InboundPush,
    CityDiscrepancy,
    TextMessage,
    SmsOptOut,
    RoutingRule,
    CalendarDay,
    Attachment,
    Incident,
    AccessEvent,
)


class KnowledgeArticle(Table, tablename="knowledge_articles"):
    """知识库条目: one answer owned by a department; its content lives in versions, the centre
    approves each, and only the published version is used by agents."""

    department = Varchar(length=64, index=True)
    published_version = Integer(null=True, default=None)  # the approved version in use
    pending_version = Integer(null=True, default=None)  # submitted, waiting for the centre's review
    latest_version = Integer(default=0)
    usage_count = Integer(default=0)  # citations by orders resolved at intake
    reminded_until = Date(null=True, default=None)  # the expiry date the department was reminded of
    created_by = Varchar(length=128, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    version = Integer(default=1)  # optimistic check: one of two concurrent reviews wins


class KnowledgeVersion(Table, tablename="knowledge_versions"):
    """One version of an article as its department wrote it, and what the centre decided."""

    article_id = BigInt(index=True)
    number = Integer()
    question = Varchar(length=500)
    answer = Text()
    channel = Varchar(length=64, default="")
    category = Varchar(length=128, default="")
    tags = JSON(default=[])
    public = Boolean(default=False)
    valid_from = Date(null=True, default=None)
    valid_until = Date(null=True, default=None)
    attachments = JSON(default=[])
    note = Varchar(length=500, default="")  # what changed, in the author's words
    status = Varchar(length=16)  # pending, approved, returned, superseded
    submitted_by = Varchar(length=128)
    submitted_at = Timestamptz(default=TimestamptzNow())
    reviewed_by = Varchar(length=128, default="")
    reviewed_at = Timestamptz(null=True, default=None)
    review_reason = Varchar(length=500, default="")


class KnowledgeEvent(Table, tablename="knowledge_events"):
    """The audit trail of the knowledge base, written with each change."""

    article_id = BigInt(index=True)
    action = Varchar(length=32)
    actor = Varchar(length=128)
    role = Varchar(length=32)
    department = Varchar(length=64, null=True, default=None)
    version_number = Integer(null=True, default=None)
    reason = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())


class KnowledgeCitation(Table, tablename="knowledge_citations"):
    """An order resolved at intake with this article's answer: the usage count's evidence."""

    article_id = BigInt(index=True)
    version_number = Integer()
    order_number = Varchar(length=32, index=True)
    actor = Varchar(length=128)
    created_at = Timestamptz(default=TimestamptzNow())


class Category(Table, tablename="categories"):
    """The centre's category tree (three levels), seeded from the reference tree, edited by admins."""

    parent_id = BigInt(null=True, default=None, index=True)
    name = Varchar(length=64)
    level = Integer(default=1)
    sort = Integer(default=0)
    active = Boolean(default=True)


class Area(Table, tablename="areas"):
    """A street or town (街道、乡镇) of 湘江新区: the list an order's 街道 is chosen from (core/areas.py)."""

    name = Varchar(length=64, unique=True)
    aliases = Varchar(length=255, default="")  # other names it answers to, separated by 、
    sort = Integer(default=0)
    active = Boolean(default=True)


class DispatchModel(Table, tablename="dispatch_models"):
    """A suggestion model learned from history, versioned, with the evaluation it was measured by."""

    target = Varchar(length=16)  # "department" or "category"
    number = Integer()
    trained_at = Timestamptz(default=TimestamptzNow())
    samples = Integer(default=0)
    evaluation = JSON(default={})
    weights = JSON(default={})
    active = Boolean(default=False)


ALL_TABLES += (KnowledgeArticle, KnowledgeVersion, KnowledgeEvent, KnowledgeCitation, Category, Area, DispatchModel)


class ReplyTemplate(Table, tablename="reply_templates"):
    """答复模板: a department's own reply wording, offered on its orders' reply form before the
    centre-wide defaults. Unique (department, name) by an index the migration creates. There is no
    general audit trail for settings, so the row keeps who made and last changed it."""

    department = Varchar(length=64, index=True)
    name = Varchar(length=20)
    text = Text()
    created_by = Varchar(length=128, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_by = Varchar(length=128, default="")
    updated_at = Timestamptz(default=TimestamptzNow())


class SlaRule(Table, tablename="sla_rules"):
    """A time limit the centre set for a channel in place of the plugin's declaration (core/sla_rules.py).
    ``key`` (channel/rule/kind) is unique, so two admins setting one limit at once cannot both insert;
    ``kind`` is empty except for the handling limit, which is set per kind. A reset deletes the row."""

    key = Varchar(length=160, unique=True)
    channel = Varchar(length=64)
    rule = Varchar(length=32)
    kind = Varchar(length=32, default="")
    value = DoublePrecision()
    reason = Text(default="")
    updated_by = Varchar(length=128, default="")
    updated_at = Timestamptz(default=TimestamptzNow())


class SettingChange(Table, tablename="setting_changes"):
    """The audit trail of the centre's settings: which setting (``setting``, within ``scope`` such as a
    channel), from what to what, why, who and when; written in the transaction of the change."""

    setting = Varchar(length=64, index=True)
    scope = Varchar(length=64, default="")
    item = Varchar(length=128, default="")
    old_value = JSON(null=True, default=None)
    new_value = JSON(null=True, default=None)
    reason = Text(default="")
    actor = Varchar(length=128)
    role = Varchar(length=32, default="")
    created_at = Timestamptz(default=TimestamptzNow())


ALL_TABLES += (SlaRule, SettingChange)


class CalendarYear(Table, tablename="calendar_years"):
    """A year's schedule as the State Council announced it (holidays and 调休 working days), imported
    by an admin; it replaces the package's or the provisional days of that year."""

    year = Integer(unique=True)
    holidays = JSON(default=[])  # [{"date": "YYYY-MM-DD", "name": "春节"}, ...]
    workdays = JSON(default=[])
    imported_by = Varchar(length=128, default="")
    imported_at = Timestamptz(default=TimestamptzNow())


class CalendarSetting(Table, tablename="calendar_settings"):
    """The calendar's settings (the office hours), one row per setting, with who changed it last."""

    name = Varchar(length=64, unique=True)
    value = JSON(default={})
    updated_by = Varchar(length=128, default="")
    updated_at = Timestamptz(default=TimestamptzNow())


class CalendarChange(Table, tablename="calendar_changes"):
    """Every change to the working calendar (a day set or removed, a year imported, the office hours),
    who made it and when, and how many open orders' deadlines it moved."""

    action = Varchar(length=32)
    summary = Varchar(length=500, default="")
    detail = JSON(default={})
    moved_orders = Integer(default=0)
    actor = Varchar(length=128, default="")
    created_at = Timestamptz(default=TimestamptzNow(), index=True)


CALENDAR_TABLES = (CalendarYear, CalendarSetting, CalendarChange)


class ConsoleSession(Table, tablename="console_sessions"):
    """A signed-in console browser. The cookie holds a random key; only its SHA-256 is stored, so a
    copy of the table signs nobody in. Deleted on 退出 (the cookie then opens nothing, even replayed)."""

    key_hash = Varchar(length=64, unique=True)
    user_id = Integer(index=True)
    token_version = Integer(default=1)  # the user's at sign-in: a later reset or deactivation ends it
    signed_in_at = Timestamptz(default=TimestamptzNow())
    last_seen_at = Timestamptz(default=TimestamptzNow())
    address = Varchar(length=64, default="")


class SignInAddress(Table, tablename="sign_in_addresses"):
    """An address an account signed in from successfully: its owner is not throttled there by failures
    a stranger causes elsewhere. ``key`` is ``<username>|<address>`` (unique); usernames never change."""

    key = Varchar(length=200, unique=True)
    username = Varchar(length=64, index=True)
    address = Varchar(length=64)
    last_at = Timestamptz(default=TimestamptzNow())


class Survey(Table, tablename="surveys"):
    """满意率统计调查: what a supervisor asked for (period, channels, departments, sample size or rate,
    questions), the seed its sample was drawn with, and the population and strata it was drawn from."""

    title = Varchar(length=200)
    period_start = Date()
    period_end = Date()  # included
    departments = JSON(default=[])  # chosen: the sample is stratified by them
    channels = JSON(default=[])
    sample_size = Integer(null=True, default=None)
    sample_rate = DoublePrecision(null=True, default=None)
    seed = BigInt()
    questions = JSON(default=[])  # [{"text", "choices"}]; the 满意度 question is always asked
    population = Integer(default=0)
    strata = JSON(default={})  # department ("" unstratified): {"population", "sample"}
    created_by = Varchar(length=128)
    created_at = Timestamptz(default=TimestamptzNow())


class SurveyCall(Table, tablename="survey_calls"):
    """One sampled order on a survey's call list: its tries and outcome (as a callback's), and the answers."""

    survey_id = Integer(index=True)
    order_id = BigInt(index=True)
    order_number = Varchar(length=32)
    stratum = Varchar(length=64, default="")
    status = Varchar(length=16, default="pending")  # pending → answered / unreachable / refused / wrong_number
    attempts = Integer(default=0)
    retry_at = Timestamptz(null=True, default=None)
    satisfaction = Varchar(length=32, null=True, default=None)
    answers = JSON(default=[])  # one per question of the survey, "" when not answered
    note = Text(default="")
    called_by = Varchar(length=128, default="")
    answered_at = Timestamptz(null=True, default=None)


class Meeting(Table, tablename="meetings"):
    """协调会: a meeting the centre calls on one or more difficult orders, with the departments invited
    and, afterwards, its minutes (纪要). Orders and departments are also in ``meeting_orders`` and
    ``meeting_departments`` so a handler's or an order's meetings are found by an index."""

    title = Varchar(length=200)
    at = Timestamptz()
    place = Varchar(length=200, default="")
    orders = JSON(default=[])  # order numbers, in the order given
    departments = JSON(default=[])  # department codes invited
    called_by = Varchar(length=128, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    minutes = Text(default="")
    minutes_by = Varchar(length=128, default="")
    minutes_at = Timestamptz(null=True, default=None)


class MeetingOrder(Table, tablename="meeting_orders"):
    meeting_id = Integer(index=True)
    order_number = Varchar(length=32, index=True)


class MeetingDepartment(Table, tablename="meeting_departments"):
    meeting_id = Integer(index=True)
    department = Varchar(length=64, index=True)


class MeetingDecision(Table, tablename="meeting_decisions"):
    """One decision of a meeting's minutes: the work its owner department must do on the meeting's
    orders by ``due`` (a local date), tracked until that department marks it done."""

    meeting_id = Integer(index=True)
    seq = Integer(default=1)
    department = Varchar(length=64, index=True)
    task = Text(default="")
    due = Date()
    done_at = Timestamptz(null=True, default=None)
    done_by = Varchar(length=128, default="")
    done_note = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())


class Netboard(Table, tablename="netboards"):
    """A message board an admin added as a source of its own (区红网 and 区人民网 are built in)."""

    code = Varchar(length=32, unique=True)
    name = Varchar(length=64)
    added_by = Varchar(length=128, default="")
    added_at = Timestamptz(default=TimestamptzNow())


MEETING_TABLES = (Meeting, MeetingOrder, MeetingDepartment, MeetingDecision)


class AssistingPart(Table, tablename="assisting_parts"):
    """协办: one assisting department's part of an order, mirrored from ``orders.assisting`` by the
    action that changes it (core/joint.py), so a department's lists and the reports find parts by
    department without reading every order's JSON."""

    order_id = BigInt(index=True)
    department = Varchar(length=64, index=True)
    status = Varchar(length=16)
    assigned_at = Timestamptz(index=True)
    due = Timestamptz()
    settled_at = Timestamptz(null=True, default=None)


class NoticeRead(Table, tablename="notice_reads"):
    """How far a member of staff has read the notices addressed to them: the newest one's id when they
    last opened their list (the console counts the ones after it)."""

    username = Varchar(length=64, unique=True)
    last_seen = BigInt(default=0)


class IncidentUpdate(Table, tablename="incident_updates"):
    """One entry of a fault's history: a method tried, a measure taken, progress, or the result.
    Appended, never changed, so the record shows how the fault was handled."""

    incident_id = Integer(index=True)
    kind = Varchar(length=16)  # method | measure | progress | result
    text = Text(default="")
    author = Varchar(length=128, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class Inspection(Table, tablename="inspections"):
    """One run of the monthly inspection (``huying check``, or the schedule): its findings as they were."""

    month = Varchar(length=7, index=True)  # 2026-11: the month it ran in
    outcome = Varchar(length=16)  # ok | warning | failed
    findings = JSON(default=[])
    ran_by = Varchar(length=128, default="")
    ran_at = Timestamptz(default=TimestamptzNow())


class TrainingSession(Table, tablename="training_sessions"):
    """One held training: a course on a day (岗前培训 for new staff, 集中培训 for the centre or the
    member departments); who attended is a ``TrainingRecord`` with its id."""

    course = Varchar(length=100)
    kind = Varchar(length=16)
    held_on = Date()
    place = Varchar(length=128, default="")
    audience = Varchar(length=16, default="")
    created_by = Varchar(length=128, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class TrainingRecord(Table, tablename="training_records"):
    """A person's attendance or result in a course; a passed one marks the account 已培训上岗."""

    username = Varchar(length=64, index=True)
    course = Varchar(length=100)
    session_id = Integer(null=True, default=None)
    passed = Boolean(default=False)
    recorded_by = Varchar(length=128, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class Team(Table, tablename="teams"):
    """班组: agents answering together under a leader."""

    name = Varchar(length=64, unique=True)
    leader = Varchar(length=64, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class TeamMember(Table, tablename="team_members"):
    """Who is in which team (one team each)."""

    username = Varchar(length=64, unique=True)
    team_id = Integer(default=0)


class ShiftPattern(Table, tablename="shift_patterns"):
    """A shift an admin defines (empty table: the defaults 早班、中班、夜班 in ``core.people.shifts``)."""

    code = Varchar(length=16, unique=True)
    name = Varchar(length=32)
    starts_minute = Integer(default=0)  # minutes after midnight
    minutes = Integer(default=480)
    active = Boolean(default=True)


class StaffLeave(Table, tablename="staff_leave"):
    """Leave (请假): the days a person is not on the rota."""

    username = Varchar(length=64, index=True)
    first_day = Date()
    last_day = Date()
    kind = Varchar(length=16)
    note = Varchar(length=255, default="")
    recorded_by = Varchar(length=128, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class Rota(Table, tablename="rotas"):
    """A month's rota: proposed by the solver as a draft, edited by a team leader, then published."""

    month = Varchar(length=7, index=True)
    status = Varchar(length=16, default="draft")
    rules = JSON(default={})
    demand = JSON(default={})  # {"YYYY-MM-DD": [lines needed per hour, 24 numbers]}
    gaps = JSON(default=[])
    solve_seconds = DoublePrecision(default=0.0)
    created_by = Varchar(length=128, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    published_by = Varchar(length=128, default="")
    published_at = Timestamptz(null=True, default=None)


class RotaShift(Table, tablename="rota_shifts"):
    """One person's shift on one day of a rota."""

    rota_id = Integer(default=0)
    day = Date()
    shift = Varchar(length=16)
    username = Varchar(length=64)


class QaItem(Table, tablename="qa_items"):
    """A line of the 质检 checklist with the points it carries (empty table: the defaults)."""

    code = Varchar(length=32, unique=True)
    name = Varchar(length=64)
    points = Integer(default=0)
    guidance = Varchar(length=255, default="")
    sort = Integer(default=0)
    active = Boolean(default=True)


class QaRule(Table, tablename="qa_rules"):
    """The sampling rule (one row; none: the defaults)."""

    share = DoublePrecision(default=0.05)
    bad_ratings = Boolean(default=True)
    returns = Boolean(default=True)
    updated_by = Varchar(length=128, default="")
    updated_at = Timestamptz(default=TimestamptzNow())


class QaSample(Table, tablename="qa_samples"):
    """An order drawn for 质检, its score, the agent's one appeal and its ruling."""

    order_id = BigInt(unique=True)
    order_number = Varchar(length=32)
    agent = Varchar(length=64)
    reason = Varchar(length=16)
    received_at = Timestamptz()
    drawn_at = Timestamptz(default=TimestamptzNow())
    status = Varchar(length=16, default="pending")
    score = DoublePrecision(null=True, default=None)
    deductions = JSON(default={})
    comment = Text(default="")
    inspector = Varchar(length=64, default="")
    scored_at = Timestamptz(null=True, default=None)
    appeal = Text(default="")
    appealed_at = Timestamptz(null=True, default=None)
    ruling = Text(default="")
    ruled_by = Varchar(length=64, default="")
    ruled_at = Timestamptz(null=True, default=None)


class StaffEvent(Table, tablename="staff_events"):
    """The audit trail of the people records: training, teams, leave, rotas, 质检 (who, what, why)."""

    subject = Varchar(length=64, index=True)  # "user:<name>", "team:<id>", "rota:<id>", "qa:<id>"
    action = Varchar(length=32)
    actor = Varchar(length=128)
    role = Varchar(length=32, default="")
    reason = Text(default="")
    detail = JSON(default={})
    created_at = Timestamptz(default=TimestamptzNow())


PEOPLE_TABLES = (TrainingSession, TrainingRecord, Team, TeamMember, ShiftPattern, StaffLeave, Rota, RotaShift,
                 QaItem, QaRule, QaSample, StaffEvent)


class SiteVisit(Table, tablename="site_visits"):
    """An on-site verification (实地核实) of an order: scheduled by the centre, then recorded from a
    phone with findings, photos (keys of the order's attachments), the place and a conclusion."""

    order_id = Integer(index=True)
    purpose = Varchar(length=32)
    status = Varchar(length=16, default="scheduled", index=True)
    scheduled_at = Timestamptz(default=TimestamptzNow())
    staff = JSON(default=[])  # usernames of the people who go
    note = Text(default="")
    findings = Text(default="")
    conclusion = Varchar(length=16, default="")
    place = JSON(default={})  # {"latitude", "longitude", "accuracy"} from the phone, when allowed
    address = Varchar(length=200, default="")
    photos = JSON(default=[])
    department = Varchar(length=64, null=True, default=None)
    created_by = Varchar(length=128, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    recorded_by = Varchar(length=128, default="")
    recorded_at = Timestamptz(null=True, default=None)
    version = Integer(default=1)  # raised by each change: of two at once, the second is refused


ALL_TABLES += (SiteVisit,)


class CtiConnection(Table, tablename="cti_connections"):
    """A PBX that pushes call events to ``POST /api/cti/{token}`` (core/telephony.py). Only the token's
    SHA-256 is stored; ``secret`` signs the pushes when the PBX can (HMAC-SHA256 of the body)."""

    name = Varchar(length=64)
    token_hash = Varchar(length=64, unique=True)
    secret = Varchar(length=64, default="")
    signed = Boolean(default=False)  # every push must carry a valid signature
    active = Boolean(default=True)
    created_by = Varchar(length=128, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class Call(Table, tablename="calls"):
    """One call as the PBX reported it (来电记录): its times, who answered, how it ended. ``call_key`` is
    the connection and the PBX's call id, unique, so a repeated or late event never makes a second call."""

    call_key = Varchar(length=160, unique=True)
    connection_id = Integer(default=0)
    call_id = Varchar(length=128)
    direction = Varchar(length=8, default="in")
    number = Varchar(length=32, default="", index=True)  # the citizen's: the caller, or whom we called
    from_number = Varchar(length=32, default="")
    to_number = Varchar(length=32, default="")
    queue = Varchar(length=64, default="")
    extension = Varchar(length=32, default="")
    agent = Varchar(length=64, default="")
    ringing_at = Timestamptz(null=True, default=None, index=True)
    answered_at = Timestamptz(null=True, default=None)
    ended_at = Timestamptz(null=True, default=None)
    cause = Varchar(length=32, default="")
    outcome = Varchar(length=16, default="ringing", index=True)
    wait_seconds = Integer(null=True, default=None)
    talk_seconds = Integer(null=True, default=None)
    blocked = Boolean(default=False)
    recording_url = Varchar(length=1000, default="")
    recording_key = Varchar(length=64, default="")  # in the attachment store once fetched
    recording_type = Varchar(length=32, default="")
    recording_shared = Boolean(default=False)  # the centre lets the order's department listen
    callback = Varchar(length=16, default="")  # a missed call's callback: pending, called_back, unreachable, not_needed
    callback_by = Varchar(length=128, default="")
    callback_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz(default=TimestamptzNow())


class CallEvent(Table, tablename="call_events"):
    """Every event a PBX pushed, as received (the call's audit trail). ``dedupe`` (call key and event)
    is unique: the second copy of an event is recognised and changes nothing."""

    call_key = Varchar(length=160, index=True)
    event = Varchar(length=16)
    dedupe = Varchar(length=200, unique=True)
    payload = JSON(default={})
    pbx_at = Timestamptz(null=True, default=None)
    received_at = Timestamptz(default=TimestamptzNow())


class CallLink(Table, tablename="call_links"):
    """An order recorded from a call (or linked to it later): who linked it and when."""

    call_key = Varchar(length=160, index=True)
    order_number = Varchar(length=32, index=True)
    linked_by = Varchar(length=128, default="")
    linked_at = Timestamptz(default=TimestamptzNow())


class BlockedNumber(Table, tablename="blocked_numbers"):
    """A nuisance number: its calls are answered with a reject instruction (屏蔽号码, admins)."""

    number = Varchar(length=32, unique=True)
    note = Varchar(length=200, default="")
    created_by = Varchar(length=128, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class CallDial(Table, tablename="call_dials"):
    """A 外呼 asked of the PBX for an order's callback: the ``reference`` the originate request carries
    (and the PBX's events may echo), the outbound call it became (``call_key``) and what that call
    settled on the callback (``result``: answered, no_answer, wrong_number, forwarded, or manual when the
    agent recorded the outcome first)."""

    reference = Varchar(length=64, unique=True)
    order_number = Varchar(length=32, index=True)
    number = Varchar(length=32, default="", index=True)  # the citizen's full number (centre only)
    extension = Varchar(length=32, default="")
    agent = Varchar(length=64, default="")
    requested_at = Timestamptz(default=TimestamptzNow())
    call_key = Varchar(length=160, default="", index=True)
    result = Varchar(length=16, default="")
    settled_at = Timestamptz(null=True, default=None)


TELEPHONY_TABLES = (CtiConnection, Call, CallEvent, CallLink, BlockedNumber, CallDial)


class ReportTemplate(Table, tablename="report_templates"):
    """A written-report (.docx) template an admin uploaded: for one report kind, or ``all`` for every
    kind without its own; none means the shipped default. The file is kept base64-encoded."""

    kind = Varchar(length=16, unique=True)
    filename = Varchar(length=255, default="")
    content = Text(default="")
    digest = Varchar(length=64, default="")
    uploaded_by = Varchar(length=128, default="")
    uploaded_at = Timestamptz(default=TimestamptzNow())


class SavedView(Table, tablename="saved_views"):
    """视图: a filter of the order list that one member of staff saved under a name (a personal
    preference: no one else sees it). ``query`` is the list's query string, checked when saved."""

    username = Varchar(length=64)  # with name: a unique index (migration core_0097)
    name = Varchar(length=30)
    query = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())


ALL_TABLES += (SavedView,)

class RetentionRule(Table, tablename="retention_rules"):
    """保管期限: how long the centre keeps the orders of a channel, of a kind, or of a kind in a channel
    after they were archived, and the archive rule it follows (``basis``, e.g. 《档案管理办法》第X条).
    ``key`` (channel/kind, either empty for "any") is unique. No rule: everything is kept."""

    key = Varchar(length=100, unique=True)
    channel = Varchar(length=64, default="")
    kind = Varchar(length=32, default="")
    years = Integer()
    basis = Text(default="")
    updated_by = Varchar(length=128, default="")
    updated_at = Timestamptz(default=TimestamptzNow())


class PurgeRun(Table, tablename="purge_runs"):
    """One destruction run (销毁): who ran it, when, the rules in force (as they read then) and how many
    orders it destroyed. Never deleted: with ``purged_orders`` it is the destruction register."""

    operator = Varchar(length=128)
    role = Varchar(length=32, default="")
    via = Varchar(length=16, default="cli")  # cli | console
    started_at = Timestamptz(default=TimestamptzNow())
    finished_at = Timestamptz(null=True, default=None)
    rules = JSON(default=[])
    destroyed = Integer(default=0)
    files = Integer(default=0)  # attachment files removed


class PurgedOrder(Table, tablename="purged_orders"):
    """销毁清册: one destroyed order, with nothing personal: its number, channel, kind, when it was
    received and closed, and the rule it was destroyed under. Never deleted."""

    run_id = Integer(index=True)
    number = Varchar(length=32, index=True)
    channel = Varchar(length=64)
    kind = Varchar(length=32)
    status = Varchar(length=32)
    received_at = Timestamptz()
    closed_at = Timestamptz()
    rule_key = Varchar(length=100)
    rule_years = Integer()
    rule_basis = Text(default="")
    destroyed_at = Timestamptz(default=TimestamptzNow())


RETENTION_TABLES = (RetentionRule, PurgeRun, PurgedOrder)
