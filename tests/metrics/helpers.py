from metrics.registry import get_implementation
from metrics.scoring import MetricOutcome, Scorer


def make_scorer(key: str, **params) -> Scorer:
    """A scorer for implementation ``key`` with ``params`` (validated as the services do)."""
    implementation = get_implementation(key)
    clean_params, inputs = implementation.clean(params, None)
    low, high = implementation.value_range(clean_params)
    return Scorer(
        implementation.build(clean_params, inputs=inputs),
        name=key,
        value_type=implementation.value_type,
        range_min=low,
        range_max=high,
        required_inputs=[i["name"] for i in inputs if i["required"]],
    )


def value(key: str, inputs: dict, **params) -> float | str | None:
    outcome = make_scorer(key, **params).score(inputs)
    assert outcome.error_description is None, outcome.error_description
    return outcome.value


def outcome(key: str, inputs: dict, **params) -> MetricOutcome:
    return make_scorer(key, **params).score(inputs)
