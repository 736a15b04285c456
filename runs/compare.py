"""Comparing runs on the same dataset version: is the change significant?

Rows are paired by dataset position (the same item in both runs), so each metric's change is
judged on per-row differences: the mean difference with a paired bootstrap confidence
interval (seeded, so the same runs always give the same answer) and a verdict that respects
inverted metrics (lower is better). Also: latency and token differences, and the rows that
regressed or improved the most.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.core.exceptions import ValidationError

from runs.columns import BindingColumn, run_columns
from runs.models import EvaluationRun, MetricResult, RunTask

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20240601
CONFIDENCE = 0.95
MAX_DRAWS_PER_BATCH = 4_000_000
TOP_ROWS = 25
MAX_RUNS = 6


@dataclass
class Delta:
    """A paired difference (other minus baseline) with its confidence interval."""

    n: int
    mean_baseline: float | None = None
    mean_other: float | None = None
    delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None

    @property
    def significant(self) -> bool:
        return (
            self.ci_low is not None
            and self.ci_high is not None
            and (self.ci_low > 0 or self.ci_high < 0)
        )

    def as_dict(self) -> dict:
        return {
            "n": self.n,
            "mean_baseline": self.mean_baseline,
            "mean_other": self.mean_other,
            "delta": self.delta,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "significant": self.significant,
        }


def paired_bootstrap(
    baseline: np.ndarray,
    other: np.ndarray,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> Delta:
    """Mean of ``other - baseline`` with a percentile bootstrap CI over resampled rows."""
    n = int(len(baseline))
    if n == 0:
        return Delta(n=0)
    diffs = np.asarray(other, dtype=float) - np.asarray(baseline, dtype=float)
    delta = Delta(
        n=n,
        mean_baseline=float(np.mean(baseline)),
        mean_other=float(np.mean(other)),
        delta=float(np.mean(diffs)),
    )
    if n < 2:
        return delta
    rng = np.random.default_rng(seed)
    batch = max(1, min(resamples, MAX_DRAWS_PER_BATCH // n))
    means = np.empty(resamples)
    done = 0
    while done < resamples:
        size = min(batch, resamples - done)
        picks = rng.integers(0, n, size=(size, n))
        means[done : done + size] = diffs[picks].mean(axis=1)
        done += size
    tail = (1 - confidence) / 2
    delta.ci_low = float(np.quantile(means, tail))
    delta.ci_high = float(np.quantile(means, 1 - tail))
    if np.all(diffs == diffs[0]):
        delta.p_value = 1.0 if diffs[0] == 0 else 0.0
    else:
        share_up = float(np.mean(means > 0))
        share_down = float(np.mean(means < 0))
        delta.p_value = min(1.0, 2 * min(share_up, share_down) + 1 / resamples)
    return delta


@dataclass
class RowChange:
    position: int
    baseline: float
    other: float
    change: float  # signed so that positive is better


@dataclass
class MetricComparison:
    name: str
    inverted: bool
    agent: str
    baseline_binding: BindingColumn
    other_binding: BindingColumn
    delta: Delta
    regressions: list[RowChange] = field(default_factory=list)
    improvements: list[RowChange] = field(default_factory=list)
    regressed_rows: int = 0
    improved_rows: int = 0

    @property
    def verdict(self) -> str:
        if self.delta.n < 2 or self.delta.delta is None:
            return "not_enough_data"
        if not self.delta.significant:
            return "no_significant_change"
        better = self.delta.delta < 0 if self.inverted else self.delta.delta > 0
        return "improved" if better else "regressed"

    @property
    def verdict_label(self) -> str:
        return {
            "improved": "Significantly better",
            "regressed": "Significantly worse",
            "no_significant_change": "No significant change",
            "not_enough_data": "Not enough paired rows",
        }[self.verdict]


@dataclass
class RunComparison:
    baseline: EvaluationRun
    other: EvaluationRun
    metrics: list[MetricComparison]
    latency: Delta
    input_tokens: Delta
    output_tokens: Delta


@dataclass
class Comparison:
    runs: list[EvaluationRun]
    pairs: list[RunComparison]

    @property
    def baseline(self) -> EvaluationRun:
        return self.runs[0]


def _values_by_position(binding: BindingColumn) -> dict[int, float]:
    rows = MetricResult.objects.filter(
        binding_id=binding.id, number_value__isnull=False, error_description=""
    ).values_list("task__position", "number_value")
    return dict(rows.iterator(chunk_size=5000))


def _task_figures(run: EvaluationRun, field_name: str) -> dict[int, float]:
    """Per dataset position, the first entry's task figure (latency or tokens)."""
    entry = run.entries.order_by("position").values_list("id", flat=True).first()
    rows = RunTask.objects.filter(run=run, entry_id=entry, **{f"{field_name}__isnull": False})
    return dict(rows.values_list("position", field_name).iterator(chunk_size=5000))


