"""Continuous evaluation: monitors score newly ingested traces on a schedule.

A monitor names a dataset of ingested traces, metric bindings (as in a dataset-only run,
span-level ones included), an optional star metric with a threshold, how often it looks
(``interval_minutes``) and the period of its rolling run (hour, day or week, UTC).

- **One schedule** (django-q2, ``traces.tasks.monitors_tick`` every minute) exists while any
  monitor is active; each tick works every monitor that is due. A monitor's tick is one
  transaction that first moves ``next_tick_at`` with the monitor's row locked: a tick that
  fires twice does the work once, and a worker that dies mid-way leaves nothing behind (the
  monitor is still due and the next tick does it all).
- **What is new:** the traces of the dataset (``TraceItem``, any version) that no span has
  reached for ``settle_seconds`` and that the monitor has not scored at their current span
  count (``MonitorTrace``). The watermark only bounds the scan; the span counts decide.
- **A trace split over several requests** is scored once it has settled. If spans still
  arrive after it was scored, it is due again: in the current period's run its task is
  scored again from the row as it now is (or it gets a task there, if it was scored in an
  earlier period, whose result stays as it was).
- **Rolling runs:** the new rows are appended to the period's dataset-only run (one per
  period and configuration: changing the metrics or the threshold starts another) through
  ``runs.engine.planning.append_items``; the engine scores them (and reopens and finishes
  the run, recomputing its summaries and pass status).
- **Alerts:** when a period's run finishes with its star metric below the threshold (the
  engine's pass rule), one ``MonitorAlert`` is recorded for that run, and a ``run.regressed``
  event goes to the project's webhook endpoints that want it (``webhooks.events``).
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from datasets.models import Dataset, DatasetVersion
from runs.engine.planning import append_items
from runs.mapping import validate_run_config
from runs.models import EvaluationRun, RunPhase, RunStatus, RunTask
from runs.models import TaskStatus as RunTaskStatus
from traces.models import (
    Monitor,
    MonitorAlert,
    MonitorPeriod,
    MonitorRun,
    MonitorTrace,
    TraceItem,
)

log = logging.getLogger(__name__)

SCHEDULE_NAME = "traces.monitors"
TICK_TASK = "traces.tasks.monitors_tick"
MAX_TRACES_PER_TICK = 5000
# The scan starts this long before the watermark: an ingestion transaction that committed
# late (its rows stamped earlier) is still seen; span counts keep it from scoring twice.
WATERMARK_MARGIN = timedelta(minutes=5)
MAX_INTERVAL_MINUTES = 7 * 24 * 60
MAX_SETTLE_SECONDS = 3600


# --- saving -------------------------------------------------------------------------------


def _as_uuid(value):
    if value in (None, ""):
        return None
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return False


def _int_in(value, low: int, high: int):
    if isinstance(value, bool):
        return None
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if low <= number <= high else None


def newest_version(dataset: Dataset) -> DatasetVersion | None:
    """The version ingestion writes to (the newest draft), else the newest release."""
    versions = DatasetVersion.objects.filter(dataset=dataset)
    return versions.filter(status="draft").order_by("-number").first() or (
        versions.order_by("-number").first()
    )


def trace_datasets(project):
    """The project's datasets that hold ingested traces (what a monitor can watch)."""
    has_traces = TraceItem.objects.filter(version__dataset=OuterRef("pk"))
    return Dataset.objects.filter(project=project).filter(Exists(has_traces)).order_by("name")


def _config(metrics) -> list[dict]:
    return [{"workflow": None, "metrics": metrics}]


