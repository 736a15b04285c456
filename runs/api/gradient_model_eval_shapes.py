"""Gradient's model evaluation shapes (pydo ``genai.*model_evaluation*``): presets, run
summaries and details, per-row results and the result summary, built from our models.

Pass / fail of one metric result: the star metric passes at the run's threshold; any other
numeric metric at the middle of its range (``range_min``..``range_max``, 0..1 when unset);
``inverted`` metrics pass at or below it. A string result passes when it reads as a yes
(pass, passed, yes, true, correct). A result that could not be computed is a fail; a row
whose candidate call failed (no result) is skipped.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

from django.db.models import Sum

from runs.api.gradient_shapes import as_text, compact, gradient_status, run_error_description
from runs.mapping import suggest_column
from runs.model_evaluations import is_judge, judge_model_name
from runs.models import (
    EvaluationRun,
    MetricBinding,
    MetricResult,
    ModelEvaluationPreset,
    ModelEvaluationRun,
    RunTask,
    TaskStatus,
)

STATUSES = (
    "MODEL_EVALUATION_RUN_STATUS_UNSPECIFIED",
    "MODEL_EVALUATION_RUN_QUEUED",
    "MODEL_EVALUATION_RUN_RUNNING_DATASET",
    "MODEL_EVALUATION_RUN_EVALUATING_RESULTS",
    "MODEL_EVALUATION_RUN_CANCELLING",
    "MODEL_EVALUATION_RUN_CANCELLED",
    "MODEL_EVALUATION_RUN_SUCCESSFUL",
    "MODEL_EVALUATION_RUN_PARTIALLY_SUCCESSFUL",
    "MODEL_EVALUATION_RUN_FAILED",
)
CANDIDATE_TYPES = (
    "CANDIDATE_MODEL_SOURCE_SERVERLESS",
    "CANDIDATE_MODEL_SOURCE_DEDICATED",
    "CANDIDATE_MODEL_SOURCE_ROUTER",
)
PASS_WORDS = {"pass", "passed", "yes", "true", "correct"}
COMPLETED = "EVALUATION_METRIC_RESULT_STATUS_COMPLETED"
FAILED = "EVALUATION_METRIC_RESULT_STATUS_FAILED"
SKIPPED = "EVALUATION_METRIC_RESULT_STATUS_SKIPPED"


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def model_status(run: EvaluationRun) -> str:
    """The agent run status with Gradient's model-run prefix."""
    return gradient_status(run).replace("EVALUATION_RUN_", "MODEL_EVALUATION_RUN_", 1)


def status_filter_values(status: str) -> tuple[str, str | None]:
    """(run status, phase or None) for a ``MODEL_EVALUATION_RUN_*`` value."""
    from runs.models import RunPhase, RunStatus

    return {
        "MODEL_EVALUATION_RUN_QUEUED": (RunStatus.PENDING, None),
        "MODEL_EVALUATION_RUN_RUNNING_DATASET": (RunStatus.RUNNING, RunPhase.RUNNING_DATASET),
        "MODEL_EVALUATION_RUN_EVALUATING_RESULTS": (
            RunStatus.RUNNING,
            RunPhase.EVALUATING_RESULTS,
        ),
        "MODEL_EVALUATION_RUN_CANCELLING": (RunStatus.CANCELLING, None),
        "MODEL_EVALUATION_RUN_CANCELLED": (RunStatus.CANCELED, None),
        "MODEL_EVALUATION_RUN_SUCCESSFUL": (RunStatus.SUCCEEDED, None),
        "MODEL_EVALUATION_RUN_PARTIALLY_SUCCESSFUL": (RunStatus.PARTIALLY_SUCCEEDED, None),
        "MODEL_EVALUATION_RUN_FAILED": (RunStatus.FAILED, None),
    }[status]


# --- metrics ---------------------------------------------------------------------------------