def _paired(
    first: dict[int, float], second: dict[int, float]
) -> tuple[list[int], np.ndarray, np.ndarray]:
    positions = sorted(first.keys() & second.keys())
    return (
        positions,
        np.array([first[p] for p in positions], dtype=float),
        np.array([second[p] for p in positions], dtype=float),
    )


def _match_bindings(baseline: list[BindingColumn], other: list[BindingColumn]):
    """Pairs of bindings scoring the same metric for the same agent slot, in column order."""
    remaining = list(other)
    for binding in baseline:
        if not binding.is_numeric:
            continue
        match = next(
            (
                b
                for b in remaining
                if b.metric_id == binding.metric_id and b.entry_position == binding.entry_position
            ),
            None,
        ) or next((b for b in remaining if b.metric_id == binding.metric_id), None)
        if match is not None:
            remaining.remove(match)
            yield binding, match


def _compare_metric(baseline_binding: BindingColumn, other_binding: BindingColumn):
    positions, a, b = _paired(
        _values_by_position(baseline_binding), _values_by_position(other_binding)
    )
    comparison = MetricComparison(
        name=baseline_binding.metric_name,
        inverted=baseline_binding.inverted,
        agent=other_binding.agent_label,
        baseline_binding=baseline_binding,
        other_binding=other_binding,
        delta=paired_bootstrap(a, b),
    )
    if positions:
        signed = (a - b) if baseline_binding.inverted else (b - a)
        comparison.regressed_rows = int(np.sum(signed < 0))
        comparison.improved_rows = int(np.sum(signed > 0))
        order = np.argsort(signed, kind="stable")
        worst = [i for i in order[:TOP_ROWS] if signed[i] < 0]
        best = [i for i in order[::-1][:TOP_ROWS] if signed[i] > 0]
        comparison.regressions = [
            RowChange(positions[i], float(a[i]), float(b[i]), float(signed[i])) for i in worst
        ]
        comparison.improvements = [
            RowChange(positions[i], float(a[i]), float(b[i]), float(signed[i])) for i in best
        ]
    return comparison


def runs_compare(*, project, run_ids: list, baseline_id=None) -> Comparison:
    """Compare the baseline (``baseline_id``, else the earliest run) with each of the others.
    All must belong to ``project`` and share one dataset version; raises ValidationError
    otherwise."""
    ids = list(dict.fromkeys(str(r) for r in run_ids if r))
    if len(ids) < 2:
        raise ValidationError({"runs": ["Pick at least two runs to compare."]})
    if len(ids) > MAX_RUNS:
        raise ValidationError({"runs": [f"Compare at most {MAX_RUNS} runs at once."]})
    try:
        found = {
            str(run.id): run
            for run in EvaluationRun.objects.filter(project=project, id__in=ids).select_related(
                "dataset_version__dataset"
            )
        }
    except ValidationError as exc:
        raise ValidationError({"runs": ["Not a valid run id."]}) from exc
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationError({"runs": ["Unknown run."]})
    # The earliest run is the baseline; the others are the changes being judged.
    runs = sorted((found[i] for i in ids), key=lambda run: (run.queued_at, str(run.id)))
    if baseline_id is not None and str(baseline_id) in found:
        runs.sort(key=lambda run: str(run.id) != str(baseline_id))  # stable: baseline first
    versions = {run.dataset_version_id for run in runs}
    if len(versions) > 1:
        raise ValidationError({"runs": ["Runs can only be compared on the same dataset version."]})
    baseline = runs[0]
    baseline_columns = run_columns(baseline)
    pairs = []
    for other in runs[1:]:
        other_columns = run_columns(other)
        metrics = [
            _compare_metric(a, b)
            for a, b in _match_bindings(baseline_columns.bindings, other_columns.bindings)
        ]
        figures = {}
        for field_name in ("latency_ms", "input_tokens", "output_tokens"):
            _, a, b = _paired(_task_figures(baseline, field_name), _task_figures(other, field_name))
            figures[field_name] = paired_bootstrap(a, b)
        pairs.append(
            RunComparison(
                baseline=baseline,
                other=other,
                metrics=metrics,
                latency=figures["latency_ms"],
                input_tokens=figures["input_tokens"],
                output_tokens=figures["output_tokens"],
            )
        )
    return Comparison(runs=runs, pairs=pairs)
