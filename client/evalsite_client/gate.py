"""The gate: does this run let the build through?

A run passes when it finished (succeeded or partially succeeded), its star metric meets its
threshold (the server's ``pass_status``), and, when a baseline is given, none of the metrics
named by ``--fail-on-regression`` regressed. A regression counts only when the server's
paired comparison calls it one (verdict ``regressed``: its test is significant with at least
its minimum number of paired rows) *and* the mean per-row change is larger than
``--min-effect`` in the metric's own units. Noise never fails a build.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FINISHED = {"succeeded", "partially_succeeded", "failed", "canceled"}
COMPLETED = {"succeeded", "partially_succeeded"}

EXIT_PASS = 0
EXIT_GATE_FAILED = 1
EXIT_RUN_FAILED = 2
EXIT_USAGE = 3


class UsageError(Exception):
    """Bad arguments: exit 3."""


@dataclass
class Check:
    name: str
    passed: bool
    message: str


@dataclass
class RunVerdict:
    run: dict
    metrics: list[dict]
    checks: list[Check] = field(default_factory=list)
    comparison: dict | None = None
    baseline: dict | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def completed(self) -> bool:
        return self.run.get("status") in COMPLETED

    @property
    def passed(self) -> bool:
        return self.completed and all(check.passed for check in self.checks)

    @property
    def star(self) -> dict | None:
        return next((m for m in self.metrics if m.get("is_star")), None)


# A comparison metric: its name, id and statistics, whether the server nests them
# ({"metric": {"id", "name"}, ...figures}) or not ({"metric_name", "statistics": {...}}).


def metric_name(metric: dict) -> str:
    return str(metric.get("metric_name") or (metric.get("metric") or {}).get("name") or "")


def metric_id(metric: dict) -> str:
    return str(metric.get("metric_id") or (metric.get("metric") or {}).get("id") or "")


def metric_stats(metric: dict) -> dict:
    stats = metric.get("statistics")
    return stats if isinstance(stats, dict) else metric


def compared_runs(comparison: dict) -> tuple[dict, dict]:
    """(baseline, candidate) references of a comparison."""
    return comparison.get("baseline") or {}, (
        comparison.get("evaluation") or comparison.get("other") or {}
    )


def _number(value) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def star_check(verdict: RunVerdict) -> Check | None:
    run = verdict.run
    star_metric = run.get("star_metric") or {}
    threshold = star_metric.get("threshold")
    summary = verdict.star
    if not star_metric or threshold is None:
        verdict.notes.append("No star metric with a threshold: the gate checks completion only.")
        return None
    name = summary.get("metric_name") if summary else star_metric.get("metric_id")
    inverted = bool(summary and summary.get("inverted"))
    mean = summary.get("mean") if summary else None
    sign = "≤" if inverted else "≥"
    passed = run.get("pass_status") is True
    if passed:
        message = f"mean {_number(mean)} {sign} threshold {_number(threshold)}"
    elif mean is None:
        message = f"no score to compare with the threshold {_number(threshold)}"
    else:
        message = f"mean {_number(mean)} misses the threshold ({sign} {_number(threshold)})"
    return Check(name=f"star metric {name}", passed=passed, message=message)


def matching_metrics(comparison: dict, wanted: str) -> list[dict]:
    wanted_folded = wanted.strip().casefold()
    metrics = comparison.get("metrics") or []
    if wanted_folded in ("star", "*star*"):
        return [m for m in metrics if m.get("is_star")]
    exact = [m for m in metrics if metric_name(m).casefold() == wanted_folded]
    if exact:
        return exact
    by_id = [m for m in metrics if metric_id(m) == wanted.strip()]
    if by_id:
        return by_id
    return [m for m in metrics if metric_name(m).casefold().startswith(wanted_folded)]


def regression_checks(comparison: dict, *, fail_on: list[str], min_effect: float) -> list[Check]:
    checks = []
    names = [metric_name(m) for m in comparison.get("metrics") or []]
    for wanted in fail_on:
        found = matching_metrics(comparison, wanted)
        if not found:
            known = ", ".join(repr(n) for n in names) or "none"
            raise UsageError(
                f"--fail-on-regression: {wanted!r} is not a metric both runs share "
                f"(shared: {known})"
            )
        for metric in found:
            checks.append(regression_check(metric, min_effect=min_effect))
    return checks


def regression_check(metric: dict, *, min_effect: float) -> Check:
    stats = metric_stats(metric)
    delta = stats.get("delta")
    label = f"no regression in {metric_name(metric)}"
    if metric.get("agent"):
        label += f" ({metric['agent']})"
    described = describe_change(metric)
    if metric.get("verdict") != "regressed":
        return Check(
            label, True, f"{metric.get('verdict_label', metric.get('verdict'))}: {described}"
        )
    if delta is None or abs(delta) <= min_effect:
        return Check(
            label,
            True,
            f"significant but within --min-effect {min_effect:g}: {described}",
        )
    return Check(label, False, f"significantly worse: {described}")


def describe_change(metric: dict) -> str:
    stats = metric_stats(metric)
    parts = [
        f"{_number(stats.get('mean_baseline'))} → {_number(stats.get('mean_other'))}",
        f"Δ {_signed(stats.get('delta'))}",
    ]
    if stats.get("ci_low") is not None:
        parts.append(f"95% CI [{_signed(stats['ci_low'])}, {_signed(stats['ci_high'])}]")
    if stats.get("p_value") is not None:
        parts.append(f"p={stats['p_value']:.3g}")
    if stats.get("test"):
        parts.append(str(stats["test"]))
    parts.append(f"n={stats.get('n')}")
    return ", ".join(parts)


def _signed(value) -> str:
    if value is None:
        return "—"
    return f"{value:+.4g}"


def exit_code(verdicts: list[RunVerdict]) -> int:
    if any(not v.completed for v in verdicts):
        return EXIT_RUN_FAILED
    if all(v.passed for v in verdicts):
        return EXIT_PASS
    return EXIT_GATE_FAILED
