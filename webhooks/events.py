"""Which events a finished run raises, and what they say.

- ``run.finished``: the run finished (succeeded, partially succeeded or canceled);
- ``run.failed``: the run failed;
- ``run.regressed``: besides ``run.finished``, when the run belongs to a test case and its
  star metric is significantly worse (the comparison's verdict, ``runs.compare``) than the
  previous passing run of the same test case with the same agent on the same dataset version;
  for a monitor's rolling run (``traces.monitors``), when its star metric falls below the
  monitor's threshold: once per run, and instead of ``run.finished`` (which such a run,
  reopened on every tick that brings traces, would otherwise send each time).
"""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError

from runs.models import EvaluationRun, RunStatus
from webhooks.models import Event, WebhookEndpoint
from webhooks.services import EVENT_NAMESPACE, events_create

COMPLETED = (RunStatus.SUCCEEDED, RunStatus.PARTIALLY_SUCCEEDED)


def _run_url(run: EvaluationRun) -> str:
    from workflows.conf import public_url

    return f"{public_url()}/projects/{run.project_id}/evaluations/{run.id}/"


def _star_summary(run: EvaluationRun) -> dict | None:
    if run.star_binding_id is None:
        return None
    summary = (run.summaries or {}).get(str(run.star_binding_id)) or {}
    return {
        "metric_id": summary.get("metric_id"),
        "metric_name": summary.get("metric_name"),
        "threshold": run.star_threshold,
        "mean": summary.get("mean"),
        "pass_rate": summary.get("pass_rate"),
    }


def run_data(run: EvaluationRun) -> dict:
    return {
        "run": {
            "id": str(run.id),
            "name": run.name,
            "project_id": str(run.project_id),
            "status": run.status,
            "pass_status": run.pass_status,
            "dataset_version_id": str(run.dataset_version_id),
            "test_case_id": str(run.test_case_id) if run.test_case_id else None,
            "test_case_version": run.test_case_version,
            "queued_at": run.queued_at.isoformat() if run.queued_at else None,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "total_tasks": run.total_tasks,
            "succeeded_tasks": run.succeeded_tasks,
            "failed_tasks": run.failed_tasks,
            "error_description": run.error_description,
            "star_metric": _star_summary(run),
            "url": _run_url(run),
        }
    }


def _agent_ids(run: EvaluationRun) -> list:
    return sorted(
        str(w)
        for w in run.entries.values_list("workflow_version__workflow_id", flat=True)
        if w is not None
    )


def previous_passing_run(run: EvaluationRun) -> EvaluationRun | None:
    if run.test_case_id is None:
        return None
    agents = _agent_ids(run)
    candidates = (
        EvaluationRun.objects.filter(
            test_case_id=run.test_case_id,
            dataset_version_id=run.dataset_version_id,
            pass_status=True,
            status__in=COMPLETED,
            queued_at__lt=run.queued_at,
        )
        .exclude(id=run.id)
        .order_by("-queued_at")
    )
    for candidate in candidates[:50]:
        if _agent_ids(candidate) == agents:
            return candidate
    return None


def star_regression(run: EvaluationRun) -> tuple[EvaluationRun, dict] | None:
    """The previous passing run and the star metric's comparison, when it regressed."""
    from runs.api.compare import comparison_for_gate

    if run.status not in COMPLETED or run.star_binding_id is None:
        return None
    baseline = previous_passing_run(run)
    if baseline is None:
        return None
    try:
        body = comparison_for_gate(baseline=baseline, run=run)
    except ValidationError:
        return None
    star = next((m for m in body["metrics"] if m["is_star"]), None)
    if star is None or star["verdict"] != "regressed":
        return None
    return baseline, star


def run_events_emit(*, run_id) -> int:
    """Create the deliveries a finished run calls for; returns how many events it raised."""
    run = EvaluationRun.objects.select_related("project").filter(id=run_id).first()
    if (
        run is None
        or not WebhookEndpoint.objects.filter(project_id=run.project_id, is_active=True).exists()
    ):
        return 0
    from traces.monitors import monitor_for_run

    if monitor_for_run(run.id) is not None:
        return 0  # a monitor's run: traces.monitors.monitor_run_finished speaks for it
    if run.status == RunStatus.FAILED:
        events = [(Event.RUN_FAILED, run_data(run))]
    elif run.status in (*COMPLETED, RunStatus.CANCELED):
        events = [(Event.RUN_FINISHED, run_data(run))]
        regression = star_regression(run)
        if regression is not None:
            baseline, star = regression
            data = run_data(run)
            data["baseline"] = {"id": str(baseline.id), "name": baseline.name}
            data["comparison"] = star
            events.append((Event.RUN_REGRESSED, data))
    else:
        return 0
    finished = run.finished_at.isoformat() if run.finished_at else ""
    for event, data in events:
        # One id per (run, event, finish): a re-queued task never delivers an event twice.
        event_id = uuid.uuid5(EVENT_NAMESPACE, f"{run.id}:{event}:{finished}")
        events_create(
            project_id=run.project_id, event=event, event_id=event_id, data=data, run_id=run.id
        )
    return len(events)


def monitor_regression_emit(*, run: EvaluationRun, monitor, alert) -> uuid.UUID | None:
    """``run.regressed`` for a monitor's period run whose star metric fell below the
    monitor's threshold; the event id (one per alert), or None when no active endpoint of
    the project wants the event."""
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(project_id=run.project_id, is_active=True)
        if endpoint.wants(Event.RUN_REGRESSED)
    ]
    if not endpoints:
        return None
    data = run_data(run)
    data["monitor"] = {
        "id": str(monitor.id),
        "name": monitor.name,
        "dataset_id": str(monitor.dataset_id),
        "threshold": monitor.star_threshold,
    }
    data["comparison"] = {
        "metric_name": alert.metric_name,
        "mean": alert.mean,
        "threshold": alert.threshold,
        "scored_rows": alert.scored_rows,
        "verdict": "below_threshold",
    }
    event_id = uuid.uuid5(EVENT_NAMESPACE, f"monitor-alert:{alert.id}")
    events_create(
        project_id=run.project_id,
        event=Event.RUN_REGRESSED,
        event_id=event_id,
        data=data,
        run_id=run.id,
        endpoints=endpoints,
    )
    return event_id
