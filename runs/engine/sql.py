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
