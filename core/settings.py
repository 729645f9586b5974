"""Settings read from the environment, so one code base serves the embedded default and scale-out."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

import msgspec

from core.callbacks import parse_resolved_setting

DEFAULT_DATABASE_URL = "sqlite:///var/huying.sqlite3"
DEFAULT_SLA_RULES = "at_risk:handle:urge,overdue:handle:supervise,overdue:accept:urge"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    secret_key: str = ""
    data_key: str = ""  # seals confidential fields; defaults to secret_key (keep it stable!)
    # Where a status push for an order transferred by the city platform is delivered; unset keeps the
    # messages pending in the outbox until it is configured (nothing is lost).
    city_platform_url: str | None = None
    city_states_url: str | None = None  # where reconciliation asks the city for its orders' states
    city_secret: str = ""  # signs the city's inbound pushes (HMAC-SHA256); unset refuses them all
    metrics_token: str = ""  # the scraper's bearer token for /metrics; unset refuses every scrape
    outbox_lease_seconds: int = 120  # how long a claimed message waits before another worker retries it
    sms_gateway_url: str | None = None  # unset: text messages are recorded in the database only
    sms_gateway_token: str = ""
    sms_sign: str = "【呼应12345】"
    sms_limit: str = "5/86400"  # at most this many messages per phone number per window (seconds)
    # The address citizens reach the public pages at (https://12345.example.gov.cn): text messages then
    # carry a signed link to the order's tracking page, working for tracking_link_days. Unset: no link.
    public_url: str = ""
    tracking_link_days: int = 90
    # automatic 催办/督办 by the SLA sweep: "<state>:<deadline>:<kind>" rules, comma separated
    sla_rules: str = DEFAULT_SLA_RULES
    # Where early warnings for the supervisors are posted (an SMS or messaging gateway); unset keeps
    # them pending in the outbox until it is configured.
    notify_url: str | None = None
    # the PBX's originate (click-to-call) interface: JSON posted through the outbox; unset, the console
    # offers tel: links instead
    cti_originate_url: str | None = None
    max_body_bytes: int = 1_048_576
    var_dir: str = "var"  # the SQLite file's usual home, attachments, the generated secret key
    token_ttl_seconds: int = 12 * 3600
    # Served over HTTPS (behind a proxy that terminates TLS): HSTS and ``Secure`` cookies on every
    # answer. Requests that arrive over HTTPS get them anyway.
    https: bool = False
    # How far back a request may say it was received (``received_at``): older is a typo or an attack
    # (deadlines are counted from it). A centre importing its archive raises it for the import.
    received_at_max_age_days: int = 400
    # Failed sign-ins tolerated within a window before answering 429: (failures, seconds) per account
    # and per address; each further attempt then waits login_delay_seconds, doubling with every
    # failure up to the window (core/signin.py).
    login_limit_account: tuple[int, int] = (5, 900)
    login_limit_address: tuple[int, int] = (20, 900)
    login_delay_seconds: int = 30
    # The reverse proxies whose X-Forwarded-For is believed (addresses or CIDRs); empty: the header is
    # ignored and the connecting peer is the client, so nobody can pick their own address per request.
    trusted_proxies: tuple[str, ...] = ()
    open311_jurisdiction: str = "huying"  # the jurisdiction_id Open311 callers may name
    # ``huying check`` reports a backlog above this many undelivered messages (/ready does not: a
    # backlog is the jobs' business, not a reason to stop sending requests to this process)
    check_max_outbox_backlog: int = 1000
    dispatch_models_kept: int = 3  # trained dispatch-suggestion models kept (the newest N)
    db_pool_size: int = 10  # PostgreSQL connections per process (the SQLite writer is always one)
    # callbacks (core/callbacks.py): attempts before a 未接通 callback closes as 无法回访, working hours
    # between attempts, and which orders resolved at intake wait for a callback (all | none | sample:R)
    callback_tries: int = 3
    callback_retry_hours: float = 4.0
    resolved_at_intake_callback: str = "sample:0.2"

    @property
    def outbox_lease(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.outbox_lease_seconds)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path:
        return Path(self.database_url.removeprefix("sqlite:///"))


def _secret_key(var: Path) -> str:
    """A stable per-installation key when none is configured, so tokens survive a restart."""
    key_file = var / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    var.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    key_file.write_text(key)
    return key


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    database_url = env.get("HUYING_DATABASE_URL") or DEFAULT_DATABASE_URL
    var_dir = env.get("HUYING_VAR_DIR", "var")
    secret = env.get("HUYING_SECRET_KEY") or _secret_key(Path(var_dir))
    return Settings(
        database_url=database_url,
        redis_url=env.get("HUYING_REDIS_URL") or None,
        data_key=env.get("HUYING_DATA_KEY", ""),
        secret_key=secret,
        city_platform_url=env.get("HUYING_CITY_PLATFORM_URL") or None,
        city_states_url=env.get("HUYING_CITY_STATES_URL") or None,
        city_secret=env.get("HUYING_CITY_SECRET", ""),
        metrics_token=env.get("HUYING_METRICS_TOKEN", ""),
        outbox_lease_seconds=int(env.get("HUYING_OUTBOX_LEASE_SECONDS", 120)),
        sms_gateway_url=env.get("HUYING_SMS_GATEWAY_URL") or None,
        sms_gateway_token=env.get("HUYING_SMS_GATEWAY_TOKEN", ""),
        sms_sign=env.get("HUYING_SMS_SIGN", "【呼应12345】"),
        sms_limit=env.get("HUYING_SMS_LIMIT", "5/86400"),
        public_url=env.get("HUYING_PUBLIC_URL", "").rstrip("/"),
        tracking_link_days=_at_least_one("HUYING_TRACKING_LINK_DAYS", env.get("HUYING_TRACKING_LINK_DAYS", "90")),
        sla_rules=env.get("HUYING_SLA_RULES", DEFAULT_SLA_RULES),
        notify_url=env.get("HUYING_NOTIFY_URL") or None,
        cti_originate_url=env.get("HUYING_CTI_ORIGINATE_URL") or None,
        max_body_bytes=int(env.get("HUYING_MAX_BODY_BYTES", 1_048_576)),
        var_dir=var_dir,
        https=env.get("HUYING_HTTPS", "").lower() in ("1", "true", "yes"),
        received_at_max_age_days=int(env.get("HUYING_RECEIVED_AT_MAX_AGE_DAYS", 400)),
        login_limit_account=_limit(env.get("HUYING_LOGIN_LIMIT_ACCOUNT"), (5, 900)),
        login_limit_address=_limit(env.get("HUYING_LOGIN_LIMIT_ADDRESS"), (20, 900)),
        login_delay_seconds=int(env.get("HUYING_LOGIN_DELAY_SECONDS", 30)),
        trusted_proxies=trusted_proxies(env.get("HUYING_TRUSTED_PROXIES", "")),
        open311_jurisdiction=env.get("HUYING_OPEN311_JURISDICTION", "huying"),
        check_max_outbox_backlog=int(env.get("HUYING_CHECK_MAX_OUTBOX_BACKLOG", 1000)),
        dispatch_models_kept=max(1, int(env.get("HUYING_DISPATCH_MODELS_KEPT", 3))),
        db_pool_size=int(env.get("HUYING_DB_POOL_SIZE", 10)),
        callback_tries=_at_least_one("HUYING_CALLBACK_TRIES", env.get("HUYING_CALLBACK_TRIES", "3")),
        callback_retry_hours=float(env.get("HUYING_CALLBACK_RETRY_HOURS", 4)),
        resolved_at_intake_callback=parse_resolved_setting(env.get("HUYING_RESOLVED_AT_INTAKE_CALLBACK", "sample:0.2")),
    )


def _at_least_one(name: str, text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"{name}: 至少为 1")
    return value


def trusted_proxies(text: str) -> tuple[str, ...]:
    """``"10.0.0.5, 10.1.0.0/16"`` → the entries, each checked now so a typo stops the start-up."""
    import ipaddress

    entries = tuple(part.strip() for part in text.split(",") if part.strip())
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"HUYING_TRUSTED_PROXIES: {entry!r} 不是 IP 地址或网段") from None
    return entries


def _limit(text: str | None, default: tuple[int, int]) -> tuple[int, int]:
    """``"5/900"``: five per 900 seconds."""
    if not text:
        return default
    count, _, seconds = text.partition("/")
    return int(count), int(seconds or 60)
