"""The few vendor differences the engine's raw SQL has to know about."""

from __future__ import annotations

import functools
import logging
import random
import time
import uuid

from django.db import DatabaseError, OperationalError, connection, models

log = logging.getLogger(__name__)

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


# Lock order. Drainers lock task rows (claims: pending rows, SKIP LOCKED; writes: their own
# claimed rows), then result rows, then the run row (its counters) last. Whoever locks the run
# row first (finishing, cancelling, deleting) must never wait for a task row a drainer holds:
# ``try_finish`` locks the run FOR NO KEY UPDATE (result inserts only take KEY SHARE on it
# through their foreign key) and cancels pending rows with SKIP LOCKED, leaving rows being
# claimed or written to their drainer, which finishes the run when it leaves. The sweeper
# moves task rows before it touches the run's counters. What can still collide (a delete
# racing a write) is retried by ``retry_on_deadlock``.
DEADLOCK_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


def is_deadlock(exc: BaseException) -> bool:
    while exc is not None:
        if getattr(exc, "sqlstate", None) in DEADLOCK_SQLSTATES:
            return True
        exc = exc.__cause__
    return False


def retry_on_deadlock(func=None, *, attempts: int = 4, pause: float = 0.05):
    """Run ``func`` again (a fresh transaction) when the database picked it as a deadlock
    victim. Only at the outermost level: inside a surrounding transaction the error is raised
    as is, since that transaction is already lost."""
    if func is None:
        return functools.partial(retry_on_deadlock, attempts=attempts, pause=pause)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        for attempt in range(1, attempts + 1):
            try:
                return func(*args, **kwargs)
            except (OperationalError, DatabaseError) as exc:
                if attempt == attempts or connection.in_atomic_block or not is_deadlock(exc):
                    raise
                log.warning("%s: deadlock (attempt %d), retrying", func.__qualname__, attempt)
                time.sleep(pause * attempt * (1 + random.random()))  # noqa: S311 - jitter
        raise AssertionError("unreachable")

    return wrapper


def cancel_pending_tasks(run_id, *, now) -> int:
    """pending -> canceled for the run's rows that nobody else has locked (a claim or a write
    in progress keeps its rows; their drainer settles them). Returns how many changed."""
    from runs.models import RunTask, TaskStatus

    if not is_postgresql():  # SQLite: the IMMEDIATE transaction already holds the write lock
        return RunTask.objects.filter(run_id=run_id, status=TaskStatus.PENDING).update(
            status=TaskStatus.CANCELED, finished_at=now
        )
    tasks = table(RunTask)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {tasks} SET status = 'canceled', finished_at = %s WHERE id IN "  # noqa: S608
            f"(SELECT id FROM {tasks} WHERE run_id = %s AND status = 'pending' "
            f"FOR UPDATE SKIP LOCKED)",
            [now, uuid_param(run_id)],
        )
        return cursor.rowcount
