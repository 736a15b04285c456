"""Comparing runs on the same dataset version: is the change significant?

Rows are paired by dataset position (the same item in both runs), so each metric's change is
judged on the per-row differences ``d_i = other_i - baseline_i`` of the rows both runs scored
(errored or missing values leave a row out of the pair).

The test (the same for every metric and for latency and tokens):

- **Paired sign-flip permutation test** of "no change" on the mean difference. Under the null
  hypothesis each difference is as likely to have the opposite sign, so the null distribution
  of ``T = sum(d_i)`` is that of ``sum(s_i * d_i)`` over sign vectors ``s`` in {-1, +1}^n. The
  two-sided p-value is the share of sign vectors with ``|sum(s_i d_i)| >= |T|`` (a relative
  tolerance of 1e-9 treats float round-off as a tie). Zero differences are handled exactly:
  they add nothing to ``T`` or to any flipped sum, so a run where 1 of 40 rows improved gets
  p = 1, not p ~ 0.
- **Exact** when n <= 16 (all 2^n sign vectors). Otherwise **Monte Carlo**: 9,999 random sign
  vectors from a fixed seed plus the observed one, so p >= 1/10,000 and the same runs always
  give the same answer. Rows with equal differences are drawn together (a binomial count of
  flipped signs per group), which is the same distribution and keeps 100,000-row runs of
  0/1-valued metrics cheap. When that would still exceed the work budget (more than
  5,000 rows in groups of at most 32 equal differences, i.e. thousands of distinct
  differences, where the central limit theorem is accurate) the
  **normal approximation** of the same sign-flip distribution is used:
  ``z = sum(d) / sqrt(sum(d^2))``.
- **Confidence interval** (95%): the shifts ``mu`` the same test does not reject, i.e. the
  ``mu`` with ``p(d - mu) > 0.05`` (test inversion with the same sign vectors). So the
  interval excludes 0 exactly when p <= 0.05: the p-value and the interval always agree.
- **Verdict**: "Not enough paired rows" below MIN_PAIRED_ROWS (10) paired rows — with fewer
  rows the exact test rarely can reach 0.05 (never below 6 rows) and a handful of rows says
  little about a dataset; otherwise significantly better/worse when p <= 0.05 (respecting
  inverted metrics, where lower is better), else "No significant change".
- **Effect size**: the mean difference, and Cohen's d_z = mean(d) / sd(d) (sample standard
  deviation of the differences; none when it is 0).

Also: latency and token differences, and the rows that regressed or improved the most.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import product
from statistics import NormalDist

import numpy as np
from django.core.exceptions import ValidationError
from django.db.models import Avg

from runs.columns import BindingColumn, run_columns
from runs.models import EvaluationRun, MetricResult, RunTask

ALPHA = 0.05
CONFIDENCE = 1 - ALPHA
MIN_PAIRED_ROWS = 10
EXACT_MAX_ROWS = 16
PERMUTATIONS = 9_999
PERMUTATION_SEED = 20240601
SMALL_GROUP = 32  # groups of equal differences up to this size are flipped sign by sign
MAX_SIGN_COLUMNS = 5_000  # beyond this the normal approximation is used
TIE_TOLERANCE = 1e-9
TOP_ROWS = 25
MAX_RUNS = 6

EXACT = "exact"
MONTE_CARLO = "monte_carlo"
NORMAL = "normal_approximation"
TEST_NAMES = {
    EXACT: "Paired sign-flip permutation test (exact)",
    MONTE_CARLO: f"Paired sign-flip permutation test (Monte Carlo, {PERMUTATIONS:,} flips)",
    NORMAL: "Paired sign-flip permutation test (normal approximation)",
}
TEST_SHORT_NAMES = {
    EXACT: "sign-flip, exact",
    MONTE_CARLO: "sign-flip, Monte Carlo",
    NORMAL: "sign-flip, normal approx.",
}


@dataclass
class Delta:
    """A paired difference (other minus baseline): mean, test, interval and effect size."""

    n: int
    mean_baseline: float | None = None
    mean_other: float | None = None
    delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    effect_size: float | None = None  # Cohen's d_z
    method: str | None = None
    min_rows: int = MIN_PAIRED_ROWS

    @property
    def enough_rows(self) -> bool:
        return self.n >= self.min_rows

    @property
    def significant(self) -> bool:
        return self.enough_rows and self.p_value is not None and self.p_value <= ALPHA

    @property
    def test(self) -> str:
        return TEST_NAMES.get(self.method or "", "No test (fewer than 2 paired rows)")

    @property
    def test_short(self) -> str:
        return TEST_SHORT_NAMES.get(self.method or "", "no test")

    def as_dict(self) -> dict:
        return {
            "n": self.n,
            "mean_baseline": self.mean_baseline,
            "mean_other": self.mean_other,
            "delta": self.delta,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": CONFIDENCE,
            "p_value": self.p_value,
            "effect_size_dz": self.effect_size,
            "test": self.test,
            "method": self.method,
            "min_paired_rows": self.min_rows,
            "enough_rows": self.enough_rows,
            "significant": self.significant,
        }


@lru_cache(maxsize=EXACT_MAX_ROWS)
def _all_signs(n: int) -> np.ndarray:
    """Every sign vector in {-1, +1}^n, one per row (read-only, shared)."""
    signs = np.array(list(product((1.0, -1.0), repeat=n)))
    signs.setflags(write=False)
    return signs


class _SignFlipNull:
    """The sign-flip null distribution of ``sum(s_i (d_i - mu))`` for any shift ``mu``: with
    ``a = sum(s_i d_i)`` and ``b = sum(s_i)`` per sign vector it is ``a - mu * b``."""

    def __init__(self, diffs: np.ndarray, seed: int):
        self.diffs = diffs
        self.n = len(diffs)
        self.total = float(diffs.sum())
        self.scale = float(np.abs(diffs).sum())
        if self.n <= EXACT_MAX_ROWS:
            self.method = EXACT
            signs = _all_signs(self.n)
            self.a, self.b = signs @ diffs, signs.sum(axis=1)
            return
        values, inverse, counts = np.unique(diffs, return_inverse=True, return_counts=True)
        small = counts[inverse] <= SMALL_GROUP
        big_values, big_counts = values[counts > SMALL_GROUP], counts[counts > SMALL_GROUP]
        if int(small.sum()) > MAX_SIGN_COLUMNS:
            self.method = NORMAL
            return
        self.method = MONTE_CARLO
        rng = np.random.default_rng(seed)
        singles = diffs[small]
        a = np.empty(PERMUTATIONS + 1)
        b = np.empty(PERMUTATIONS + 1)
        a[0], b[0] = self.total, float(self.n)  # the observed signs
        batch = max(1, 2_000_000 // max(1, len(singles) + len(big_values)))
        done = 0
        while done < PERMUTATIONS:
            size = min(batch, PERMUTATIONS - done)
            rows = slice(1 + done, 1 + done + size)
            flips = rng.integers(0, 2, size=(size, len(singles)), dtype=np.int8) * 2 - 1
            a[rows] = flips @ singles
            b[rows] = flips.sum(axis=1, dtype=np.int64)
            if len(big_values):
                plus = rng.binomial(big_counts, 0.5, size=(size, len(big_values)))
                net = 2 * plus - big_counts  # (+1 signs) - (-1 signs) per group
                a[rows] += net @ big_values
                b[rows] += net.sum(axis=1)
            done += size
        self.a, self.b = a, b

    def p_value(self, mu: float = 0.0) -> float:
        observed = abs(self.total - self.n * mu)
        if self.method == NORMAL:
            spread = math.sqrt(float(np.sum((self.diffs - mu) ** 2)))
            if spread == 0:
                return 1.0
            return math.erfc(observed / spread / math.sqrt(2))
        tolerance = TIE_TOLERANCE * (self.scale + self.n * abs(mu))
        return float(np.mean(np.abs(self.a - mu * self.b) >= observed - tolerance))

    def interval(self) -> tuple[float | None, float | None]:
        mean = self.total / self.n
        if self.method == NORMAL:
            z = NormalDist().inv_cdf(1 - ALPHA / 2)
            spread = float(np.sum((self.diffs - mean) ** 2))
            if self.n * (self.n - z * z) <= 0:
                return None, None
            half = z * math.sqrt(spread / (self.n * (self.n - z * z)))
            return mean - half, mean + half
        # Outside [min, max] every shifted difference has one sign: the most extreme case.
        smallest, largest = float(self.diffs.min()), float(self.diffs.max())
        margin = max(largest - smallest, abs(mean), 1e-12)
        low, high = smallest - margin, largest + margin
        if self.p_value(low) > ALPHA or self.p_value(high) > ALPHA:
            return None, None  # too few rows: no shift can be rejected
        return self._edge(low, mean), self._edge(high, mean)

    def _edge(self, rejected: float, accepted: float) -> float:
        """Bisect between a rejected shift and an accepted one; returns the accepted side."""
        for _ in range(60):
            middle = (rejected + accepted) / 2
            if middle in (rejected, accepted):
                break
            if self.p_value(middle) > ALPHA:
                accepted = middle
            else:
                rejected = middle
        return accepted


def paired_difference(
    baseline: np.ndarray, other: np.ndarray, *, seed: int = PERMUTATION_SEED
) -> Delta:
    """The mean of ``other - baseline`` with the module's sign-flip test, interval and d_z."""
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
    sd = float(np.std(diffs, ddof=1))
    delta.effect_size = delta.delta / sd if sd > 0 else None
    null = _SignFlipNull(diffs, seed)
    delta.method = null.method
    delta.p_value = min(1.0, null.p_value(0.0))
    delta.ci_low, delta.ci_high = null.interval()
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
        if not self.delta.enough_rows or self.delta.p_value is None:
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

    def as_dict(self) -> dict:
        return {
            "metric": {
                "id": str(self.baseline_binding.metric_id),
                "name": self.name,
                "baseline_version": self.baseline_binding.metric_version_number,
                "other_version": self.other_binding.metric_version_number,
                "inverted": self.inverted,
            },
            "agent": self.agent,
            "verdict": self.verdict,
            "verdict_label": self.verdict_label,
            **self.delta.as_dict(),
            "improved_rows": self.improved_rows,
            "regressed_rows": self.regressed_rows,
            "regressions": [vars(r) for r in self.regressions],
            "improvements": [vars(r) for r in self.improvements],
        }