def model_metric_dict(metric, presets: list | None = None) -> dict:
    """``APIEvaluationMetric`` in the model scope, with the user's presets that use it."""
    from metrics.api.gradient import metric_dict
    from metrics.api.gradient_custom import custom_metric_dict

    custom = metric.project_id is not None
    body = custom_metric_dict(metric) if custom and is_judge(metric) else metric_dict(metric)
    body.update(
        evaluation_scope="EVALUATION_SCOPE_MODEL",
        source="EVALUATION_METRIC_SOURCE_CUSTOM" if custom else "EVALUATION_METRIC_SOURCE_BUILTIN",
        associated_presets=[{"eval_preset_uuid": str(p.id), "name": p.name} for p in presets or []],
    )
    return body


# --- presets ---------------------------------------------------------------------------------


def _inference_dict(inference: dict) -> dict:
    return compact(
        {
            "max_tokens": inference.get("max_tokens"),
            "stop_token": inference.get("stop_token"),
            "system_prompt": inference.get("system_prompt"),
            "temperature": inference.get("temperature"),
        }
    )


def _star_dict(star: dict | None) -> dict | None:
    if not star:
        return None
    return compact(
        {
            "metric_uuid": star.get("metric_uuid"),
            "name": star.get("name"),
            "success_threshold": star.get("success_threshold"),
            "success_threshold_pct": star.get("success_threshold_pct"),
        }
    )


def preset_dict(preset: ModelEvaluationPreset, metrics_by_id: dict) -> dict:
    """``apiModelEvaluationPreset``: a section not saved reads as empty strings / lists."""
    candidate = preset.candidate_workflow
    latest = candidate.latest_version() if candidate is not None else None
    inference = dict(preset.inference_config or {})
    if preset.system_prompt:
        inference["system_prompt"] = preset.system_prompt
    judge = preset.judge_metric
    metrics = [metrics_by_id[str(m)] for m in preset.metrics or [] if str(m) in metrics_by_id]
    return compact(
        {
            "candidate_inference_config": _inference_dict(inference),
            "candidate_model_name": str((latest.config or {}).get("model") or "") if latest else "",
            "candidate_model_source": preset.candidate_model_source or None,
            "candidate_model_uuid": str(candidate.id) if candidate else "",
            "candidate_system_prompt": preset.system_prompt,
            "created_at": _iso(preset.created_at),
            "dataset_name": preset.dataset.name if preset.dataset else "",
            "dataset_uuid": str(preset.dataset_id) if preset.dataset_id else "",
            "eval_preset_uuid": str(preset.id),
            "judge_model_name": judge_model_name(judge) if judge else "",
            "judge_model_uuid": str(judge.id) if judge else "",
            "metrics": [model_metric_dict(m, [preset]) for m in metrics],
            "name": preset.name,
            "saved_sections": list(preset.saved_sections or []),
            "star_metric": _star_dict(preset.star_metric),
            # Extra field: the workspace (project) the preset belongs to.
            "workspace_uuid": str(preset.project_id),
        }
    )


# --- runs ------------------------------------------------------------------------------------


