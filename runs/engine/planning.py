"""Planning: one task row per dataset item, entry and trial (``repetitions`` of them),
created inside the database."""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django.db.models import Max

from datasets.models import DatasetItem
from runs.engine import conf, sql
from runs.engine.enqueue import enqueue_drainers
from runs.models import EvaluationRun, RunEntry, RunStatus, RunTask
from runs.signals import run_finished

log = logging.getLogger(__name__)


def _insert_tasks_sql() -> str:
    tasks, items = sql.table(RunTask), sql.table(DatasetItem)
    columns = (
        "run_id, entry_id, item_id, position, trial, status, attempts, lease_owner, outputs, "
        "chunks, spans, error"
    )
    select = (
        f"SELECT %s, %s, id, position, %s, 'pending', 0, '', '{{}}', '[]', '[]', '' "  # noqa: S608
        f"FROM {items} WHERE version_id = %s"
    )
    if sql.is_postgresql():
        return f"INSERT INTO {tasks} ({columns}) {select} ON CONFLICT DO NOTHING"
    return f"INSERT OR IGNORE INTO {tasks} ({columns}) {select}"


def plan_run(run_id, *, inline_drainer: bool = False) -> bool:
    """Create the run's tasks and mark it running; True when this call started it.

    With ``inline_drainer`` the caller works the run itself as its first drainer (saving a
    queue round trip), so one drainer fewer is enqueued.

    Idempotent: a re-queued plan finds the run no longer pending (or its tasks already there,
    thanks to the unique (run, entry, item) constraint) and changes nothing.
    """
    try:
        with transaction.atomic():
            run = EvaluationRun.objects.select_for_update().filter(id=run_id).first()
            if run is None or run.status != RunStatus.PENDING:
                return False
            statement = _insert_tasks_sql()
            version_param = sql.uuid_param(run.dataset_version_id)
            with connection.cursor() as cursor:
                for entry_id in RunEntry.objects.filter(run=run).values_list("id", flat=True):
                    # Trial by trial: a row's repetitions get neighbouring ids per trial
                    # round, so the first trial of every row is claimed before the second.
                    for trial in range(max(1, run.repetitions)):
                        cursor.execute(
                            statement,
                            [
                                sql.uuid_param(run.id),
                                sql.uuid_param(entry_id),
                                trial,
                                version_param,
                            ],
                        )
            total = RunTask.objects.filter(run=run).count()
            EvaluationRun.objects.start(run.id, mode=run.mode, total_tasks=total)
    except Exception as exc:
        log.exception("run %s: planning failed", run_id)
        error = f"Planning failed: {type(exc).__name__}: {exc}"
        if EvaluationRun.objects.fail(run_id, error=error):
            run_finished.send(sender=EvaluationRun, run_id=run_id, status=RunStatus.FAILED)
        return False
    log.info("run %s: planned %d task(s)", run_id, total)
    sql.refresh_planner_statistics(RunTask, rows=total)
    drainers = conf.drainer_count_for(run)
    others = drainers - 1 if inline_drainer else drainers
    if others > 0:
        enqueue_drainers(run_id, others)
    return True


def append_items(run_id, *, item_ids, rescore_item_ids=()) -> int:
    """Grow a run: add tasks for ``item_ids`` (every entry and trial) and score the tasks of
    ``rescore_item_ids`` again (their row changed); returns how many tasks were added or
    reset. For runs fed as rows arrive (``traces.monitors``), never planned as a whole.

    Runs in the caller's transaction, holding the run's row lock, so ``try_finish`` cannot
    finish the run between the insert and the commit. A pending run starts, a finished one
    reopens, and one drainer is enqueued after commit. Items already in the run are skipped
    (the unique (run, entry, item, trial) constraint); only finished tasks are reset.
    """
    from runs.models import FINISHED_RUN_STATUSES, TaskStatus

    with transaction.atomic():
        run = EvaluationRun.objects.select_for_update().get(id=run_id)
        entries = list(RunEntry.objects.filter(run=run).values_list("id", flat=True))
        known = set(
            RunTask.objects.filter(run=run, item_id__in=list(item_ids)).values_list(
                "item_id", flat=True
            )
        )
        fresh = [item_id for item_id in dict.fromkeys(item_ids) if item_id not in known]
        top = RunTask.objects.filter(run=run).aggregate(top=Max("position"))["top"]
        position = -1 if top is None else top
        tasks = []
        for item_id in fresh:
            position += 1
            for entry_id in entries:
                for trial in range(max(1, run.repetitions)):
                    tasks.append(
                        RunTask(
                            run=run,
                            entry_id=entry_id,
                            item_id=item_id,
                            position=position,
                            trial=trial,
                            status=TaskStatus.PENDING,
                        )
                    )
        RunTask.objects.bulk_create(tasks, batch_size=1000, ignore_conflicts=True)
        reset = 0
        if rescore_item_ids:
            reset = RunTask.objects.filter(
                run=run,
                item_id__in=list(rescore_item_ids),
                status__in=[TaskStatus.SUCCEEDED, TaskStatus.FAILED],
            ).update(
                status=TaskStatus.PENDING,
                attempts=0,
                error="",
                rescore=False,
                finished_at=None,
                lease_owner="",
                lease_expires_at=None,
            )
        if not tasks and not reset:
            return 0
        total = RunTask.objects.filter(run=run).count()
        if run.status == RunStatus.PENDING:
            EvaluationRun.objects.start(run.id, mode=run.mode, total_tasks=total)
        elif run.status in FINISHED_RUN_STATUSES:
            EvaluationRun.objects.reopen(run.id, mode=run.mode, total_tasks=total)
        else:
            EvaluationRun.objects.filter(id=run.id).update(total_tasks=total)
        transaction.on_commit(lambda: enqueue_drainers(run_id, 1))
    log.info("run %s: %d task(s) appended, %d reset", run_id, len(tasks), reset)
    return len(tasks) + reset
