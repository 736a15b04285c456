"""Claiming batches of pending tasks with a lease, and giving them back.

PostgreSQL: one ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)`` so concurrent
drainers never wait on each other. SQLite: inside the IMMEDIATE transaction (the write lock
is held), pick candidates and move them with a conditional update whose row count is checked.

A claim's cost does not depend on the table's size or on the rows already processed:

- the candidate query orders by ``(run_id, status, id)``, the ``run_task_claim`` index's own
  order, so the planner walks that index inside the run's pending rows instead of the primary
  key with a filter over every other run's rows (what stale statistics made it pick);
- each drainer remembers the highest id it has claimed (its *floor*) and claims above it
  (``id > floor`` is part of the index condition), so the index entries that still point at
  the dead versions of rows it already moved -- one per processed row until VACUUM, which we
  do not rely on -- are never walked again. Only when fewer rows than asked for lie above the
  floor (the run's end, or rows given back below it by a release or the sweeper) does one
  claim look from the start of the run.

Dataset-only runs on PostgreSQL (without caps) skip the claim UPDATE: ``lock_and_load_pg``
locks the same candidates inside the transaction that scores and writes them, so each row is
written once (pending -> succeeded) and a dead drainer's rows are pending again as soon as
its connection drops.
"""

from __future__ import annotations

import contextlib
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


# owner -> the highest task id that drainer has claimed (see the module docstring)
_floors: dict[str, int] = {}
_MAX_FLOORS = 10_000


def claim_floor(owner: str) -> int:
    return _floors.get(owner, 0)


def _remember(owner: str, ids) -> None:
    if ids:
        if len(_floors) >= _MAX_FLOORS and owner not in _floors:
            _floors.clear()  # drainers that finished long ago; a floor is only a hint
        _floors[owner] = max(_floors.get(owner, 0), max(ids))


def forget_floor(owner: str) -> None:
    _floors.pop(owner, None)


def candidates_sql(tasks: str) -> str:
    """The run's (``%(run)s``) pending rows above ``%(floor)s``, at most ``%(limit)s`` of them,
    skipping rows another drainer holds. The row comparison is a range only the
    ``run_task_claim`` index (run_id, status, id) can serve, and the order is that index's
    own: the planner cannot prefer walking the primary key with a filter."""
    return (
        f"SELECT id FROM {tasks} WHERE run_id = %(run)s AND status = 'pending' "  # noqa: S608
        f"AND (run_id, status, id) > (%(run)s, 'pending', %(floor)s) "
        f"ORDER BY run_id, status, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED"
    )


def _claim_sql(tasks: str) -> str:
    return (
        f"UPDATE {tasks} SET status = 'claimed', lease_owner = %(owner)s, "  # noqa: S608
        f"lease_expires_at = %(expires)s, attempts = attempts + 1 "
        f"WHERE id IN ({candidates_sql(tasks)}) RETURNING id"
    )


def _claim_and_load_sql(tasks: str, items: str) -> str:
    return (
        f"WITH claimed AS (UPDATE {tasks} SET status = 'claimed', lease_owner = %(owner)s, "  # noqa: S608
        f"lease_expires_at = %(expires)s, attempts = attempts + 1 "
        f"WHERE id IN ({candidates_sql(tasks)}) "
        f"RETURNING id, entry_id, item_id) SELECT c.id, c.entry_id, i.data FROM claimed c "
        f"JOIN {items} i ON i.id = c.item_id ORDER BY c.id"
    )


def _lock_and_load_sql(tasks: str, items: str) -> str:
    return (
        f"SELECT t.id, t.entry_id, i.data FROM {tasks} t JOIN {items} i "  # noqa: S608
        f"ON i.id = t.item_id WHERE t.id IN ({candidates_sql(tasks)})"
    )


def _claim_above_floor(
    statement: str, run_id, *, owner: str, limit: int, expires, atomic: bool = True
) -> list:
    """Rows claimed above the owner's floor, then (when that gave fewer than ``limit``) from
    the start of the run; the owner's floor moves up to the highest id claimed."""
    floor = claim_floor(owner)
    params = {"owner": owner, "expires": expires, "run": sql.uuid_param(run_id)}
    scope = transaction.atomic() if atomic else contextlib.nullcontext()
    with scope, connection.cursor() as cursor:
        cursor.execute(statement, {**params, "floor": floor, "limit": limit})
        rows = cursor.fetchall()
        if floor and len(rows) < limit:
            cursor.execute(statement, {**params, "floor": 0, "limit": limit - len(rows)})
            # Rows this transaction already locked are not skipped by SKIP LOCKED (row-lock
            # claims leave them pending): keep each row once.
            seen = {row[0] for row in rows}
            rows += [row for row in cursor.fetchall() if row[0] not in seen]
    if rows:
        _remember(owner, [row[0] for row in rows])
    else:
        forget_floor(owner)
    rows.sort(key=lambda row: row[0])
    return rows


def claim_batch(run_id, *, owner: str, limit: int, lease_seconds: int) -> list[int]:
    """Claim up to ``limit`` pending tasks of the run for ``owner``; returns their ids."""
    expires = timezone.now() + timedelta(seconds=lease_seconds)
    if sql.is_postgresql():
        statement = _claim_sql(sql.table(RunTask))
        rows = _claim_above_floor(statement, run_id, owner=owner, limit=limit, expires=expires)
        return [row[0] for row in rows]
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
    statement = _claim_and_load_sql(sql.table(RunTask), sql.table(DatasetItem))
    rows = _claim_above_floor(statement, run_id, owner=owner, limit=limit, expires=expires)
    return [(t, e, json.loads(d) if isinstance(d, str | bytes) else d) for t, e, d in rows]


def lock_and_load_pg(run_id, *, owner: str, limit: int) -> list[tuple]:
    """PostgreSQL, dataset-only runs: lock up to ``limit`` pending rows (FOR UPDATE SKIP
    LOCKED) and read their items, without writing them: [(task id, entry id, item data)].

    Must run inside the transaction that also writes the rows' results: the row locks are
    the lease. Other drainers skip the locked rows; a drainer that dies loses its connection
    and with it the locks, so its rows are simply pending again (no lease to expire, no
    sweeper needed), and a row is written once, when it is finished. The candidates are the
    claim's own (same index walk above the drainer's floor)."""
    from datasets.models import DatasetItem

    statement = _lock_and_load_sql(sql.table(RunTask), sql.table(DatasetItem))
    rows = _claim_above_floor(
        statement, run_id, owner=owner, limit=limit, expires=None, atomic=False
    )
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