@dataclass
class RunComparison:
    baseline: EvaluationRun
    other: EvaluationRun
    metrics: list[MetricComparison]
    latency: Delta
    input_tokens: Delta
    output_tokens: Delta
    cost: Delta | None = None  # the agent call's cost per row

    @property
    def total_cost(self) -> dict:
        """Each run's whole spend (agent and judge calls) and the change."""
        a, b = self.baseline.cost_used, self.other.cost_used
        return {"baseline": a, "other": b, "delta": b - a}

    def as_dict(self) -> dict:
        return {
            "baseline": {"id": str(self.baseline.id), "name": self.baseline.name},
            "other": {"id": str(self.other.id), "name": self.other.name},
            "dataset_version_id": str(self.baseline.dataset_version_id),
            "test": {
                "name": "Paired sign-flip permutation test of the mean per-row difference",
                "alpha": ALPHA,
                "confidence": CONFIDENCE,
                "min_paired_rows": MIN_PAIRED_ROWS,
                "exact_up_to_rows": EXACT_MAX_ROWS,
                "monte_carlo_permutations": PERMUTATIONS,
                "seed": PERMUTATION_SEED,
            },
            "metrics": [m.as_dict() for m in self.metrics],
            "latency_ms": self.latency.as_dict(),
            "input_tokens": self.input_tokens.as_dict(),
            "output_tokens": self.output_tokens.as_dict(),
            "cost": self.cost.as_dict() if self.cost is not None else None,
            "total_cost": self.total_cost,
        }


