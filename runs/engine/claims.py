"""Claiming batches of pending tasks with a lease, and giving them back.

PostgreSQL: one ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)`` so concurrent
drainers never wait on each other. SQLite: inside the IMMEDIATE transaction (the write lock
is held), pick candidates and move them with a conditional update whose row count is checked.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from runs.engine import sql
from runs.models import RunTask, TaskStatus


def new_lease_owner() -> str:
    """A token naming one drainer: host, process and a random part (fits 64 chars)."""
    host = socket.gethostname()[:24]
    return f"{host}:{os.getpid()}:{uuid.uuid4().hex[:16]}"


def claim_batch(run_id, *, owner: str, limit: int, lease_seconds: int) -> list[int]:
    """Claim up to ``limit`` pending tasks of the run for ``owner``; returns their ids."""
    expires = timezone.now() + timedelta(seconds=lease_seconds)
    if sql.is_postgresql():
        tasks = sql.table(RunTask)
        statement = (
            f"UPDATE {tasks} SET status = 'claimed', lease_owner = %s, lease_expires_at = %s, "  # noqa: S608
            f"attempts = attempts + 1 WHERE id IN (SELECT id FROM {tasks} WHERE run_id = %s "
            f"AND status = 'pending' ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id"
        )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [owner, expires, sql.uuid_param(run_id), limit])
            return sorted(row[0] for row in cursor.fetchall())
    with transaction.atomic():
        candidates = list(
            RunTask.objects.filter(run_id=run_id, status=TaskStatus.PENDING)
            .order_by("id")
            .values_list("id", flat=True)[:limit]
        )
        if not candidates:
            return []
        changed = RunTask.objects.filter(id__in=candidates, status=TaskStatus.PENDING).update(
            status=TaskStatus.CLAIMED,
            lease_owner=owner,
            lease_expires_at=expires,
            attempts=F("attempts") + 1,
        )
        if changed == len(candidates):
            return candidates
        # Someone else moved some of them in between: keep exactly what we got.
        return list(
            RunTask.objects.filter(
                id__in=candidates, status=TaskStatus.CLAIMED, lease_owner=owner
            ).values_list("id", flat=True)
        )


def claim_and_load_pg(run_id, *, owner: str, limit: int, lease_seconds: int) -> list[tuple]:
    """PostgreSQL: claim a batch and read its items in one round trip:
    [(task id, entry id, item data)] ordered by task id."""
    from datasets.models import DatasetItem

    expires = timezone.now() + timedelta(seconds=lease_seconds)
    tasks, items = sql.table(RunTask), sql.table(DatasetItem)
    statement = (
        f"WITH claimed AS (UPDATE {tasks} SET status = 'claimed', lease_owner = %s, "  # noqa: S608
        f"lease_expires_at = %s, attempts = attempts + 1 WHERE id IN (SELECT id FROM {tasks} "
        f"WHERE run_id = %s AND status = 'pending' ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
        f"RETURNING id, entry_id, item_id) SELECT c.id, c.entry_id, i.data FROM claimed c "
        f"JOIN {items} i ON i.id = c.item_id ORDER BY c.id"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [owner, expires, sql.uuid_param(run_id), limit])
        rows = cursor.fetchall()
    return [(t, e, json.loads(d) if isinstance(d, str | bytes) else d) for t, e, d in rows]


def owned_ids(task_ids: list[int], *, owner: str) -> list[int]:
    """Of ``task_ids``, those still claimed by ``owner`` (locked on PostgreSQL until the
    surrounding transaction ends, so the sweeper cannot take them back mid-write)."""
    queryset = RunTask.objects.filter(id__in=task_ids, status=TaskStatus.CLAIMED, lease_owner=owner)
    if sql.is_postgresql():
        queryset = queryset.select_for_update()
    return list(queryset.values_list("id", flat=True))


def release(task_ids: list[int], *, owner: str) -> int:
    """Give claimed tasks back (pending) without waiting for their lease to expire."""
    return RunTask.objects.filter(
        id__in=task_ids, status=TaskStatus.CLAIMED, lease_owner=owner
    ).update(status=TaskStatus.PENDING, lease_expires_at=None)


def renew_leases(run_id, *, owner: str, lease_seconds: int) -> int:
    """Push back the lease of every row of the run that ``owner`` still holds; returns how
    many. Conditional on the owner: a row the sweeper already took back stays taken."""
    expires = timezone.now() + timedelta(seconds=lease_seconds)
    return RunTask.objects.filter(
        run_id=run_id, status=TaskStatus.CLAIMED, lease_owner=owner
    ).update(lease_expires_at=expires)


def renew_interval(lease_seconds: int) -> float:
    """How often a drainer renews: three times per lease (so two renewals may be missed
    before the sweeper sees an expired lease), at least every 30 s for the worker heartbeat."""
    return max(0.5, min(lease_seconds / 3, 30.0))


class LeaseKeeper:
    """A drainer's heartbeat: its claimed rows stay leased while it is alive and working.

    Called from the drainer's own thread (the one that talks to the database) between window
    refills and between rows of a synchronous batch; ``tick()`` costs nothing until a renewal
    is due. Each renewal also records the worker heartbeat that ``/healthz`` and
    ``manage.py serve`` watch. A drainer whose process dies or hangs stops renewing, its
    leases run out and the sweeper re-queues exactly those rows.
    """

    def __init__(self, run_id, *, owner: str, lease_seconds: int):
        self.run_id = run_id
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.interval = renew_interval(lease_seconds)
        self.next_at = time.monotonic() + self.interval

    def tick(self) -> None:
        if time.monotonic() >= self.next_at:
            self.renew()

    def renew(self) -> int:
        from runs.heartbeat import record_beat

        self.next_at = time.monotonic() + self.interval
        renewed = renew_leases(self.run_id, owner=self.owner, lease_seconds=self.lease_seconds)
        record_beat(source="drainer")
        return renewed