def _plan(*, project, name: str, dataset: Dataset, metrics, star_metric_id, threshold):
    """The run plan a monitor's runs are made of (runs.mapping), or a ValidationError keyed
    by the monitor's fields."""
    version = newest_version(dataset)
    star = None
    if star_metric_id:
        star = {"metric_id": str(star_metric_id), "threshold": threshold}
    try:
        return validate_run_config(
            project=project,
            name=name,
            dataset_version_id=version.id if version else None,
            config=_config(metrics),
            star_metric=star,
            draft_ok=True,
        )
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for path, messages in exc.message_dict.items():
            if path.startswith("config[0]."):
                field = "metrics"
                rest = path.removeprefix("config[0].")
                messages = [f"{rest}: {m}" if rest != "metrics" else m for m in messages]
            elif path == "config":
                field = "metrics"
            elif path.startswith("star_metric"):
                field = "star_threshold" if path.endswith("threshold") else "star_metric_id"
            elif path == "dataset_version_id":
                field = "dataset_id"
            else:
                field = path
            errors.setdefault(field, []).extend(messages)
        raise ValidationError(errors) from exc


def _check(*, project, monitor, data: dict) -> dict:
    errors: dict[str, list[str]] = {}
    name = data.get("name")
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        errors["name"] = ["Give the monitor a name."]
    elif len(name) > 200:
        errors["name"] = ["The name is too long (200 characters at most)."]
    elif (
        Monitor.objects.filter(project=project, name=name)
        .exclude(pk=getattr(monitor, "pk", None))
        .exists()
    ):
        errors["name"] = [f"This project already has a monitor named {name}."]
    dataset = None
    dataset_id = _as_uuid(data.get("dataset_id"))
    if dataset_id:
        dataset = Dataset.objects.filter(project=project, pk=dataset_id).first()
    if dataset is None:
        errors["dataset_id"] = ["Unknown dataset."]
    elif not TraceItem.objects.filter(version__dataset=dataset).exists():
        errors["dataset_id"] = [
            f"Dataset {dataset.name} holds no ingested traces: pick the dataset your "
            "OpenTelemetry exporter sends to (see Send traces)."
        ]
    interval = _int_in(data.get("interval_minutes", 5), 1, MAX_INTERVAL_MINUTES)
    if interval is None:
        errors["interval_minutes"] = [f"A whole number of minutes, 1 to {MAX_INTERVAL_MINUTES}."]
    settle = _int_in(data.get("settle_seconds", 60), 0, MAX_SETTLE_SECONDS)
    if settle is None:
        errors["settle_seconds"] = [f"A whole number of seconds, 0 to {MAX_SETTLE_SECONDS}."]
    period = data.get("period") or MonitorPeriod.DAY
    if period not in MonitorPeriod.values:
        errors["period"] = [f"One of {', '.join(MonitorPeriod.values)}."]
    metrics = data.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        errors["metrics"] = ["Add at least one metric."]
    star_metric_id = _as_uuid(data.get("star_metric_id"))
    if star_metric_id is False:
        errors["star_metric_id"] = ["Unknown metric."]
    threshold = data.get("star_threshold")
    if threshold in ("", None):
        threshold = None
    else:
        try:
            threshold = float(threshold)
        except (TypeError, ValueError):
            threshold = math.nan
        if isinstance(data.get("star_threshold"), bool) or not math.isfinite(threshold):
            errors["star_threshold"] = ["The threshold must be a number."]
        elif not star_metric_id:
            errors["star_threshold"] = ["Pick the star metric the threshold applies to."]
    plan = None
    if dataset is not None and "dataset_id" not in errors and "metrics" not in errors:
        try:
            plan = _plan(
                project=project,
                name=name or "monitor",
                dataset=dataset,
                metrics=metrics,
                star_metric_id=star_metric_id or None,
                threshold=threshold if "star_threshold" not in errors else None,
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                errors.setdefault(field, []).extend(messages)
    if plan is not None and plan.star is not None and threshold is not None:
        entry, index = plan.star
        if not plan.entries[entry].metrics[index].metric.is_numeric:
            errors.setdefault("star_metric_id", []).append(
                "The star metric must give numbers to compare with a threshold."
            )
    if errors:
        raise ValidationError(errors)
    return {
        "name": name,
        "dataset": dataset,
        "metrics": metrics,
        "star_metric_id": star_metric_id or None,
        "star_threshold": threshold,
        "interval_minutes": interval,
        "settle_seconds": settle,
        "period": period,
        "is_active": bool(data.get("is_active", True)),
    }


@transaction.atomic
def monitor_save(*, project, user, data: dict, monitor: Monitor | None = None) -> Monitor:
    """Create (``monitor`` None) or update a monitor from ``data`` (name, dataset_id,
    metrics, star_metric_id, star_threshold, interval_minutes, period, settle_seconds,
    is_active, and on create score_existing); ValidationError keyed by field, nothing saved.

    A new monitor scores traces ingested from now on, or the ones already there too with
    ``score_existing``. Saving makes the monitor due at once and keeps the schedule."""
    clean = _check(project=project, monitor=monitor, data=data)
    now = timezone.now()
    if monitor is None:
        monitor = Monitor(project=project, created_by=user, created_at=now)
        monitor.scores_from = None if data.get("score_existing") else now
    elif monitor.dataset_id != clean["dataset"].pk:
        monitor.watermark = None  # another dataset: its own traces, from now on
        monitor.scores_from = now
    for field, value in clean.items():
        setattr(monitor, field, value)
    monitor.updated_at = now
    monitor.next_tick_at = now
    monitor.last_error = ""
    try:
        with transaction.atomic():
            monitor.save()
    except IntegrityError as exc:  # the same name saved a moment ago
        raise ValidationError(
            {"name": [f"This project already has a monitor named {clean['name']}."]}
        ) from exc
    ensure_schedule()
    return monitor


@transaction.atomic
def monitor_delete(*, monitor: Monitor) -> None:
    """The monitor goes; its runs stay (ordinary runs, deleted from the runs list)."""
    monitor.delete()
    ensure_schedule()


def ensure_schedule() -> None:
    """One django-q2 schedule while any monitor is active, none otherwise (idempotent)."""
    from django_q.models import Schedule

    if Monitor.objects.filter(is_active=True).exists():
        schedule, created = Schedule.objects.update_or_create(
            name=SCHEDULE_NAME,
            defaults={
                "func": TICK_TASK,
                "schedule_type": Schedule.MINUTES,
                "minutes": 1,
                "repeats": -1,
            },
        )
        if created:
            schedule.next_run = timezone.now()
            schedule.save(update_fields=["next_run"])
    else:
        Schedule.objects.filter(name=SCHEDULE_NAME).delete()


# --- ticking ------------------------------------------------------------------------------


@dataclass
class TickReport:
    monitor_id: uuid.UUID
    run_id: uuid.UUID | None = None
    new: int = 0  # traces the run had no task for
    rescored: int = 0  # traces scored again because spans arrived after they were scored
    error: str = ""


def monitors_tick(*, now=None) -> list[TickReport]:
    """Work every due monitor (the scheduled task). Each in its own transaction."""
    now = now or timezone.now()
    due = Monitor.objects.filter(is_active=True).exclude(next_tick_at__gt=now)
    reports = []
    for monitor_id in list(due.values_list("id", flat=True)):
        try:
            report = monitor_tick(monitor_id=monitor_id, now=now)
        except Exception:
            log.exception("monitor %s: tick failed", monitor_id)
            continue
        if report is not None:
            reports.append(report)
    return reports


def period_start(period: str, now: datetime) -> datetime:
    now = now.astimezone(UTC)
    if period == MonitorPeriod.HOUR:
        return now.replace(minute=0, second=0, microsecond=0)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == MonitorPeriod.WEEK:
        start -= timedelta(days=start.weekday())
    return start


def _period_label(period: str, start: datetime) -> str:
    if period == MonitorPeriod.HOUR:
        return start.strftime("%Y-%m-%d %H:00 UTC")
    if period == MonitorPeriod.WEEK:
        return "week of " + start.strftime("%Y-%m-%d")
    return start.strftime("%Y-%m-%d")


def _due_traces(monitor: Monitor, now: datetime) -> tuple[list[dict], datetime | None]:
    """The traces to score now (one per trace id: its fullest copy), and the new watermark."""
    settled = now - timedelta(seconds=monitor.settle_seconds)
    links = TraceItem.objects.filter(
        version__dataset_id=monitor.dataset_id, updated_at__lte=settled
    )
    since = monitor.scores_from
    if monitor.watermark is not None:
        floor = monitor.watermark - WATERMARK_MARGIN
        since = floor if since is None else max(since, floor)
    if since is not None:
        links = links.filter(updated_at__gte=since)
    scored = MonitorTrace.objects.filter(
        monitor_id=monitor.pk,
        trace_id=OuterRef("trace_id"),
        span_count__gte=OuterRef("span_count"),
    )
    rows = list(
        links.exclude(Exists(scored))
        .order_by("updated_at", "id")
        .values("trace_id", "item_id", "span_count", "updated_at", "version__number")[
            :MAX_TRACES_PER_TICK
        ]
    )
    best: dict[str, dict] = {}
    for row in rows:
        current = best.get(row["trace_id"])
        rank = (row["span_count"], row["version__number"])
        if current is None or rank > (current["span_count"], current["version__number"]):
            best[row["trace_id"]] = row
    # A full batch: more to come, the next tick goes on from the last one taken.
    watermark = settled if len(rows) < MAX_TRACES_PER_TICK else rows[-1]["updated_at"]
    if monitor.watermark is not None and watermark < monitor.watermark:
        watermark = monitor.watermark
    return list(best.values()), watermark


def _period_run(monitor: Monitor, now: datetime, plan) -> EvaluationRun:
    """The period's run, created on its first new trace (pending until rows are added)."""
    from runs.options import run_options
    from runs.services import run_plan_save

    start = period_start(monitor.period, now)
    key = monitor.config_key()
    link = MonitorRun.objects.filter(monitor=monitor, period_start=start, config_key=key).first()
    if link is not None:
        run = EvaluationRun.objects.filter(id=link.run_id).first()
        if run is not None:
            return run
        link.delete()  # its run was deleted: the period starts a new one
    name = f"{monitor.name} · {_period_label(monitor.period, start)}"[:200]
    run = EvaluationRun.objects.create(
        project_id=monitor.project_id,
        name=name,
        dataset_version=plan.dataset_version,
        mode=plan.mode,
        status=RunStatus.PENDING,
        phase=RunPhase.PLANNING,
        started_by=monitor.created_by,
        queued_at=now,
        config=plan.frozen_config(),
        star_threshold=plan.star_threshold,
        **run_options(monitor.project, None),
    )
    run_plan_save(run=run, plan=plan)
    MonitorRun.objects.create(monitor=monitor, period_start=start, config_key=key, run_id=run.id)
    return run


def monitor_tick(*, monitor_id, now=None) -> TickReport | None:
    """Score what is new for one monitor; None when it was not due (another tick took it).

    One transaction: the monitor's row is locked and ``next_tick_at`` moved first, then the
    new traces are appended to the period's run and recorded in ``MonitorTrace``."""
    now = now or timezone.now()
    with transaction.atomic():
        monitor = (
            Monitor.objects.select_for_update()
            .select_related("project")
            .filter(pk=monitor_id)
            .first()
        )
        if monitor is None or not monitor.is_due(now):
            return None
        report = TickReport(monitor_id=monitor.pk)
        fields = {
            "next_tick_at": now + timedelta(minutes=monitor.interval_minutes),
            "last_tick_at": now,
            "last_error": "",
        }
        traces, watermark = _due_traces(monitor, now)
        if traces:
            try:
                _score(monitor, traces, now=now, report=report)
            except ValidationError as exc:
                # e.g. a metric of the monitor was deleted since: nothing is recorded, and
                # the monitor says why until it is fixed.
                report.error = " ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())[
                    :2000
                ]
                fields["last_error"] = report.error
                watermark = None
        if watermark is not None:
            fields["watermark"] = watermark
        Monitor.objects.filter(pk=monitor.pk).update(**fields)
    if report.new or report.rescored:
        log.info(
            "monitor %s: %d new and %d re-scored trace(s) into run %s",
            monitor.pk,
            report.new,
            report.rescored,
            report.run_id,
        )
    return report