@dataclass
class Comparison:
    runs: list[EvaluationRun]
    pairs: list[RunComparison]

    min_rows: int = MIN_PAIRED_ROWS
    permutations: str = f"{PERMUTATIONS:,}"

    @property
    def baseline(self) -> EvaluationRun:
        return self.runs[0]


def _values_by_position(binding: BindingColumn) -> dict[int, float]:
    """Per dataset position, the binding's value: the mean over the row's trials (a run with
    repetitions pairs rows by their trial means; one trial is its own mean)."""
    rows = (
        MetricResult.objects.filter(
            binding_id=binding.id, number_value__isnull=False, error_description=""
        )
        .order_by()
        .values_list("task__position")
        .annotate(mean=Avg("number_value"))
        .values_list("task__position", "mean")
    )
    return dict(rows.iterator(chunk_size=5000))


def _task_figures(run: EvaluationRun, field_name: str) -> dict[int, float]:
    """Per dataset position, the first entry's task figure (latency, tokens or cost),
    averaged over the row's trials."""
    entry = run.entries.order_by("position").values_list("id", flat=True).first()
    rows = (
        RunTask.objects.filter(run=run, entry_id=entry, **{f"{field_name}__isnull": False})
        .order_by()
        .values_list("position")
        .annotate(mean=Avg(field_name))
        .values_list("position", "mean")
    )
    return dict(rows.iterator(chunk_size=5000))


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
        delta=paired_difference(a, b),
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


