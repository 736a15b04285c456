"""The Gradient dialect's shapes built from our models: ``APIEvaluationRun``,
``APIEvaluationPrompt`` and ``APIEvaluationTestCase``, with exactly the field names and enum
values of the published ``gradient`` SDK (``gradient/types/agents/...``).

Plain dicts rather than DRF serializers: a results page carries a hundred prompts with nested
metric results and spans, and building dicts keeps it within its latency budget. The DRF
serializers in ``gradient_serializers`` describe the same shapes for the OpenAPI schema.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from metrics.api.gradient import metric_dict, metric_result_dict
from runs.mapping import suggest_column
from runs.models import (
    EvaluationRun,
    EvaluationTestCase,
    MetricBinding,
    RunEntry,
    RunPhase,
    RunStatus,
    RunTask,
    TaskStatus,
)
from runs.usage import run_usage
from workflows.executors import SPAN_TYPES, UNKNOWN_SPAN

STATUS_BY_RUN_STATUS = {
    RunStatus.PENDING: "EVALUATION_RUN_QUEUED",
    RunStatus.CANCELLING: "EVALUATION_RUN_CANCELLING",
    RunStatus.CANCELED: "EVALUATION_RUN_CANCELLED",
    RunStatus.SUCCEEDED: "EVALUATION_RUN_SUCCESSFUL",
    RunStatus.PARTIALLY_SUCCEEDED: "EVALUATION_RUN_PARTIALLY_SUCCESSFUL",
    RunStatus.FAILED: "EVALUATION_RUN_FAILED",
}
RUN_STATUSES = (
    "EVALUATION_RUN_STATUS_UNSPECIFIED",
    "EVALUATION_RUN_QUEUED",
    "EVALUATION_RUN_RUNNING_DATASET",
    "EVALUATION_RUN_EVALUATING_RESULTS",
    "EVALUATION_RUN_CANCELLING",
    "EVALUATION_RUN_CANCELLED",
    "EVALUATION_RUN_SUCCESSFUL",
    "EVALUATION_RUN_PARTIALLY_SUCCESSFUL",
    "EVALUATION_RUN_FAILED",
)
SPAN_TYPE_VALUES = (
    "TRACE_SPAN_TYPE_UNKNOWN",
    "TRACE_SPAN_TYPE_LLM",
    "TRACE_SPAN_TYPE_RETRIEVER",
    "TRACE_SPAN_TYPE_TOOL",
)
RETRIEVER = "TRACE_SPAN_TYPE_RETRIEVER"


def gradient_status(run: EvaluationRun) -> str:
    """``running`` splits by phase: the workflow pass, then scoring."""
    if run.status == RunStatus.RUNNING:
        if run.phase == RunPhase.EVALUATING_RESULTS:
            return "EVALUATION_RUN_EVALUATING_RESULTS"
        return "EVALUATION_RUN_RUNNING_DATASET"
    return STATUS_BY_RUN_STATUS.get(run.status, "EVALUATION_RUN_STATUS_UNSPECIFIED")


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


class RunContext:
    """What every prompt of one run needs, loaded once: its entries and metric bindings.

    A run with several agents (``/v1`` config entries) is one Gradient run whose prompts walk
    item by item, agent by agent; every prompt and metric result names its agent."""

    def __init__(self, run: EvaluationRun):
        self.run = run
        prefetched = getattr(run, "_prefetched_objects_cache", {})
        entries = run.entries.all()
        bindings = run.bindings.all()
        if "entries" not in prefetched:
            entries = entries.select_related("workflow_version__workflow")
        if "bindings" not in prefetched:
            bindings = bindings.select_related("metric_version__metric")
        self.entries: list[RunEntry] = sorted(entries, key=lambda e: e.position)
        self.bindings: list[MetricBinding] = sorted(bindings, key=lambda b: b.position)
        self.metric_by_binding = {b.id: b.metric_version.metric for b in self.bindings}
        self.entry_by_id = {e.id: e for e in self.entries}
        self.entry_index = {e.id: index for index, e in enumerate(self.entries)}
        names = [self._plain_label(e) for e in self.entries]
        self._labels = {
            e.id: (
                f"{name} v{e.workflow_version.number}"
                if names.count(name) > 1 and e.workflow_version_id
                else name
            )
            for e, name in zip(self.entries, names, strict=True)
        }

    @property
    def first_entry(self) -> RunEntry | None:
        return self.entries[0] if self.entries else None

    @property
    def multi_agent(self) -> bool:
        return len(self.entries) > 1

    def bindings_of(self, entry_id) -> list[MetricBinding]:
        return [b for b in self.bindings if b.entry_id == entry_id]

    @staticmethod
    def workflow_of(entry: RunEntry | None):
        version = entry.workflow_version if entry and entry.workflow_version_id else None
        return version.workflow if version else None

    def _plain_label(self, entry: RunEntry) -> str:
        workflow = self.workflow_of(entry)
        return workflow.name if workflow else f"Entry {entry.position + 1}"

    def agent_label(self, entry: RunEntry | None) -> str:
        return self._labels.get(entry.id, "") if entry else ""

    def label(self, binding: MetricBinding) -> str:
        """The metric's name, with its agent's in a run with several agents."""
        name = binding.metric_version.metric.name
        if not self.multi_agent:
            return name
        return f"{name} ({self.agent_label(self.entry_by_id.get(binding.entry_id))})"

    def cache_labels(self) -> tuple:
        """What a cached page of this run shows that can change after it finished: the
        metric names (and value types) and agent names (``runs.results_cache``)."""
        return (
            tuple(
                (str(b.id), self.label(b), b.metric_version.metric.value_type)
                for b in self.bindings
            ),
            tuple(
                (str(e.id), self.agent_label(e), str(getattr(self.workflow_of(e), "id", "")))
                for e in self.entries
            ),
        )

    def prompt_id(self, task: dict) -> int:
        count = max(1, len(self.entries))
        return task["position"] * count + self.entry_index.get(task["entry_id"], 0) + 1

    def prompt_range(self, prompt_id: int) -> tuple[int, int]:
        """The item position and entry index of ``prompt_id`` (from 1)."""
        count = max(1, len(self.entries))
        return (prompt_id - 1) // count, (prompt_id - 1) % count


def _summary_result(metric, summary: dict | None, name: str) -> dict | None:
    if not summary:
        return None
    if summary.get("value_counts"):
        top = Counter(summary["value_counts"]).most_common(1)[0][0]
        return metric_result_dict(metric, {"string_value": top}, name=name)
    if summary.get("mean") is not None:
        return metric_result_dict(metric, {"number_value": summary["mean"]}, name=name)
    errors = summary.get("errors") or 0
    if errors:
        return metric_result_dict(
            metric,
            {"error_description": f"The metric could not be computed for {errors} row(s)."},
            name=name,
        )
    return None


def one_line(text: str, limit: int = 2000) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "\u2026"


def run_error_description(run: EvaluationRun) -> str:
    """The run's own reason (the engine's one line), else for a failed or partially successful
    run a line naming how many rows failed and the first row's error."""
    if run.error_description:
        return one_line(run.error_description)
    if run.status not in (RunStatus.FAILED, RunStatus.PARTIALLY_SUCCEEDED):
        return ""
    failed = RunTask.objects.filter(run_id=run.id, status=TaskStatus.FAILED)
    first = failed.exclude(error="").order_by("position", "id").values_list("error", flat=True)
    count = run.failed_tasks or failed.count()
    reason = f"{count} of {run.total_tasks} row(s) failed"
    example = first.first()
    return one_line(f"{reason}: {example}" if example else f"{reason}.")


