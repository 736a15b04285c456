"""Run-level aggregation of one metric's values: count, errors, mean, median, p10/p90,
standard deviation, min/max, pass rate against a threshold (respecting ``inverted``) and value
counts for string metrics."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from typing import Any

STRING = "METRIC_VALUE_TYPE_STRING"


def passes(value: Any, *, threshold: float | None, inverted: bool) -> bool:
    """Whether ``value`` meets ``threshold``: ``>=``, or ``<=`` when lower is better."""
    if threshold is None or value is None or isinstance(value, bool | str):
        return False
    if not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return value <= threshold if inverted else value >= threshold


def _percentile(ordered: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default ``linear`` method)."""
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(
    values: list,
    *,
    value_type: str,
    threshold: float | None,
    inverted: bool,
    errors: int = 0,
) -> dict:
    """Summary of a metric's scored values (errors are counted, never averaged in)."""
    summary: dict[str, Any] = {
        "count": 0,
        "errors": int(errors),
        "mean": None,
        "median": None,
        "p10": None,
        "p90": None,
        "stddev": None,
        "min": None,
        "max": None,
        "threshold": threshold,
        "inverted": bool(inverted),
        "passed": None,
        "pass_rate": None,
        "value_counts": None,
    }
    if value_type == STRING:
        strings = [v for v in values if isinstance(v, str)]
        summary["count"] = len(strings)
        summary["value_counts"] = dict(Counter(strings).most_common())
        return summary
    numbers = sorted(
        float(v)
        for v in values
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    )
    summary["count"] = len(numbers)
    if not numbers:
        return summary
    summary.update(
        mean=statistics.fmean(numbers),
        median=statistics.median(numbers),
        p10=_percentile(numbers, 0.10),
        p90=_percentile(numbers, 0.90),
        stddev=statistics.pstdev(numbers),
        min=numbers[0],
        max=numbers[-1],
    )
    if threshold is not None:
        passed = sum(1 for v in numbers if passes(v, threshold=threshold, inverted=inverted))
        summary["passed"] = passed
        summary["pass_rate"] = passed / len(numbers)
    return summary
