"""Which dataset item holds which trace.

Ingested traces live as ordinary dataset items (``datasets.DatasetItem``); this table only
finds the item of a trace in a version, so that spans arriving in later requests are merged
into it. The unique (version, trace_id) pair is what makes one trace one item even when two
requests for it race.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class TraceItem(models.Model):
    version = models.ForeignKey(
        "datasets.DatasetVersion", on_delete=models.CASCADE, related_name="trace_items"
    )
    trace_id = models.CharField(max_length=32)
    item = models.ForeignKey(
        "datasets.DatasetItem", on_delete=models.CASCADE, related_name="trace_links"
    )
    span_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "trace_id"], name="trace_item_unique")
        ]

    def __str__(self) -> str:
        return f"trace {self.trace_id} in {self.version_id}"


class SpanMetricResult(models.Model):
    """One span's score under a span-targeting metric binding: exactly one per
    (task, binding, span_index), written by bulk upsert (``traces.span_scoring``)."""

    id = models.BigAutoField(primary_key=True)
    task = models.ForeignKey(
        "runs.RunTask", on_delete=models.CASCADE, related_name="span_results", db_index=False
    )
    binding = models.ForeignKey(
        "runs.MetricBinding", on_delete=models.CASCADE, related_name="span_results"
    )
    span_index = models.PositiveIntegerField()  # position of the span in the row's trace
    span_id = models.CharField(max_length=64, blank=True, default="")
    span_name = models.CharField(max_length=300, blank=True, default="")
    number_value = models.FloatField(null=True, blank=True)
    reasoning = models.TextField(blank=True, default="")
    error_description = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["task_id", "binding_id", "span_index"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "binding", "span_index"], name="span_metric_result_unique"
            )
        ]

    def __str__(self) -> str:
        return f"span {self.span_index} of task {self.task_id}"


# Continuous evaluation (traces.monitors) ---------------------------------------------------


class MonitorPeriod(models.TextChoices):
    HOUR = "hour", "Hour"
    DAY = "day", "Day"
    WEEK = "week", "Week"


class Monitor(models.Model):
    """A saved online evaluation: the metrics that score each trace newly ingested into
    ``dataset``, every ``interval_minutes``, into one rolling run per ``period``.

    ``watermark``: every trace updated at or before it has been considered (the tick reads
    from a little before it, see ``traces.monitors.WATERMARK_MARGIN``); ``MonitorTrace``
    says which version of each trace was scored, so nothing is scored twice."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.CASCADE, related_name="+")
    metrics = models.JSONField(
        default=list,
        help_text='Metric bindings, as in a /v1 run config: [{"id", "version_id"?, '
        '"input_transformer": {"selector": {...}}, "span_type"?}].',
    )
    star_metric_id = models.UUIDField(null=True, blank=True)
    star_threshold = models.FloatField(null=True, blank=True)
    interval_minutes = models.PositiveIntegerField(default=5)
    period = models.CharField(max_length=8, choices=MonitorPeriod.choices, default="day")
    settle_seconds = models.PositiveIntegerField(
        default=60, help_text="A trace is scored once no span has arrived for this long."
    )
    is_active = models.BooleanField(default=True)
    scores_from = models.DateTimeField(
        null=True, blank=True, help_text="Traces last updated before this are not scored."
    )
    watermark = models.DateTimeField(null=True, blank=True)
    next_tick_at = models.DateTimeField(null=True, blank=True)
    last_tick_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="monitor_unique_name")
        ]

    def __str__(self) -> str:
        return self.name

    def is_due(self, now) -> bool:
        return self.is_active and (self.next_tick_at is None or self.next_tick_at <= now)

    def config_key(self) -> str:
        """What a period's run freezes: changing it starts a new run for the period."""
        import hashlib
        import json

        frozen = [self.metrics, str(self.star_metric_id or ""), self.star_threshold]
        return hashlib.sha256(json.dumps(frozen, sort_keys=True).encode()).hexdigest()


class MonitorRun(models.Model):
    """The rolling run of one period (and one configuration: ``Monitor.config_key``).
    ``run_id`` is not a foreign key: runs are deleted with raw SQL
    (runs.services.run_delete); a deleted run's period starts a new one."""

    id = models.BigAutoField(primary_key=True)
    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="runs")
    period_start = models.DateTimeField()
    config_key = models.CharField(max_length=64, default="")
    run_id = models.UUIDField(unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["monitor", "-period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["monitor", "period_start", "config_key"],
                name="monitor_run_one_per_period",
            )
        ]

    def __str__(self) -> str:
        return f"{self.monitor_id} from {self.period_start:%Y-%m-%d %H:%M}"


class MonitorTrace(models.Model):
    """The version of one trace a monitor has scored (its span count then): a trace that
    gains spans later is due again; one that has not changed never is."""

    id = models.BigAutoField(primary_key=True)
    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="+")
    trace_id = models.CharField(max_length=32)
    span_count = models.PositiveIntegerField()
    item_id = models.UUIDField()
    run_id = models.UUIDField()
    scored_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["monitor", "trace_id"], name="monitor_trace_unique")
        ]

    def __str__(self) -> str:
        return f"trace {self.trace_id} ({self.span_count} spans)"


class MonitorAlert(models.Model):
    """The star metric of a period's run fell below the monitor's threshold: at most one per
    (monitor, run). ``webhook_event_id`` is set when it went out as ``run.regressed``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="alerts")
    run_id = models.UUIDField()
    run_name = models.CharField(max_length=200)
    metric_name = models.CharField(max_length=200, blank=True, default="")
    mean = models.FloatField(null=True, blank=True)
    threshold = models.FloatField()
    scored_rows = models.PositiveIntegerField(default=0)
    message = models.TextField()
    webhook_event_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["monitor", "run_id"], name="monitor_alert_once")
        ]

    def __str__(self) -> str:
        return self.message