def evaluation_run_dict(run: EvaluationRun, context: RunContext | None = None) -> dict:
    """``APIEvaluationRun``: agents are workflows, the workspace is the project."""
    context = context or RunContext(run)
    entry = context.first_entry
    version = entry.workflow_version if entry and entry.workflow_version_id else None
    workflow = version.workflow if version else None
    agents = [context.agent_label(e) for e in context.entries if context.workflow_of(e)]
    summaries = run.summaries or {}
    run_level = []
    star_result = None
    for binding in context.bindings:
        result = _summary_result(
            binding.metric_version.metric,
            summaries.get(str(binding.id)),
            context.label(binding),
        )
        if result is None:
            continue
        run_level.append(result)
        if binding.id == run.star_binding_id:
            star_result = result
    user = run.started_by
    test_case = run.test_case
    return compact(
        {
            "agent_deleted": workflow.is_deleted if workflow else False,
            "agent_deployment_name": workflow.name if workflow else "",
            # Several agents: all their names (agent_uuid is the first one's).
            "agent_name": ", ".join(agents),
            "agent_uuid": str(workflow.id) if workflow else "",
            "agent_version_hash": version.content_hash if version else "",
            "agent_workspace_uuid": str(run.project_id),
            "created_by_user_email": user.email if user else "",
            "created_by_user_id": str(user.pk) if user else "",
            "error_description": run_error_description(run),
            "evaluation_run_uuid": str(run.id),
            "evaluation_test_case_workspace_uuid": str(run.project_id),
            "finished_at": _iso(run.finished_at),
            "pass_status": run.pass_status,
            "queued_at": _iso(run.queued_at),
            "run_level_metric_results": run_level,
            "run_name": run.name,
            "star_metric_result": star_result,
            "started_at": _iso(run.started_at),
            "status": gradient_status(run),
            "test_case_description": test_case.description if test_case else "",
            "test_case_name": test_case.name if test_case else "",
            "test_case_uuid": str(test_case.id) if test_case else "",
            "test_case_version": run.test_case_version,
            # Extra fields (not in Gradient's schema): trials per row, what the run spent.
            "repetitions": run.repetitions,
            "usage": run_usage(run),
        }
    )


