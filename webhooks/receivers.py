"""Signal receivers: a finished run queues the task that turns it into webhook events (only
when its project has an endpoint, so runs of projects without webhooks cost one query)."""

from __future__ import annotations

from django.db import transaction


def on_run_finished(sender, *, run_id, **kwargs) -> None:
    from runs.models import EvaluationRun
    from webhooks.models import WebhookEndpoint

    project_id = EvaluationRun.objects.filter(id=run_id).values_list("project_id", flat=True)
    if not WebhookEndpoint.objects.filter(project_id__in=project_id, is_active=True).exists():
        return
    transaction.on_commit(lambda: _enqueue(run_id))


def _enqueue(run_id) -> None:
    from django_q.tasks import async_task

    async_task("webhooks.tasks.webhook_run_events", str(run_id))
