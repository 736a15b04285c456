"""Handing work to django-q2: ids only, never model instances."""

from __future__ import annotations

import logging

from django_q.tasks import async_task

from runs.engine import conf

log = logging.getLogger(__name__)


def enqueue_plan(run_id) -> None:
    async_task("runs.tasks.plan_run", str(run_id), task_name=f"plan-run-{run_id}")


def enqueue_drainers(run_id, count: int | None = None) -> None:
    if count is None:
        count = conf.drainer_count_for(run_id)
        if not count:
            return
    for index in range(count):
        async_task("runs.tasks.drain_run", str(run_id), task_name=f"drain-run-{run_id}-{index}")
    log.info("run %s: %d drainer(s) enqueued", run_id, count)
