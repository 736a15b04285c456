"""A finished run that belongs to a monitor queues the check of its star threshold."""

from __future__ import annotations

from django.db import transaction


def on_run_finished(sender, *, run_id, **kwargs) -> None:
    from traces.models import MonitorRun

    if not MonitorRun.objects.filter(run_id=run_id).exists():
        return
    transaction.on_commit(lambda: _enqueue(run_id))


def _enqueue(run_id) -> None:
    from django_q.tasks import async_task

    async_task("traces.tasks.monitor_run_finished", str(run_id))