def _progress(run: EvaluationRun) -> dict:
    repetitions = max(1, run.repetitions)
    total_rows = run.dataset_version.row_count
    return {
        "candidate_rows_evaluated": min(total_rows, run.done_tasks // repetitions),
        "judge_rows_evaluated": min(total_rows, run.succeeded_tasks // repetitions),
        "total_rows": total_rows,
    }


def run_summary_dict(model_run: ModelEvaluationRun) -> dict:
    """``apiModelEvaluationRunSummary``."""
    run = model_run.run
    candidate = model_run.candidate_workflow
    judge = model_run.judge_metric
    dataset = run.dataset_version.dataset
    return compact(
        {
            "candidate_model_name": model_run.candidate_model_name
            or (candidate.name if candidate else ""),
            "candidate_model_source": model_run.candidate_model_source or None,
            "candidate_model_uuid": str(model_run.candidate_workflow_id or ""),
            "created_at": _iso(run.queued_at),
            "dataset_name": dataset.name,
            "dataset_uuid": str(dataset.id),
            "eval_run_uuid": str(run.id),
            "judge_model_name": judge_model_name(judge) if judge else "",
            "judge_model_uuid": str(judge.id) if judge else "",
            "name": run.name,
            "progress": _progress(run),
            "status": model_status(run),
            # Extra field: the workspace (project) the run belongs to.
            "workspace_uuid": str(run.project_id),
        }
    )


def _bindings(run: EvaluationRun) -> list[MetricBinding]:
    return list(
        MetricBinding.objects.filter(run=run)
        .select_related("metric_version__metric")
        .order_by("position")
    )


def _threshold(binding: MetricBinding, run: EvaluationRun) -> float:
    metric = binding.metric_version.metric
    if binding.id == run.star_binding_id and run.star_threshold is not None:
        return run.star_threshold
    low = metric.range_min if metric.range_min is not None else 0.0
    high = metric.range_max if metric.range_max is not None else 1.0
    return (low + high) / 2


def _passes(result: dict, threshold: float, inverted: bool) -> bool:
    if result["error_description"]:
        return False
    number = result["number_value"]
    if number is not None:
        return number <= threshold if inverted else number >= threshold
    return str(result["string_value"] or "").strip().lower() in PASS_WORDS


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 4) if whole else 0.0


def _latency(values: list[float]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)

    def quantile(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return {
        "avg_e2e_latency_ms": round(statistics.fmean(ordered), 3),
        "max_e2e_latency_ms": ordered[-1],
        "min_e2e_latency_ms": ordered[0],
        "p50_latency_ms": quantile(0.5),
        "p90_latency_ms": quantile(0.9),
        "p95_latency_ms": quantile(0.95),
    }


def result_summary_dict(model_run: ModelEvaluationRun) -> dict:
    """``apiModelEvaluationResultSummary`` over every (row, epoch) of the run."""
    run = model_run.run
    bindings = _bindings(run)
    tasks = {
        t["id"]: t
        for t in RunTask.objects.filter(run=run)
        .order_by()
        .values("id", "position", "trial", "status", "latency_ms", "input_tokens", "output_tokens")
    }
    results: dict = defaultdict(dict)  # binding id -> task id -> result
    for row in (
        MetricResult.objects.filter(run=run)
        .order_by()
        .values("task_id", "binding_id", "number_value", "string_value", "error_description")
    ):
        results[row["binding_id"]][row["task_id"]] = row
    scored_tasks = [t for t in tasks.values() if t["status"] == TaskStatus.SUCCEEDED]
    summaries = []
    passed: dict = {}  # binding id -> {(position, trial): bool}
    for binding in bindings:
        metric = binding.metric_version.metric
        threshold = _threshold(binding, run)
        outcome = {}
        for task in scored_tasks:
            result = results[binding.id].get(task["id"])
            if result is not None:
                outcome[(task["position"], task["trial"])] = _passes(
                    result, threshold, metric.inverted
                )
        passed[binding.id] = outcome
        passes = sum(outcome.values())
        fails = len(outcome) - passes
        skipped = max(0, len(tasks) - len(outcome))
        seen = passes + fails + skipped
        summary = {
            "description": metric.description,
            "fail_count": fails,
            "fail_percent": _percent(fails, seen),
            "metric_name": metric.name,
            "metric_uuid": str(metric.id),
            "pass_count": passes,
            "pass_percent": _percent(passes, seen),
            "skip_percent": _percent(skipped, seen),
            "skipped_count": skipped,
        }
        if run.repetitions > 1:
            epoch = _epoch_summary(outcome, run.repetitions)
            summary.update(
                avg_at_k_percent=epoch["avg_at_k_percent"],
                cons_at_k_percent=epoch["cons_at_k_percent"],
                pass_at_k_percent=epoch["pass_at_k_percent"],
            )
        summaries.append(summary)
    star = next((b for b in bindings if b.id == run.star_binding_id), None)
    if star is not None:
        overall = next(
            s["pass_percent"]
            for s in summaries
            if s["metric_uuid"] == str(star.metric_version.metric_id)
        )
    else:
        overall = (
            round(statistics.fmean(s["pass_percent"] for s in summaries), 4) if summaries else 0.0
        )
    candidate_in = sum(t["input_tokens"] or 0 for t in tasks.values())
    candidate_out = sum(t["output_tokens"] or 0 for t in tasks.values())
    judge_tokens = max(0, run.tokens_used - candidate_in - candidate_out)
    candidate_cost = RunTask.objects.filter(run=run).aggregate(c=Sum("cost"))["c"] or 0.0
    judge_cost = MetricResult.objects.filter(run=run).aggregate(c=Sum("cost"))["c"] or 0.0
    body = {
        "end_time": _iso(run.finished_at),
        "epochs": run.repetitions,
        "metric_summaries": summaries,
        "overall_score_percent": overall,
        "performance_metrics": {
            "candidate_latency": _latency(
                [t["latency_ms"] for t in scored_tasks if t["latency_ms"] is not None]
            ),
            "token_usage": {
                "total_candidate_input_tokens": str(candidate_in),
                "total_candidate_output_tokens": str(candidate_out),
                "total_candidate_tokens": str(candidate_in + candidate_out),
                "total_judge_tokens": str(judge_tokens),
            },
        },
        "pricing": {
            "currency": "USD",
            "judge_model_pricing": {"total_cost": round(judge_cost, 6)},
            "per_candidate_model_pricing": [
                {
                    "model_name": model_run.candidate_model_name,
                    "model_uuid": str(model_run.candidate_workflow_id or ""),
                    "pricing": {"total_cost": round(candidate_cost, 6)},
                }
            ],
        },
        "start_time": _iso(run.started_at),
    }
    if run.repetitions > 1:
        goal = star or (bindings[0] if bindings else None)
        if goal is not None:
            body["epoch_summary"] = _epoch_summary(passed[goal.id], run.repetitions)
    return compact(body)


def _epoch_summary(outcome: dict, epochs: int) -> dict:
    """avg@k / pass@k / cons@k over rows (k = epochs) from {(position, trial): passed}."""
    rows: dict = defaultdict(dict)
    for (position, trial), ok in outcome.items():
        rows[position][trial] = ok
    scored = [r for r in rows.values() if r]
    per_epoch = []
    for trial in range(epochs):
        values = [r[trial] for r in rows.values() if trial in r]
        per_epoch.append(
            {
                "epoch": trial + 1,
                "overall_score_percent": _percent(sum(values), len(values)),
                "rows_scored": len(values),
            }
        )
    scores = [p["overall_score_percent"] for p in per_epoch]
    avg = statistics.fmean(sum(r.values()) / len(r) for r in scored) if scored else 0.0
    return {
        "avg_at_k_percent": round(100.0 * avg, 4),
        "cons_at_k_percent": _percent(
            sum(sum(r.values()) * 2 > len(r) for r in scored), len(scored)
        ),
        "epochs": epochs,
        "pass_at_k_percent": _percent(sum(any(r.values()) for r in scored), len(scored)),
        "per_epoch": per_epoch,
        "rows_excluded": max(0, len(rows) - len(scored)),
        "rows_scored": len(scored),
        "score_stddev_percent": round(statistics.pstdev(scores), 4) if scores else 0.0,
    }


def finished_summary(model_run: ModelEvaluationRun) -> dict | None:
    """The result summary of a finished run, computed once per finish."""
    run = model_run.run
    if not run.is_finished:
        return None
    if model_run.result_summary is None or model_run.summarized_finish != run.finished_at:
        model_run.result_summary = result_summary_dict(model_run)
        model_run.summarized_finish = run.finished_at
        ModelEvaluationRun.objects.filter(pk=model_run.pk).update(
            result_summary=model_run.result_summary, summarized_finish=run.finished_at
        )
    return model_run.result_summary


def run_detail_dict(model_run: ModelEvaluationRun) -> dict:
    """``apiModelEvaluationRunDetail``."""
    run = model_run.run
    body = run_summary_dict(model_run)
    metrics = [b.metric_version.metric for b in _bindings(run)]
    star_id = run.star_binding.metric_version.metric_id if run.star_binding_id else None
    preset = model_run.preset
    body.update(
        compact(
            {
                "candidate_inference_config": _inference_dict(model_run.inference_config or {}),
                "completed_at": _iso(run.finished_at),
                "epochs": run.repetitions,
                "error_description": run_error_description(run),
                "eval_preset_name": preset.name if preset else "",
                "eval_preset_uuid": str(preset.id) if preset else "",
                "metrics": [
                    {**model_metric_dict(m), "is_metric_goal": m.id == star_id} for m in metrics
                ],
                "result_summary": finished_summary(model_run),
                "started_at": _iso(run.started_at),
            }
        )
    )
    return body


# --- per-row results -------------------------------------------------------------------------


def _metric_results(bindings, by_binding: dict) -> list[dict]:
    found = []
    for binding in bindings:
        metric = binding.metric_version.metric
        result = by_binding.get(binding.id)
        body = {
            "metric_name": metric.name,
            "metric_uuid": str(metric.id),
            "metric_value_type": metric.value_type,
        }
        if result is None:
            body["status"] = SKIPPED
        elif result["error_description"]:
            body.update(error_description=result["error_description"], status=FAILED)
        else:
            body.update(
                number_value=result["number_value"],
                reasoning=result["reasoning"] or "",
                status=COMPLETED,
                string_value=result["string_value"],
            )
        found.append(compact(body))
    return found


def _row_input(selector: dict, item: dict) -> str:
    values = [
        item.get(str(s).removeprefix("$.dataset."))
        for s in (selector or {}).values()
        if str(s).startswith("$.dataset.")
    ]
    if len(values) == 1:
        return as_text(values[0])
    picked = suggest_column(list(item), "question")
    return as_text(item.get(picked) if picked else item)


def _output(task: dict) -> str:
    if task["status"] != TaskStatus.SUCCEEDED:
        return ""
    outputs = task["outputs"] or {}
    if len(outputs) == 1:
        return as_text(next(iter(outputs.values())))
    picked = suggest_column(list(outputs), "response")
    return as_text(outputs.get(picked) if picked else outputs)


def row_results(model_run: ModelEvaluationRun, *, start: int, stop: int) -> list[dict]:
    """``apiModelEvaluationPromptResult`` for the dataset rows at positions [start, stop):
    one per row; with epochs > 1 the top level is epoch 1 and ``epoch_results`` has every
    pass."""
    run = model_run.run
    bindings = _bindings(run)
    entry = run.entries.first()
    tasks = list(
        RunTask.objects.filter(run=run, position__gte=start, position__lt=stop)
        .order_by("position", "trial", "id")
        .values("id", "position", "trial", "status", "outputs", "error", "item__data")
    )
    by_task: dict = defaultdict(dict)
    for row in (
        MetricResult.objects.filter(task_id__in=[t["id"] for t in tasks])
        .order_by()
        .values(
            "task_id",
            "binding_id",
            "number_value",
            "string_value",
            "reasoning",
            "error_description",
        )
    ):
        by_task[row["task_id"]][row["binding_id"]] = row
    rows: dict = defaultdict(list)
    for task in tasks:
        rows[task["position"]].append(task)
    found = []
    for position in sorted(rows):
        passes = rows[position]
        first = passes[0]
        item = first["item__data"] if isinstance(first["item__data"], dict) else {}
        expected = suggest_column(list(item), "expected")
        body = {
            "candidate_model_name": model_run.candidate_model_name,
            "candidate_model_uuid": str(model_run.candidate_workflow_id or ""),
            "ground_truth": as_text(item.get(expected)) if expected else "",
            "input": _row_input(entry.input_selector if entry else {}, item),
            "metric_results": _metric_results(bindings, by_task[first["id"]]),
            "output": _output(first),
            "row_number": position + 1,
        }
        if first["status"] == TaskStatus.FAILED and first["error"]:
            # Extra field: why the candidate call failed.
            body["error_description"] = first["error"]
        if run.repetitions > 1:
            body["epoch"] = 1
            body["epoch_results"] = {
                f"epoch{task['trial'] + 1}": {
                    "metric_results": _metric_results(bindings, by_task[task["id"]]),
                    "output": _output(task),
                }
                for task in passes
            }
        found.append(body)
    return found
