import asyncio
import statistics

import pytest

from metrics.aggregation import passes, summarize
from metrics.catalogue import CATALOGUE
from metrics.models import Metric
from metrics.scoring import MetricOutcome, Scorer, build_scorer
from tests.metrics.helpers import make_scorer


def test_a_missing_input_is_an_error_never_a_score():
    result = make_scorer("exact_match").score({"response": "x"})
    assert result == MetricOutcome(error_description="Missing input expected.")


def test_inputs_that_are_not_an_object_are_an_error():
    assert make_scorer("exact_match").score(["x"]).error_description


class _Returns:
    is_async = False

    def __init__(self, result):
        self.result = result

    def score(self, inputs):
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def _scorer(result, *, value_type="METRIC_VALUE_TYPE_NUMBER", low=0.0, high=1.0):
    return Scorer(
        _Returns(result),
        name="t",
        value_type=value_type,
        range_min=low,
        range_max=high,
        required_inputs=[],
    )


def test_a_score_outside_the_declared_range_becomes_an_error():
    result = _scorer(MetricOutcome.number(1.5)).score({})
    assert result.number_value is None
    assert "outside the declared range [0, 1]" in result.error_description


def test_floating_point_noise_at_a_bound_is_the_bound():
    assert _scorer(MetricOutcome.number(1.0000000000000002)).score({}).number_value == 1.0


def test_nan_and_wrong_types_are_errors():
    assert _scorer(MetricOutcome.number(float("nan"))).score({}).error_description
    assert _scorer(MetricOutcome.string("x")).score({}).error_description
    assert (
        _scorer(MetricOutcome.number(1), value_type="METRIC_VALUE_TYPE_STRING")
        .score({})
        .error_description
    )
    assert _scorer("not an outcome").score({}).error_description


def test_a_crashing_metric_becomes_an_error():
    result = _scorer(ZeroDivisionError("division by zero")).score({})
    assert result.error_description == "ZeroDivisionError: division by zero"


def test_every_builtin_metric_builds_a_scorer(db):
    for metric in Metric.objects.filter(project=None):
        scorer = build_scorer(metric.latest_version())
        assert scorer.setup_error is None, metric.name
    assert Metric.objects.filter(project=None).count() == len(CATALOGUE)


def test_ascore_works_for_sync_scorers():
    scorer = make_scorer("exact_match")
    result = asyncio.run(scorer.ascore({"response": "a", "expected": "a"}, client=None))
    assert result.number_value == 1.0


def test_summarize_numbers():
    values = [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    summary = summarize(
        values, value_type="METRIC_VALUE_TYPE_NUMBER", threshold=0.5, inverted=False, errors=2
    )
    assert summary["count"] == 6 and summary["errors"] == 2
    assert summary["mean"] == pytest.approx(statistics.fmean(values))
    assert summary["median"] == pytest.approx(0.625)
    assert summary["stddev"] == pytest.approx(statistics.pstdev(values))
    # numpy.percentile(values, [10, 90]) with linear interpolation
    assert summary["p10"] == pytest.approx(0.125)
    assert summary["p90"] == pytest.approx(1.0)
    assert (summary["min"], summary["max"]) == (0.0, 1.0)
    assert summary["passed"] == 4 and summary["pass_rate"] == pytest.approx(4 / 6)
    assert summary["value_counts"] is None


def test_pass_rate_respects_inverted_metrics():
    summary = summarize(
        [0.1, 0.2, 0.9], value_type="METRIC_VALUE_TYPE_NUMBER", threshold=0.2, inverted=True
    )
    assert summary["pass_rate"] == pytest.approx(2 / 3)
    assert passes(0.2, threshold=0.2, inverted=True)
    assert not passes(0.3, threshold=0.2, inverted=True)
    assert passes(0.3, threshold=0.2, inverted=False)
    assert not passes(None, threshold=0.2, inverted=False)
    assert not passes(0.3, threshold=None, inverted=False)


def test_summarize_without_threshold_or_values():
    summary = summarize([], value_type="METRIC_VALUE_TYPE_NUMBER", threshold=None, inverted=False)
    assert summary["count"] == 0 and summary["mean"] is None and summary["pass_rate"] is None
    one = summarize([3], value_type="METRIC_VALUE_TYPE_PERCENTAGE", threshold=None, inverted=False)
    assert one["p10"] == one["p90"] == one["median"] == 3.0 and one["stddev"] == 0.0


def test_summarize_strings_counts_values():
    summary = summarize(
        ["polite", "rude", "polite"],
        value_type="METRIC_VALUE_TYPE_STRING",
        threshold=None,
        inverted=False,
        errors=1,
    )
    assert summary["value_counts"] == {"polite": 2, "rude": 1}
    assert summary["count"] == 3 and summary["mean"] is None and summary["errors"] == 1


def test_a_summary_of_packed_doubles_gives_the_statistics_modules_exact_figures():
    """The finish collects a metric's values as 8-byte doubles (``array('d')``), not a list
    of Python floats: the figures must be exactly those of the list path and of
    ``statistics`` (mean, median, pstdev), non-finite values dropped, for odd and even
    counts."""
    import json
    import math
    import random
    from array import array

    rng = random.Random(7)
    for count in (1, 2, 999, 1000):
        values = [rng.random() for _ in range(count)]
        packed = array("d", values + [math.nan, math.inf])
        for threshold, inverted in ((0.5, False), (0.3, True)):
            kwargs = dict(value_type="METRIC_VALUE_TYPE_NUMBER", inverted=inverted)
            summary = summarize(packed, threshold=threshold, **kwargs)
            assert summary == summarize(values, threshold=threshold, **kwargs)
            assert summary["count"] == count
            assert summary["mean"] == statistics.fmean(values)
            assert summary["median"] == statistics.median(values)
            assert summary["stddev"] == statistics.pstdev(values)
            assert summary["passed"] == sum(
                passes(v, threshold=threshold, inverted=inverted) for v in values
            )
            # Plain floats, not numpy scalars: summaries are stored as JSON.
            assert all(type(summary[k]) is float for k in ("mean", "median", "p10", "stddev"))
            json.dumps(summary)