def _pick(data: dict, role: str, *, exclude=()):
    """The value of the field of ``data`` that plays ``role`` (``runs.mapping``'s guess)."""
    filled = [name for name, value in data.items() if value not in (None, "")]
    name = suggest_column(filled, role, exclude=exclude)
    return data[name] if name is not None else None


def _prompt_input(entry: RunEntry | None, item: dict) -> str:
    mapping = entry.input_selector if entry else {}
    if mapping:
        values = {}
        for param, selector in mapping.items():
            key = str(selector).removeprefix("$.dataset.")
            values[param] = item.get(key) if key != selector else None
        if len(values) == 1:
            return as_text(next(iter(values.values())))
        return as_text(values)
    picked = _pick(item, "question")
    return as_text(picked if picked is not None else item)


def _prompt_output(entry: RunEntry | None, task, item: dict) -> str:
    if entry is None or entry.workflow_version_id is None:
        return as_text(_pick(item, "response"))
    outputs = task["outputs"] or {}
    if len(outputs) == 1:
        return as_text(next(iter(outputs.values())))
    picked = _pick(outputs, "response")
    return as_text(picked if picked is not None else (outputs or ""))


def compact(value):
    """Gradient bodies never carry ``null``: an optional field without a value is omitted
    (recursively through nested objects and lists)."""
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [compact(v) for v in value]
    return value


def span_list(value) -> list:
    """Spans as a row or an agent holds them: a list of spans, or an object holding the list
    under ``spans`` (or ``evaluation_trace_spans``), e.g. ``{"spans": [...], "latency_ms": 1}``."""
    if isinstance(value, dict):
        value = value.get("spans", value.get("evaluation_trace_spans"))
    return value if isinstance(value, list) else []


def _row_spans(task, item: dict) -> list:
    """The task's recorded spans (with-workflow runs), else the dataset row's: under
    ``trace``, ``spans`` or ``evaluation_trace_spans``, in either shape."""
    spans = span_list(task["spans"])
    if spans:
        return spans
    for key in ("trace", "spans", "evaluation_trace_spans"):
        spans = span_list(item.get(key))
        if spans:
            return spans
    return []


def _chunk_list(value) -> list:
    if isinstance(value, dict):
        value = value.get("chunks", value.get("prompt_chunks", value.get("retriever_chunks")))
    return value if isinstance(value, list) else []


def _span_chunks(span: dict) -> list:
    return _chunk_list(span.get("retriever_chunks")) or _chunk_list(span.get("chunks"))


