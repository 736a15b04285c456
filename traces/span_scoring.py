"""Span-level metric bindings in the engine.

A binding with ``span_type`` scores every span of that type in the row's trace: the dataset
row's ``trace`` in dataset-only runs (``$.dataset.trace``), the workflow's ``spans`` in runs
with workflows (``$.workflow.spans``); the selector ``trace`` of the binding says which.

- ``wrap_scorer`` (the drainer's one hook, where bindings are prepared) turns the metric's
  scorer into a ``SpanScorer``: per row it scores each span with the metric (input ``span``)
  and returns a ``SpanRowOutcome`` — the row result (mean of the span scores, with the
  summary in ``details["spans"]``) carrying the per-span outcomes.
- ``store_span_results`` (one line in the batch write, inside its transaction and for the
  rows the drainer still owns) bulk-upserts one ``SpanMetricResult`` per span and drops the
  row result of rows that have no span of the type.

Rules: a row without a span of the targeted type is *not applicable*: no row result and no
span results (it counts neither as passing nor failing). Span outcomes that are errors are
stored with their error and left out of the mean; when every span errored the row result is
an error naming the first. No ORM here except in ``store_span_results`` and the selectors.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from metrics.scoring import MetricOutcome

SPAN_TARGETS = ("TRACE_SPAN_TYPE_LLM", "TRACE_SPAN_TYPE_RETRIEVER", "TRACE_SPAN_TYPE_TOOL")
DATASET_TRACE = "$.dataset.trace"
WORKFLOW_SPANS = "$.workflow.spans"
SHORT = {t: t.removeprefix("TRACE_SPAN_TYPE_") for t in SPAN_TARGETS}


@dataclass  # not slots: a slotted dataclass would drop the cache_key property below
class SpanRowOutcome(MetricOutcome):
    # [(span index in the trace, span id, span name, MetricOutcome)]
    spans: list = field(default_factory=list)
    not_applicable: bool = False
    # The model calls made for the row (one per span a judge scored): the drainer counts
    # these, not one per binding, against the run's judge calls.
    span_calls: int = 0

    # The judge-call cache stores a row outcome and gives back a plain one, which has no
    # per-span results: a span binding's row is never stored in it (the key set by the
    # drainer is dropped), so a span judge always scores its spans.
    @property
    def cache_key(self):
        return None

    @cache_key.setter
    def cache_key(self, value):
        pass


def trace_spans(value) -> list:
    """The span list of a trace value: a trace object with ``spans`` or a list of spans."""
    if isinstance(value, dict) and "spans" not in value and isinstance(value.get("trace"), dict):
        value = value["trace"]  # a whole trace-shaped row ($.trace)
    if isinstance(value, dict):
        value = value.get("spans")
    return value if isinstance(value, list) else []


def span_type_of(span: dict) -> str:
    """A span's ``TRACE_SPAN_TYPE_*``: ingested spans carry it; agents may report the short
    form ("llm", "tool", "retriever", any case)."""
    raw = str(span.get("type") or "").strip()
    short = raw.upper().removeprefix("TRACE_SPAN_TYPE_")
    full = f"TRACE_SPAN_TYPE_{short}"
    return full if full in SPAN_TARGETS else raw


def targeted(value, span_type: str) -> list[tuple[int, dict]]:
    """(index in the trace, span) of the spans of ``span_type``, typed in full."""
    picked = []
    for index, span in enumerate(trace_spans(value)):
        if isinstance(span, dict) and span_type_of(span) == span_type:
            picked.append(
                (index, span if span.get("type") == span_type else {**span, "type": span_type})
            )
    return picked


def _error(exc: Exception) -> MetricOutcome:
    return MetricOutcome.error(f"{type(exc).__name__}: {exc}")


def aggregate(span_type: str, scored: list[tuple[int, dict, MetricOutcome]]) -> SpanRowOutcome:
    from traces.span_metrics import summarize

    spans = [
        (index, str(span.get("span_id") or ""), str(span.get("name") or ""), outcome)
        for index, span, outcome in scored
    ]
    if not spans:
        return SpanRowOutcome(
            reasoning=f"No {SHORT.get(span_type, span_type)} spans: not applicable.",
            not_applicable=True,
        )
    summary = summarize([outcome for *_, outcome in spans])
    usage = _usage([outcome for *_, outcome in spans])
    if summary["mean"] is None:
        first = spans[0][3].error_description
        return SpanRowOutcome(
            error_description=f"No span could be scored ({summary['errors']} errors): {first}",
            details={"spans": summary},
            spans=spans,
            **usage,
        )
    reasoning = (
        f"{summary['scored']} {SHORT.get(span_type, span_type)} spans, "
        f"{summary['failing']} failing"
        + (f", {summary['errors']} not scored" if summary["errors"] else "")
        + "."
    )
    return SpanRowOutcome(
        number_value=summary["mean"],
        reasoning=reasoning,
        details={"spans": summary},
        spans=spans,
        **usage,
    )


def _usage(outcomes: list[MetricOutcome]) -> dict:
    """The model usage of the spans' calls (LLM judges), summed onto the row outcome that
    the drainer prices and counts."""
    called = [o for o in outcomes if o.called]
    if not called:
        return {}
    return {
        "called": True,
        "span_calls": len(called),
        "input_tokens": sum(o.input_tokens or 0 for o in called),
        "output_tokens": sum(o.output_tokens or 0 for o in called),
    }


class SpanScorer:
    """Scores each span of ``span_type`` with ``inner`` (whose input is ``span``; the
    binding's other inputs, e.g. ``question``, are passed along with it)."""

    def __init__(self, inner, span_type: str):
        self.inner = inner
        self.span_type = span_type
        self.is_async = inner.is_async

    @staticmethod
    def _span_inputs(inputs: dict, span: dict) -> dict:
        return {**{k: v for k, v in inputs.items() if k != "trace"}, "span": span}

    def _safe(self, inputs: dict, span: dict) -> MetricOutcome:
        try:
            return self.inner.score(self._span_inputs(inputs, span))
        except Exception as exc:  # one span must never stop the row
            return _error(exc)

    def score(self, inputs: dict) -> SpanRowOutcome:
        spans = targeted(inputs.get("trace"), self.span_type)
        return aggregate(self.span_type, [(i, s, self._safe(inputs, s)) for i, s in spans])

    async def ascore(self, inputs: dict, *, client) -> SpanRowOutcome:
        spans = targeted(inputs.get("trace"), self.span_type)

        async def one(span):
            try:
                return await self.inner.ascore(self._span_inputs(inputs, span), client=client)
            except Exception as exc:
                return _error(exc)

        outcomes = await asyncio.gather(*(one(span) for _, span in spans))
        return aggregate(
            self.span_type, [(i, s, o) for (i, s), o in zip(spans, outcomes, strict=True)]
        )


def wrap_scorer(binding, scorer):
    """The drainer's hook: the scorer a binding uses (span bindings score their spans)."""
    return SpanScorer(scorer, binding.span_type) if binding.span_type else scorer


def store_span_results(outcomes: list) -> None:
    """Bulk-upsert the span results of ``outcomes`` (TaskOutcome list, rows still owned) and
    drop their not-applicable row results. Called inside the batch's write transaction.

    A re-score scores the same stored trace, so it yields the same span indices and the
    upsert replaces them in place."""
    from traces.models import SpanMetricResult

    rows = []
    for outcome in outcomes:
        results = getattr(outcome, "results", None) or []
        if not any(isinstance(metric, SpanRowOutcome) for _, metric in results):
            continue
        kept = []
        for binding_id, metric in results:
            if isinstance(metric, SpanRowOutcome):
                if metric.not_applicable:
                    continue
                rows.extend(
                    SpanMetricResult(
                        task_id=outcome.task_id,
                        binding_id=binding_id,
                        span_index=index,
                        span_id=span_id[:64],
                        span_name=name[:300],
                        number_value=span.number_value,
                        reasoning=span.reasoning or "",
                        error_description=span.error_description or "",
                    )
                    for index, span_id, name, span in metric.spans
                )
            kept.append((binding_id, metric))
        outcome.results = kept
    if rows:
        SpanMetricResult.objects.bulk_create(
            rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["task", "binding", "span_index"],
            update_fields=[
                "span_id",
                "span_name",
                "number_value",
                "reasoning",
                "error_description",
            ],
        )


# Reading ----------------------------------------------------------------------------------

SPAN_RESULT_FIELDS = (
    "task_id",
    "binding_id",
    "span_index",
    "span_id",
    "span_name",
    "number_value",
    "reasoning",
    "error_description",
)


def span_results_by_task(task_ids) -> dict[int, list[dict]]:
    """The span results of ``task_ids`` (one query), per task, in (binding, span) order."""
    from traces.models import SpanMetricResult

    grouped: dict[int, list[dict]] = {}
    task_ids = list(task_ids)
    if not task_ids:
        return grouped
    for values in (
        SpanMetricResult.objects.filter(task_id__in=task_ids)
        .order_by("task_id", "binding_id", "span_index")
        .values_list(*SPAN_RESULT_FIELDS)
    ):
        grouped.setdefault(values[0], []).append(dict(zip(SPAN_RESULT_FIELDS, values, strict=True)))
    return grouped


def run_span_summaries(run_id) -> dict:
    """Per span binding of the run: spans scored, errors, mean and share failing (a span
    fails below 1.0), in one aggregate query. {binding_id: {...}}"""
    from django.db.models import Avg, Count, Q

    from traces.models import SpanMetricResult

    summaries = {}
    rows = (
        SpanMetricResult.objects.filter(binding__run_id=run_id)
        .values("binding_id")
        .order_by("binding_id")
        .annotate(
            spans=Count("id"),
            errors=Count("id", filter=~Q(error_description="")),
            mean=Avg("number_value", filter=Q(error_description="")),
            failing=Count("id", filter=Q(error_description="", number_value__lt=1.0)),
        )
    )
    for row in rows:
        scored = row["spans"] - row["errors"]
        summaries[row["binding_id"]] = {
            "spans": row["spans"],
            "scored": scored,
            "errors": row["errors"],
            "mean": row["mean"],
            "failing": row["failing"],
            "failing_share": row["failing"] / scored if scored else None,
        }
    return summaries