def _score(monitor: Monitor, traces: list[dict], *, now, report: TickReport) -> None:
    plan = _plan(
        project=monitor.project,
        name=monitor.name,
        dataset=monitor.dataset,
        metrics=monitor.metrics,
        star_metric_id=monitor.star_metric_id,
        threshold=monitor.star_threshold,
    )
    run = _period_run(monitor, now, plan)
    report.run_id = run.id
    statuses: dict = {}
    for item_id, status in RunTask.objects.filter(
        run=run, item_id__in=[t["item_id"] for t in traces]
    ).values_list("item_id", "status"):
        statuses.setdefault(item_id, set()).add(status)
    new, rescore, taken = [], [], []
    for trace in traces:
        found = statuses.get(trace["item_id"])
        if found is None:
            new.append(trace["item_id"])
        elif RunTaskStatus.CLAIMED in found:
            continue  # being scored from the old row right now: the next tick does it
        elif found & {RunTaskStatus.SUCCEEDED, RunTaskStatus.FAILED}:
            rescore.append(trace["item_id"])
        # only pending: it will read the row as it is now
        taken.append(trace)
    if new or rescore:
        append_items(run.id, item_ids=new, rescore_item_ids=rescore)
    report.new, report.rescored = len(new), len(rescore)
    existing = {
        t.trace_id: t
        for t in MonitorTrace.objects.filter(
            monitor=monitor, trace_id__in=[t["trace_id"] for t in taken]
        )
    }
    fresh, changed = [], []
    for trace in taken:
        record = existing.get(trace["trace_id"])
        if record is None:
            fresh.append(
                MonitorTrace(
                    monitor=monitor,
                    trace_id=trace["trace_id"],
                    span_count=trace["span_count"],
                    item_id=trace["item_id"],
                    run_id=run.id,
                    scored_at=now,
                )
            )
        else:
            record.span_count = trace["span_count"]
            record.item_id = trace["item_id"]
            record.run_id = run.id
            record.scored_at = now
            changed.append(record)
    MonitorTrace.objects.bulk_create(fresh, batch_size=1000)
    MonitorTrace.objects.bulk_update(
        changed, ["span_count", "item_id", "run_id", "scored_at"], batch_size=1000
    )