def _row_chunks(task, item: dict, spans: list) -> list:
    """The task's chunks (what the agent reported), else the row's (``chunks``,
    ``prompt_chunks``, or inside ``trace``), else those of the row's retriever spans."""
    chunks = _chunk_list(task["chunks"])
    if chunks:
        return chunks
    for key in ("chunks", "prompt_chunks"):
        chunks = _chunk_list(item.get(key))
        if chunks:
            return chunks
    trace = item.get("trace")
    if isinstance(trace, dict):
        chunks = _chunk_list(trace.get("chunks")) or _chunk_list(trace.get("prompt_chunks"))
        if chunks:
            return chunks
    return [c for span in spans if isinstance(span, dict) for c in _span_chunks(span)]


def _chunk_dict(chunk, usage: dict | None) -> dict:
    """``APIEvaluationPromptPromptChunk``: text, source and index always (strings); usage
    only when a metric measured it (omitted otherwise)."""
    usage = usage or {}
    if not isinstance(chunk, dict):
        chunk = {"text": chunk}
    pct = usage.get("chunk_usage_pct")
    used = usage.get("chunk_used")
    return {
        "chunk_usage_pct": float(pct) if isinstance(pct, int | float) else None,
        "chunk_used": used if isinstance(used, bool) else None,
        "index_uuid": as_text(chunk.get("index_uuid", chunk.get("index_id"))),
        "source_name": as_text(chunk.get("source_name", chunk.get("source", chunk.get("title")))),
        "text": as_text(chunk.get("text", chunk.get("content", chunk.get("chunk")))),
    }


def _chunk_usage(results: list) -> list[dict]:
    for result in results:
        details = result["details"] if isinstance(result["details"], dict) else {}
        chunks = details.get("chunks")
        if isinstance(chunks, list) and chunks:
            return [c if isinstance(c, dict) else {} for c in chunks]
    return []


def _span_type(raw) -> str:
    raw = str(raw or "").strip()
    if raw in SPAN_TYPE_VALUES:
        return raw
    return SPAN_TYPES.get(raw.lower(), UNKNOWN_SPAN)


def _span_metric_results(results: list[dict], context: RunContext) -> dict[int, list]:
    """Span index -> its ``APIEvaluationMetricResult`` list, in binding order."""
    order = {b.id: b for b in context.bindings}
    by_index: dict[int, list] = {}
    for result in sorted(results, key=lambda r: getattr(order.get(r["binding_id"]), "position", 0)):
        binding = order.get(result["binding_id"])
        if binding is None:
            continue
        by_index.setdefault(result["span_index"], []).append(
            metric_result_dict(
                binding.metric_version.metric,
                {**result, "string_value": None},
                name=context.label(binding),
            )
        )
    return by_index


def _spans(raw: list, chunks: list[dict], span_results: dict | None = None) -> list[dict]:
    span_results = span_results or {}
    spans = []
    retrievers = [s for s in raw if isinstance(s, dict) and _span_type(s.get("type")) == RETRIEVER]
    for index, span in enumerate(raw):
        if not isinstance(span, dict):
            continue
        kind = _span_type(span.get("type"))
        own = _span_chunks(span)
        if kind != RETRIEVER:
            span_chunks = []
        elif own:
            span_chunks = [_chunk_dict(c, None) for c in own]
        else:
            # One retriever and the prompt's chunks: they are what it retrieved.
            span_chunks = chunks if len(retrievers) == 1 else []
        spans.append(
            {
                "created_at": as_text(span.get("created_at")) or None,
                "input": span.get("input"),
                "name": as_text(span.get("name")),
                "output": span.get("output"),
                "retriever_chunks": span_chunks,
                "span_level_metric_results": span_results.get(index, []),
                "type": kind,
            }
        )
    return spans


def _tokens(value) -> str | None:
    return None if value is None else str(value)


