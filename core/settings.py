"""Settings read from the environment, so one code base serves the embedded default and scale-out."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import msgspec

DEFAULT_DATABASE_URL = "sqlite:///var/huying.sqlite3"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    secret_key: str = ""
    data_key: str = ""  # seals confidential fields; defaults to secret_key (keep it stable!)
    # Where a status push for an order transferred by the city platform is delivered; unset keeps the
    # messages pending in the outbox until it is configured (nothing is lost).
    city_platform_url: str | None = None
    # Where staff notifications (a knowledge answer about to lapse) are posted as JSON; unset keeps them
    # pending in the outbox.
    notify_url: str | None = None
    max_body_bytes: int = 1_048_576
    var_dir: str = "var"  # the SQLite file's usual home, attachments, the generated secret key
    token_ttl_seconds: int = 12 * 3600
    db_pool_size: int = 10  # PostgreSQL connections per process (the SQLite writer is always one)

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
        notify_url=env.get("HUYING_NOTIFY_URL") or None,
        max_body_bytes=int(env.get("HUYING_MAX_BODY_BYTES", 1_048_576)),
        var_dir=var_dir,
        db_pool_size=int(env.get("HUYING_DB_POOL_SIZE", 10)),
    )