# --- after a period's run finished --------------------------------------------------------


def monitor_for_run(run_id) -> Monitor | None:
    link = MonitorRun.objects.select_related("monitor").filter(run_id=run_id).first()
    return link.monitor if link is not None else None


def monitor_run_finished(*, run_id) -> MonitorAlert | None:
    """Alert (once per run) when a monitor's run finished below the star threshold."""
    from webhooks.events import monitor_regression_emit

    monitor = monitor_for_run(run_id)
    run = EvaluationRun.objects.filter(id=run_id).first()
    if monitor is None or run is None or monitor.star_threshold is None:
        return None
    if run.pass_status is not False or run.star_binding_id is None:
        return None
    summary = (run.summaries or {}).get(str(run.star_binding_id)) or {}
    mean = summary.get("pass_mean", summary.get("mean"))
    scored = (summary.get("count") or 0) + (summary.get("errors") or 0)
    metric = summary.get("metric_name") or "The star metric"
    shown = "no value" if mean is None else f"{mean:.3g}"
    message = (
        f"{metric} is {shown} over {scored} trace(s) of {run.name}, below the monitor's "
        f"threshold {run.star_threshold:g}."
    )
    with transaction.atomic():
        alert, created = MonitorAlert.objects.get_or_create(
            monitor=monitor,
            run_id=run.id,
            defaults={
                "run_name": run.name,
                "metric_name": metric[:200],
                "mean": mean,
                "threshold": run.star_threshold,
                "scored_rows": scored,
                "message": message,
            },
        )
        if not created:
            return alert  # this period already raised its alert
        event_id = monitor_regression_emit(run=run, monitor=monitor, alert=alert)
        if event_id is not None:
            MonitorAlert.objects.filter(pk=alert.pk).update(webhook_event_id=event_id)
            alert.webhook_event_id = event_id
    log.warning("monitor %s: %s", monitor.pk, message)
    return alert
