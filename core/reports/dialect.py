"""The few SQL expressions that differ between SQLite and PostgreSQL, behind one small interface.

Every KPI query is written once; only turning a stored instant into epoch seconds and reading a JSON
value are spelled per backend. Instants compare as integers afterwards, so time zones in stored text
(``+00:00`` on the order, ``+08:00`` on a working-day deadline) cannot skew a comparison.
"""

from __future__ import annotations

from piccolo.engine.postgres import PostgresEngine


FAR_FUTURE = 253402300799  # 9999-12-31T23:59:59Z: "not closed yet", so ``closed >= end`` needs no NULL test


class Dialect:
    postgres = False

    def epoch(self, column: str) -> str:
        return f"CAST(strftime('%s', {column}) AS INTEGER)"

    def json_text(self, column: str, *path: str) -> str:
        return f"json_extract({column}, '$.{'.'.join(path)}')"

    def json_epoch(self, column: str, *path: str) -> str:
        return self.epoch(self.json_text(column, *path))

    def json_true(self, column: str, *path: str) -> str:
        return f"(json_extract({column}, '$.{'.'.join(path)}') = 1)"

    def minus_days(self, column: str, days: int) -> str:
        return f"strftime('%Y-%m-%d %H:%M:%f', {column}, '-{int(days)} days')"


class PostgresDialect(Dialect):
    postgres = True

    def epoch(self, column: str) -> str:
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT)"

    def json_text(self, column: str, *path: str) -> str:
        steps = "".join(f" -> '{key}'" for key in path[:-1])  # no braces: piccolo formats raw SQL
        return f"(CAST({column} AS jsonb){steps} ->> '{path[-1]}')"

    def json_epoch(self, column: str, *path: str) -> str:
        return self.epoch(f"CAST({self.json_text(column, *path)} AS timestamptz)")

    def json_true(self, column: str, *path: str) -> str:
        return f"({self.json_text(column, *path)} = 'true')"

    def minus_days(self, column: str, days: int) -> str:
        return f"({column} - INTERVAL '{int(days)} days')"


def current_engine():
    """The engine the platform bound the tables to."""
    from core.tables import Order

    return Order._meta.db


def dialect() -> Dialect:
    return PostgresDialect() if isinstance(current_engine(), PostgresEngine) else Dialect()