def prompt_dict(task: dict, results: list[dict], context: RunContext) -> dict:
    """``APIEvaluationPrompt`` for one task row of ``runs.selectors.run_prompt_rows``: the
    ``prompt_id`` is the item's position + 1 (in a run with several agents, prompts walk
    item by item and agent by agent, and each names its agent)."""
    item = task["data"] if isinstance(task["data"], dict) else {}
    entry = context.entry_by_id.get(task["entry_id"])
    by_binding = {r["binding_id"]: r for r in results}
    metric_results = [
        metric_result_dict(
            binding.metric_version.metric, by_binding[binding.id], name=context.label(binding)
        )
        for binding in context.bindings_of(task["entry_id"])
        if binding.id in by_binding
    ]
    usage = _chunk_usage(results)
    raw_spans = _row_spans(task, item)
    chunks = [
        _chunk_dict(chunk, usage[index] if index < len(usage) else None)
        for index, chunk in enumerate(_row_chunks(task, item, raw_spans))
    ]
    # Dataset-only: the column read as the output is not also the ground truth.
    dataset_only = entry is None or entry.workflow_version_id is None
    output_column = suggest_column(item, "response") if dataset_only else None
    ground_truth = _pick(item, "expected", exclude=(output_column,) if output_column else ())
    workflow = context.workflow_of(entry)
    return compact(
        {
            "agent_name": context.agent_label(entry) if workflow else None,
            "agent_uuid": str(workflow.id) if workflow else None,
            "evaluation_trace_spans": _spans(
                raw_spans, chunks, _span_metric_results(task.get("span_results") or [], context)
            ),
            "ground_truth": as_text(ground_truth),
            "input": _prompt_input(entry, item),
            "input_tokens": _tokens(task["input_tokens"]),
            "output": _prompt_output(entry, task, item),
            "output_tokens": _tokens(task["output_tokens"]),
            "prompt_chunks": chunks,
            "prompt_id": context.prompt_id(task),
            "prompt_level_metric_results": metric_results,
            "trace_id": as_text(item.get("trace_id")) or str(task["id"]),
            # Extra fields (not in Gradient's schema): the row's agent cost in US dollars
            # (omitted when unpriced) and, for runs with repetitions, each metric's value per
            # trial (the metric results above then hold the mean over the trials).
            "cost": task.get("cost"),
            "trials": task.get("trials"),
        }
    )


def star_metric_dict(star: dict | None) -> dict | None:
    if not star:
        return None
    return {
        "metric_uuid": star.get("metric_uuid") or "",
        "name": star.get("name") or "",
        "success_threshold": star.get("success_threshold"),
        "success_threshold_pct": star.get("success_threshold_pct"),
    }


def test_case_dict(
    test_case: EvaluationTestCase,
    *,
    snapshot: dict,
    version: int,
    metrics_by_id: dict,
    dataset,
    released,
    total_runs: int,
    latest_version_runs: int,
) -> dict:
    """``APIEvaluationTestCase`` as of ``snapshot`` (the current one or an older version)."""
    user = test_case.created_by
    columns = released.column_names() if released is not None else []
    dataset_out = None
    if dataset is not None:
        dataset_out = {
            "created_at": _iso(dataset.created_at),
            "dataset_name": dataset.name,
            "dataset_uuid": str(dataset.id),
            "file_size": "0",
            "has_ground_truth": suggest_column(columns, "expected") is not None,
            "row_count": released.row_count if released is not None else 0,
        }
    metrics = [
        metric_dict(metrics_by_id[str(mid)])
        for mid in snapshot.get("metrics") or []
        if str(mid) in metrics_by_id
    ]
    return compact(
        {
            "archived_at": None,
            "created_at": _iso(test_case.created_at),
            "created_by_user_email": user.email if user else "",
            "created_by_user_id": str(user.pk) if user else "",
            "dataset": dataset_out,
            "dataset_name": dataset.name if dataset is not None else "",
            "dataset_uuid": str(dataset.id) if dataset is not None else "",
            "description": snapshot.get("description") or "",
            "latest_version_number_of_runs": latest_version_runs,
            "metrics": metrics,
            "name": snapshot.get("name") or "",
            "star_metric": star_metric_dict(snapshot.get("star_metric")),
            "test_case_uuid": str(test_case.id),
            "total_runs": total_runs,
            "updated_at": _iso(test_case.updated_at),
            "updated_by_user_email": user.email if user else "",
            "updated_by_user_id": str(user.pk) if user else "",
            "version": version,
            "workspace_uuid": str(test_case.project_id),
            # evalsite extra: the options of the runs it starts (repetitions, caps, cache).
            "run_options": dict(snapshot.get("run_options") or {}),
        }
    )
