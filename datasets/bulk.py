"""Fast item writes: batched inserts (COPY on PostgreSQL) and copies done in the database.

The ORM's ``bulk_create`` builds a model instance per row; an import of 100,000 rows spends
most of its time there, so rows go to the database as (id, version, position, json) tuples.
"""

from __future__ import annotations

import uuid

from django.db import connection

from datasets.models import DatasetItem

ITEM_TABLE = DatasetItem._meta.db_table

# A random version-4 UUID in the 32-hex form Django keeps UUIDs in on SQLite.
_SQLITE_UUID4 = (
    "lower(hex(randomblob(6)) || '4' || substr(hex(randomblob(2)), 2) || "
    "substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || "
    "hex(randomblob(6)))"
)


def _uuid_param(value: uuid.UUID):
    return value if connection.vendor == "postgresql" else value.hex


class ItemWriter:
    """Collects (position, json_text) rows and writes them in batches to one version."""

    def __init__(self, version_id: uuid.UUID, *, batch_size: int):
        self.version_param = _uuid_param(version_id)
        self.batch_size = batch_size
        self.pending: list[tuple] = []
        self.written = 0

    def add(self, position: int, json_text: str) -> uuid.UUID:
        item_id = uuid.uuid4()
        self.pending.append((_uuid_param(item_id), self.version_param, position, json_text))
        if len(self.pending) >= self.batch_size:
            self.flush()
        return item_id

    def flush(self) -> None:
        if not self.pending:
            return
        if connection.vendor == "postgresql":
            self._copy_postgresql()
        else:
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {ITEM_TABLE} (id, version_id, position, data) "  # noqa: S608
                    "VALUES (%s, %s, %s, %s)",
                    self.pending,
                )
        self.written += len(self.pending)
        self.pending = []

    def _copy_postgresql(self) -> None:
        with connection.cursor() as cursor:
            raw = cursor.cursor  # the psycopg cursor under Django's wrapper
            with raw.copy(
                f"COPY {ITEM_TABLE} (id, version_id, position, data) FROM STDIN"  # noqa: S608
            ) as copy:
                for row in self.pending:
                    copy.write_row(row)


def copy_items(*, source_id: uuid.UUID, target_id: uuid.UUID) -> int:
    """Copy every item of one version into another inside the database (INSERT ... SELECT)."""
    if connection.vendor == "postgresql":
        new_id = "gen_random_uuid()"
    elif connection.vendor == "sqlite":
        new_id = _SQLITE_UUID4
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ITEM_TABLE} (id, version_id, position, data) "  # noqa: S608
            f"SELECT {new_id}, %s, position, data FROM {ITEM_TABLE} WHERE version_id = %s",
            [_uuid_param(target_id), _uuid_param(source_id)],
        )
        return cursor.rowcount


def renumber_positions(version_id: uuid.UUID) -> None:
    """Make positions dense (0..n-1) again after deletions, keeping their order."""
    vid = _uuid_param(version_id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ITEM_TABLE} SET position = -1 - position WHERE version_id = %s",  # noqa: S608
            [vid],
        )
        cursor.execute(
            f"UPDATE {ITEM_TABLE} SET position = ranked.rn FROM ("  # noqa: S608
            f"  SELECT id, ROW_NUMBER() OVER (ORDER BY position DESC) - 1 AS rn"
            f"  FROM {ITEM_TABLE} WHERE version_id = %s"
            f") AS ranked WHERE {ITEM_TABLE}.id = ranked.id",
            [vid],
        )


def delete_items(version_ids: list[uuid.UUID]) -> int:
    """Delete every item of these versions in one statement.

    Only for versions no evaluation run uses (checked by the caller): the ORM would load each
    item to check the run tasks that protect it.
    """
    if not version_ids:
        return 0
    marks = ", ".join(["%s"] * len(version_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {ITEM_TABLE} WHERE version_id IN ({marks})",  # noqa: S608
            [_uuid_param(v) for v in version_ids],
        )
        return cursor.rowcount
