import pytest
from django.core.exceptions import ValidationError

from metrics import services
from metrics.scoring import build_scorer

ALLOWED = [
    "metrics.examples.keyword_coverage",
    "metrics.examples.tone_label",
    "metrics.examples.async_length_ratio",
    "metrics.examples.broken",
    "metrics.examples.out_of_range",
]


@pytest.fixture(autouse=True)
def allow_examples(settings):
    settings.EVALSITE_CUSTOM_METRICS = list(ALLOWED)
    return settings


def _custom(project, owner, path, *, inputs=("response", "expected"), **extra):
    return services.metric_create(
        project=project,
        user=owner,
        name=path.rsplit(".", 1)[-1],
        implementation="custom_python",
        params={"path": path, **extra.pop("params", {})},
        inputs=[{"name": n, "description": n} for n in inputs],
        **extra,
    )


def test_a_sync_custom_metric_scores_with_reasoning(project, owner):
    metric = _custom(project, owner, "metrics.examples.keyword_coverage")
    result = build_scorer(metric.latest_version()).score(
        {"response": "Paris is in France", "expected": "paris france berlin"}
    )
    assert result.number_value == pytest.approx(2 / 3)
    assert result.reasoning == "Found 2 of 3 keywords."


def test_options_are_passed_as_keyword_arguments(project, owner):
    metric = _custom(
        project,
        owner,
        "metrics.examples.keyword_coverage",
        params={"options": {"keywords": ["paris"]}},
    )
    scorer = build_scorer(metric.latest_version())
    assert scorer.score({"response": "Paris", "expected": "x"}).number_value == 1.0


def test_an_async_custom_metric(project, owner):
    metric = _custom(project, owner, "metrics.examples.async_length_ratio")
    scorer = build_scorer(metric.latest_version())
    assert scorer.is_async
    result = scorer.score({"response": "abc", "expected": "abcdef"})
    assert result.number_value == 0.5 and result.reasoning == "3 / 6 characters"


def test_a_string_custom_metric(project, owner):
    metric = _custom(
        project,
        owner,
        "metrics.examples.tone_label",
        inputs=("response",),
        value_type="METRIC_VALUE_TYPE_STRING",
    )
    assert metric.range_min is None and metric.range_max is None
    result = build_scorer(metric.latest_version()).score({"response": "Thank you!"})
    assert result.string_value == "polite" and result.number_value is None


def test_a_crashing_or_out_of_range_custom_metric_gives_an_error(project, owner):
    broken = _custom(project, owner, "metrics.examples.broken")
    result = build_scorer(broken.latest_version()).score({"response": "a", "expected": "b"})
    assert result.error_description == "RuntimeError: this metric is broken on purpose"
    wild = _custom(project, owner, "metrics.examples.out_of_range", range_min=0, range_max=1)
    result = build_scorer(wild.latest_version()).score({"response": "a", "expected": "b"})
    assert result.number_value is None and "outside the declared range" in result.error_description


def test_paths_outside_the_allow_list_are_rejected(project, owner):
    with pytest.raises(ValidationError) as info:
        _custom(project, owner, "os.system")
    assert "not in EVALSITE_CUSTOM_METRICS" in info.value.message_dict["params.path"][0]


def test_an_allowed_path_that_does_not_import_is_rejected(project, owner, settings):
    settings.EVALSITE_CUSTOM_METRICS = ["metrics.examples.nope"]
    with pytest.raises(ValidationError) as info:
        _custom(project, owner, "metrics.examples.nope")
    assert "Cannot import" in info.value.message_dict["params.path"][0]


def test_a_path_removed_from_the_allow_list_later_scores_errors(project, owner, settings):
    metric = _custom(project, owner, "metrics.examples.keyword_coverage")
    settings.EVALSITE_CUSTOM_METRICS = []
    scorer = build_scorer(metric.latest_version())
    result = scorer.score({"response": "a", "expected": "a"})
    assert result.number_value is None and "allow-list" in result.error_description


def test_bad_declared_inputs_and_ranges_get_field_errors(project, owner):
    with pytest.raises(ValidationError) as info:
        services.metric_create(
            project=project,
            user=owner,
            name="Bad",
            implementation="custom_python",
            params={"path": "metrics.examples.keyword_coverage"},
            inputs=[{"name": "1bad"}, {"name": "ok"}, {"name": "ok"}],
            range_min=5,
            range_max=1,
        )
    errors = info.value.message_dict
    assert {"inputs.0.name", "inputs.2.name", "range_max"} <= set(errors)
