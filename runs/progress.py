"""What the run page shows above the results: progress figures (rate, time left) and, per
metric, its summary with a small histogram of the scores."""

from __future__ import annotations

from django.db.models import Count, F, FloatField
from django.db.models.functions import Floor
from django.utils import timezone

from runs.columns import BindingColumn, RunColumns, run_columns
from runs.models import EvaluationRun, MetricResult
from runs.selectors import run_metric_summaries

HISTOGRAM_BINS = 10


def run_progress(run: EvaluationRun) -> dict:
    """Done / failed / total, the rate so far (rows per second) and the time left."""
    done = run.done_tasks
    total = run.total_tasks
    rate = None
    eta_seconds = None
    duration_seconds = None
    if run.started_at and run.finished_at and not run.is_active:
        # A finished run shows how long it took, not a rate: after a rerun the span from
        # the first start includes the idle time between the passes (0.4 rows/s).
        duration_seconds = max((run.finished_at - run.started_at).total_seconds(), 0.0)
    elif run.started_at and done:
        elapsed = max((timezone.now() - run.started_at).total_seconds(), 0.001)
        rate = done / elapsed
        if total > done:
            eta_seconds = (total - done) / rate
    return {
        "done": done,
        "succeeded": run.succeeded_tasks,
        "failed": run.failed_tasks,
        "canceled": run.canceled_tasks,
        "total": total,
        "percent": round(run.progress * 100, 1),
        "failed_percent": round(100 * run.failed_tasks / total, 1) if total else 0.0,
        "rate": rate,
        "eta_seconds": eta_seconds,
        "duration_seconds": duration_seconds,
        "planned": total > 0,
    }


def score_histogram(binding: BindingColumn, summary: dict) -> list[dict]:
    """Counts of a numeric metric's values in ``HISTOGRAM_BINS`` equal bins over the metric's
    declared range (or the observed min..max), counted by the database."""
    low = binding.range_min if binding.range_min is not None else summary.get("min")
    high = binding.range_max if binding.range_max is not None else summary.get("max")
    if low is None or high is None:
        return []
    if high <= low:
        high = low + 1.0
    width = (high - low) / HISTOGRAM_BINS
    counts = [0] * HISTOGRAM_BINS
    buckets = (
        MetricResult.objects.filter(binding_id=binding.id, number_value__isnull=False)
        .annotate(bucket=Floor((F("number_value") - low) / width, output_field=FloatField()))
        .values("bucket")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in buckets:
        index = int(min(max(row["bucket"] or 0, 0), HISTOGRAM_BINS - 1))
        counts[index] += row["n"]
    top = max(counts) or 1
    return [
        {
            "from": low + i * width,
            "to": low + (i + 1) * width,
            "count": count,
            "height": round(100 * count / top, 1),
        }
        for i, count in enumerate(counts)
    ]


def metric_cards(run: EvaluationRun, *, columns: RunColumns | None = None) -> list[dict]:
    """One card per metric binding: its column, summary and histogram (or top values for a
    string metric)."""
    columns = columns or run_columns(run)
    summaries = {row["binding_id"]: row for row in run_metric_summaries(run)}
    cards = []
    for binding in columns.bindings:
        summary = summaries.get(str(binding.id), {})
        value_counts = summary.get("value_counts") or {}
        top = max(value_counts.values(), default=1) or 1
        cards.append(
            {
                "binding": binding,
                "summary": summary,
                "histogram": score_histogram(binding, summary) if binding.is_numeric else [],
                "value_counts": [
                    {"value": value, "count": count, "width": round(100 * count / top, 1)}
                    for value, count in sorted(value_counts.items(), key=lambda kv: -kv[1])[:6]
                ],
            }
        )
    return cards
