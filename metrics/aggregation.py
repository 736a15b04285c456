"""Run-level aggregation of one metric's values: count, errors, mean, median, p10/p90,
standard deviation, min/max, pass rate against a threshold (respecting ``inverted``) and value
counts for string metrics."""

from __future__ import annotations

import math
import statistics
from array import array
from collections import Counter
from typing import Any

import numpy as np

STRING = "METRIC_VALUE_TYPE_STRING"


def passes(value: Any, *, threshold: float | None, inverted: bool) -> bool:
    """Whether ``value`` meets ``threshold``: ``>=``, or ``<=`` when lower is better."""
    if threshold is None or value is None or isinstance(value, bool | str):
        return False
    if not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return value <= threshold if inverted else value >= threshold


def _percentile(ordered, fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default ``linear`` method)."""
    if len(ordered) == 1:
        return float(ordered[0])
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def sorted_numbers(values) -> np.ndarray:
    """The finite numbers among ``values``, sorted, as one float64 array.

    ``values`` may be an ``array('d')`` (what ``runs.engine.finish`` collects: 8 bytes a value,
    where a list of Python floats costs 32) or any iterable of mixed values, of which
    booleans, strings, None and non-finite numbers are dropped."""
    if isinstance(values, array) and values.typecode == "d":
        view = np.frombuffer(values, dtype=np.float64)
        finite = np.isfinite(view)
        numbers = view.copy() if finite.all() else view[finite]
    else:
        numbers = np.fromiter(
            (
                float(v)
                for v in values
                if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            ),
            dtype=np.float64,
        )
    numbers.sort()
    return numbers


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
    numbers = sorted_numbers(values)
    count = len(numbers)
    summary["count"] = count
    if not count:
        return summary
    middle = count // 2
    # The same figures as statistics.fmean / median / pstdev over a sorted list, without a
    # Python float object per value (a 1,000,000-row run's finish held ~40 MB a metric).
    median = numbers[middle] if count % 2 else (numbers[middle - 1] + numbers[middle]) / 2
    summary.update(
        mean=math.fsum(numbers) / count,
        median=float(median),
        p10=_percentile(numbers, 0.10),
        p90=_percentile(numbers, 0.90),
        stddev=float(statistics.pstdev(numbers)),
        min=float(numbers[0]),
        max=float(numbers[-1]),
    )
    if threshold is not None:
        met = numbers <= threshold if inverted else numbers >= threshold
        passed = int(np.count_nonzero(met))
        summary["passed"] = passed
        summary["pass_rate"] = passed / count
    return summary
