"""Repetitions: a run executes every row x entry ``repetitions`` times (one task per trial)
and each metric scores each trial. These functions turn trials into per-row and run-level
figures; every read (results table, drawer, downloads, both APIs, comparisons) uses them.

Per row and metric: ``mean``, ``stddev`` (sample, n-1; 0 for one value), ``min``, ``max``
over the trials that have a value, ``trials`` and ``scored``; for a metric with a pass
threshold (the run's star metric): ``passed`` (trials passing), ``pass_at_k`` (at least
one of the k trials passes) and ``pass_all_k`` (pass^k: all k pass). A trial without a value
(its metric errored, or its agent call failed) counts as not passing.

Run level: ``mean`` of the row means with a 95% confidence interval (Student's t over the
row means), ``mean_stddev`` (average spread within a row), and for a thresholded metric
``pass_at_k``/``pass_all_k`` (share of rows) and ``consistency``: the share of rows whose
trials all agree (all pass or all fail).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

from metrics.aggregation import passes

# Two-sided 95% Student's t quantiles for 1..30 degrees of freedom; the normal 1.96 after.
_T95 = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
]  # fmt: skip


def t95(degrees: int) -> float:
    if degrees < 1:
        return math.nan
    return _T95[degrees - 1] if degrees <= len(_T95) else 1.96


def row_stats(values: list, *, threshold: float | None = None, inverted: bool = False) -> dict:
    """Figures of one row's trials; ``values`` holds one entry per trial (None: no value)."""
    numbers = [
        float(v)
        for v in values
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    ]
    stats: dict = {"trials": len(values), "scored": len(numbers)}
    if numbers:
        stats.update(
            mean=statistics.fmean(numbers),
            stddev=statistics.stdev(numbers) if len(numbers) > 1 else 0.0,
            min=min(numbers),
            max=max(numbers),
        )
    else:
        stats.update(mean=None, stddev=None, min=None, max=None)
    if threshold is not None:
        passed = sum(1 for v in values if passes(v, threshold=threshold, inverted=inverted))
        stats.update(
            passed=passed,
            pass_at_k=passed > 0,
            pass_all_k=bool(values) and passed == len(values),
        )
    return stats


def run_stats(rows: list[dict], *, thresholded: bool) -> dict:
    """Run-level figures from the rows' ``row_stats``."""
    means = [r["mean"] for r in rows if r.get("mean") is not None]
    out: dict = {"rows": len(rows), "mean": None, "ci95": None, "mean_stddev": None}
    if means:
        mean = statistics.fmean(means)
        out["mean"] = mean
        if len(means) > 1:
            half = t95(len(means) - 1) * statistics.stdev(means) / math.sqrt(len(means))
            out["ci95"] = [mean - half, mean + half]
        else:
            out["ci95"] = [mean, mean]
        spreads = [r["stddev"] for r in rows if r.get("stddev") is not None]
        out["mean_stddev"] = statistics.fmean(spreads) if spreads else None
    if thresholded and rows:
        n = len(rows)
        out["pass_at_k"] = sum(1 for r in rows if r.get("pass_at_k")) / n
        out["pass_all_k"] = sum(1 for r in rows if r.get("pass_all_k")) / n
        out["consistency"] = sum(1 for r in rows if r.get("passed") in (0, r.get("trials"))) / n
    return out


def binding_trials(binding_id, *, entry_id, run_id, not_run_prefix: str) -> dict:
    """{item id: {trial: value or None}} for one binding: every trial that was run (tasks
    not run because a cap was reached are left out), with None where there is no value."""
    from runs.models import MetricResult, RunTask

    trials: dict = defaultdict(dict)
    tasks = (
        RunTask.objects.filter(run_id=run_id, entry_id=entry_id)
        .exclude(error__startswith=not_run_prefix)
        .values_list("id", "item_id", "trial")
    )
    by_task = {}
    for task_id, item_id, trial in tasks.iterator(chunk_size=10_000):
        trials[item_id][trial] = None
        by_task[task_id] = (item_id, trial)
    results = MetricResult.objects.filter(binding_id=binding_id, error_description="").values_list(
        "task_id", "number_value", "string_value"
    )
    for task_id, number, string in results.iterator(chunk_size=10_000):
        place = by_task.get(task_id)
        if place is not None:
            trials[place[0]][place[1]] = number if number is not None else string
    return trials


def repetition_summary(run, binding, *, metric, threshold: float | None) -> dict:
    """The run-level repetition figures of one binding (stored in the run's summaries)."""
    from runs.engine.budget import NOT_RUN_PREFIX

    trials = binding_trials(
        binding.id, entry_id=binding.entry_id, run_id=run.id, not_run_prefix=NOT_RUN_PREFIX
    )
    rows = [
        row_stats(
            [by_trial[t] for t in sorted(by_trial)],
            threshold=threshold if metric.is_numeric else None,
            inverted=metric.inverted,
        )
        for by_trial in trials.values()
    ]
    summary = run_stats(rows, thresholded=threshold is not None and metric.is_numeric)
    summary["repetitions"] = run.repetitions
    return summary


def merge_prompt_trials(rows: list[tuple], *, repetitions: int) -> list[tuple]:
    """The Gradient dialect's prompts are rows, not trials: one ``(task, results)`` per
    position, where each metric's ``number_value`` is the mean over the row's trials (its
    ``reasoning`` says so), a metric errored only when no trial has a value, tokens and
    cost are summed, and ``task["trials"]`` keeps each trial's values (the extra
    ``trials`` field of the prompt)."""
    by_position: dict[int, list[tuple]] = {}
    for task, results in rows:
        by_position.setdefault(task["position"], []).append((task, results))
    merged = []
    for position in sorted(by_position):
        group = sorted(by_position[position], key=lambda pair: pair[0].get("trial", 0))
        base = dict(group[0][0])
        per_binding: dict = {}
        for task, results in group:
            for result in results:
                per_binding.setdefault(result["binding_id"], []).append((task, result))
        out = []
        trial_values: dict[str, list] = {}
        for binding_id, pairs in per_binding.items():
            numbers = [r["number_value"] for _, r in pairs if not r["error_description"]]
            numbers = [n for n in numbers if n is not None]
            first = dict(pairs[0][1])
            values = [None] * repetitions
            for task, result in pairs:
                index = task.get("trial", 0)
                if 0 <= index < repetitions and not result["error_description"]:
                    values[index] = (
                        result["number_value"]
                        if result["number_value"] is not None
                        else result["string_value"]
                    )
            trial_values[str(binding_id)] = values
            if numbers:
                stats = row_stats(values)
                first.update(
                    number_value=stats["mean"],
                    error_description="",
                    reasoning=f"Mean of {stats['scored']} of {repetitions} trials "
                    f"(stddev {stats['stddev']:.4g}, min {stats['min']:.4g}, "
                    f"max {stats['max']:.4g}).",
                )
            out.append(first)
        for key in ("input_tokens", "output_tokens"):
            counts = [t.get(key) for t, _ in group if t.get(key) is not None]
            base[key] = sum(counts) if counts else None
        costs = [t.get("cost") for t, _ in group if t.get("cost") is not None]
        base["cost"] = sum(costs) if costs else None
        base["trials"] = trial_values
        merged.append((base, out))
    return merged
