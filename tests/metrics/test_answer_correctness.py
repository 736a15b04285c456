"""The built-in "Answer correctness" metric: seed 000's inputs (questions,
ground_truth_answers, answers), a deterministic 0-1 score of completeness and exactness."""

from __future__ import annotations

import pytest

from metrics.models import Metric
from metrics.registry import get_implementation

pytestmark = pytest.mark.django_db

QUESTION = "How long is the warranty?"
TRUTH = "Every Acme Robotics product has a two-year limited warranty."


def score(answer, truth=TRUTH, question=QUESTION, **params):
    implementation = get_implementation("answer_correctness")
    cleaned, inputs = implementation.clean(params, None)
    values = {"ground_truth_answers": truth, "answers": answer}
    if question is not None:
        values["questions"] = question
    return implementation(cleaned, inputs).score(values)


def test_it_is_in_the_catalogue_with_seed_000s_inputs():
    metric = Metric.objects.get(project=None, builtin_key="answer_correctness")
    assert metric.name == "Answer correctness"
    names = [i["name"] for i in metric.latest_version().inputs]
    assert names == ["questions", "ground_truth_answers", "answers"]
    assert (metric.range_min, metric.range_max) == (0.0, 1.0)


def test_a_complete_exact_answer_scores_near_one():
    outcome = score("Every Acme product has a two-year limited warranty.")
    assert outcome.number_value > 0.95 and "1 of 1 answer statement" in outcome.reasoning


def test_a_correct_but_incomplete_answer_scores_in_between():
    short = score("Two years.").number_value
    assert 0.4 < short < 0.8


def test_extra_unsupported_statements_cost():
    plain = score("The warranty lasts two years.").number_value
    padded = score("The warranty lasts two years. Shipping is free worldwide.").number_value
    assert padded < plain


def test_repeating_the_question_or_a_wrong_answer_scores_zero():
    assert score(QUESTION).number_value == 0.0
    assert score("Bananas are yellow.").number_value == 0.0
    assert score("").number_value == 0.0


def test_the_best_of_several_references_counts_and_questions_are_optional():
    outcome = score("Two years.", truth=["Bananas.", "Two years."], question=None)
    assert outcome.number_value == 1.0


def test_weights_are_parameters_and_checked():
    from django.core.exceptions import ValidationError

    only_tokens = score("Two years.", similarity_weight=1.0).number_value
    assert only_tokens == pytest.approx(0.4)
    with pytest.raises(ValidationError):
        get_implementation("answer_correctness").clean({"similarity_weight": 2}, None)