def _load_runs(project, ids: list[str]) -> dict[str, EvaluationRun]:
    try:
        found = {
            str(run.id): run
            for run in EvaluationRun.objects.filter(project=project, id__in=ids).select_related(
                "dataset_version__dataset"
            )
        }
    except ValidationError as exc:
        raise ValidationError({"runs": ["Not a valid run id."]}) from exc
    if any(i not in found for i in ids):
        raise ValidationError({"runs": ["Unknown run."]})
    if len({run.dataset_version_id for run in found.values()}) > 1:
        raise ValidationError({"runs": ["Runs can only be compared on the same dataset version."]})
    return found


def _compare_pair(baseline: EvaluationRun, other: EvaluationRun, baseline_columns=None):
    baseline_columns = baseline_columns or run_columns(baseline)
    other_columns = run_columns(other)
    metrics = [
        _compare_metric(a, b)
        for a, b in _match_bindings(baseline_columns.bindings, other_columns.bindings)
    ]
    figures = {}
    for field_name in ("latency_ms", "input_tokens", "output_tokens", "cost"):
        _, a, b = _paired(_task_figures(baseline, field_name), _task_figures(other, field_name))
        figures[field_name] = paired_difference(a, b)
    return RunComparison(
        baseline=baseline,
        other=other,
        metrics=metrics,
        latency=figures["latency_ms"],
        input_tokens=figures["input_tokens"],
        output_tokens=figures["output_tokens"],
        cost=figures["cost"],
    )


def runs_compare(*, project, run_ids: list) -> Comparison:
    """Compare the earliest run (the baseline) with each of the others. All must belong to
    ``project`` and share one dataset version; raises ValidationError otherwise."""
    ids = list(dict.fromkeys(str(r) for r in run_ids if r))
    if len(ids) < 2:
        raise ValidationError({"runs": ["Pick at least two runs to compare."]})
    if len(ids) > MAX_RUNS:
        raise ValidationError({"runs": [f"Compare at most {MAX_RUNS} runs at once."]})
    found = _load_runs(project, ids)
    # The earliest run is the baseline; the others are the changes being judged.
    runs = sorted(found.values(), key=lambda run: (run.queued_at, str(run.id)))
    baseline_columns = run_columns(runs[0])
    pairs = [_compare_pair(runs[0], other, baseline_columns) for other in runs[1:]]
    return Comparison(runs=runs, pairs=pairs)


def runs_compare_pair(*, project, baseline_id, other_id) -> dict:
    """``other_id`` judged against ``baseline_id`` (the caller chooses the baseline), as a
    plain JSON-ready dict: one entry per shared numeric metric plus latency and tokens, each
    with n, means, delta, 95% interval, p-value, Cohen's d_z, the test's name and the verdict.
    Raises ValidationError (``runs``) for unknown runs, other projects' runs, the same run twice
    or runs on different dataset versions."""
    ids = [str(baseline_id), str(other_id)]
    if ids[0] == ids[1]:
        raise ValidationError({"runs": ["Pick two different runs to compare."]})
    found = _load_runs(project, ids)
    return _compare_pair(found[ids[0]], found[ids[1]]).as_dict()
