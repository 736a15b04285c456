"""The few vendor differences the engine's raw SQL has to know about."""

from __future__ import annotations

import uuid

from django.db import connection, models

_UUID_FIELD = models.UUIDField()


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def uuid_param(value: uuid.UUID | str):
    """A UUID as the database stores it (SQLite keeps 32 hex characters, PostgreSQL uuid)."""
    if not isinstance(value, uuid.UUID):
        value = uuid.UUID(str(value))
    return _UUID_FIELD.get_db_prep_value(value, connection)


def datetime_param(value):
    return connection.ops.adapt_datetimefield_value(value)


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# Below this many rows a bulk write leaves the planner's statistics good enough.
ANALYZE_AFTER_ROWS = 10_000


def refresh_planner_statistics(*models, rows: int) -> None:
    """PostgreSQL only: re-sample the tables a large bulk write just changed.

    Planning and scoring a big run adds 100,000s of rows in seconds, long before autovacuum's
    ANALYZE notices; until then the planner believes the tables are tiny and picks sequential
    scans for the results pages. ANALYZE samples a bounded number of rows, so it costs about
    the same whatever the table size.
    """
    if rows < ANALYZE_AFTER_ROWS or not is_postgresql():
        return
    names = ", ".join(table(model) for model in models)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {names}")  # noqa: S608 - table names from our own models
