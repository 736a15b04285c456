"""Each deterministic text metric against its reference implementation or published numbers."""

import re
import string
from collections import Counter

import pytest
import sacrebleu
from django.core.exceptions import ValidationError
from rapidfuzz.distance import Levenshtein
from rouge_score import rouge_scorer

from tests.metrics.helpers import outcome, value


def test_exact_match_is_case_sensitive_and_strips_by_default():
    assert value("exact_match", {"response": " Paris\n", "expected": "Paris"}) == 1.0
    assert value("exact_match", {"response": "paris", "expected": "Paris"}) == 0.0


def test_exact_match_options_ignore_case_and_collapse_whitespace():
    inputs = {"response": "New   york", "expected": "new York"}
    assert value("exact_match", inputs) == 0.0
    assert value("exact_match", inputs, case_sensitive=False, collapse_whitespace=True) == 1.0


def test_exact_match_without_strip_sees_surrounding_whitespace():
    assert value("exact_match", {"response": " a", "expected": "a"}, strip=False) == 0.0


def test_exact_match_accepts_any_of_several_expected_answers():
    assert value("exact_match", {"response": "b", "expected": ["a", "b"]}) == 1.0


def test_contains_family():
    response = {"response": "The capital of France is Paris."}
    assert value("contains", {**response, "expected": "Paris"}) == 1.0
    assert value("contains", {**response, "expected": "paris"}) == 0.0
    assert value("contains", {**response, "expected": "paris"}, case_sensitive=False) == 1.0
    assert value("contains_any", response, values=["Berlin", "Paris"]) == 1.0
    assert value("contains_any", response, values=["Berlin", "Rome"]) == 0.0
    assert value("contains_all", response, values=["France", "Paris"]) == 1.0
    assert value("contains_all", response, values=["France", "Rome"]) == 0.5
    assert value("not_contains", response, values=["password", "secret"]) == 1.0
    assert value("not_contains", response, values=["Paris"]) == 0.0


def test_contains_without_anything_to_look_for_is_an_error_not_a_score():
    result = outcome("contains_any", {"response": "x"})
    assert result.number_value is None
    assert "Nothing to look for" in result.error_description


def test_starts_with_ignores_leading_whitespace():
    assert value("starts_with", {"response": "  Yes, it is.", "expected": "Yes"}) == 1.0
    assert value("starts_with", {"response": "No.", "expected": "Yes"}) == 0.0


def test_regex_match_modes_and_pattern_input():
    assert value("regex_match", {"response": "Order #123"}, pattern=r"#\d+") == 1.0
    assert value("regex_match", {"response": "Order #123"}, pattern=r"#\d+", mode="fullmatch") == 0
    assert value("regex_match", {"response": "ABC", "pattern": "abc"}, ignore_case=True) == 1.0


def test_regex_with_an_invalid_pattern_is_rejected_with_a_field_error():
    with pytest.raises(ValidationError) as info:
        value("regex_match", {"response": "x"}, pattern="(unclosed")
    assert "params.pattern" in info.value.message_dict


def test_an_invalid_pattern_given_as_input_is_an_error():
    result = outcome("regex_match", {"response": "x", "pattern": "("})
    assert result.error_description and result.number_value is None


# The official SQuAD v1.1 evaluation script, verbatim in behaviour, as the reference.
def _official_normalize(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def _official_f1(prediction, ground_truth):
    prediction_tokens = _official_normalize(prediction).split()
    ground_truth_tokens = _official_normalize(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


SQUAD_CASES = [
    ("Denver Broncos", ["Denver Broncos", "The Denver Broncos"]),
    ("the cat sat on the mat", ["a cat on a mat"]),
    ("Santa Clara, California", ["Levi's Stadium", "Santa Clara"]),
    ("1,000 years", ["a thousand years"]),
    ("Nothing in common", ["zebra"]),
]


@pytest.mark.parametrize(("prediction", "truths"), SQUAD_CASES)
def test_squad_f1_matches_the_official_script(prediction, truths):
    expected = max(_official_f1(prediction, t) for t in truths)
    assert value("squad_f1", {"response": prediction, "expected": truths}) == pytest.approx(
        expected
    )


@pytest.mark.parametrize(("prediction", "truths"), SQUAD_CASES)
def test_squad_exact_match_matches_the_official_script(prediction, truths):
    expected = max(float(_official_normalize(prediction) == _official_normalize(t)) for t in truths)
    assert value("squad_exact_match", {"response": prediction, "expected": truths}) == expected


def test_squad_f1_hand_computed_example():
    # pred tokens [cat, sat, on, mat], truth [cat, on, mat]: P=3/4, R=1, F1=6/7
    f1 = value("squad_f1", {"response": "the cat sat on the mat", "expected": "a cat on a mat"})
    assert f1 == pytest.approx(6 / 7)


BLEU_CASES = [
    ("The dog bit the man.", ["The dog bit the man."]),
    ("It wasn't surprising.", ["It was not unexpected.", "No one was surprised."]),
    ("The man had just bitten him.", ["The man bit him first.", "The man had bitten the dog."]),
]


@pytest.mark.parametrize(("hypothesis", "references"), BLEU_CASES)
def test_bleu_matches_sacrebleu_sentence_bleu(hypothesis, references):
    reference = sacrebleu.sentence_bleu(hypothesis, references).score
    got = value("bleu", {"response": hypothesis, "expected": references})
    assert got == pytest.approx(min(reference, 100.0))


def test_bleu_of_an_identical_sentence_is_100_within_range():
    assert (
        value("bleu", {"response": "The dog bit the man.", "expected": "The dog bit the man."})
        == 100
    )


@pytest.mark.parametrize(("hypothesis", "references"), BLEU_CASES)
def test_chrf_matches_sacrebleu_sentence_chrf(hypothesis, references):
    reference = sacrebleu.sentence_chrf(hypothesis, references).score
    assert value("chrf", {"response": hypothesis, "expected": references}) == pytest.approx(
        reference
    )


def test_chrf_plus_plus_uses_word_order_two():
    hypothesis, refs = BLEU_CASES[2]
    reference = sacrebleu.metrics.CHRF(word_order=2).sentence_score(hypothesis, refs).score
    got = value("chrf", {"response": hypothesis, "expected": refs}, word_order=2)
    assert got == pytest.approx(reference)


@pytest.mark.parametrize(
    ("rouge_type", "published"),
    [
        ("rouge1", 0.7058823529411765),
        ("rouge2", 0.26666666666666666),
        ("rougeL", 0.5882352941176471),
    ],
)
def test_rouge_matches_rouge_score_readme_example(rouge_type, published):
    inputs = {
        "response": "The quick brown dog jumps on the log.",
        "expected": "The quick brown fox jumps over the lazy dog",
    }
    got = value("rouge", inputs, rouge_type=rouge_type)
    reference = rouge_scorer.RougeScorer([rouge_type]).score(inputs["expected"], inputs["response"])
    assert got == pytest.approx(published)
    assert got == pytest.approx(reference[rouge_type].fmeasure)


def test_rouge_precision_and_recall_measures():
    inputs = {
        "response": "The quick brown dog jumps on the log.",
        "expected": "The quick brown fox jumps over the lazy dog",
    }
    assert value("rouge", inputs, rouge_type="rouge1", measure="precision") == pytest.approx(0.75)
    assert value("rouge", inputs, rouge_type="rouge1", measure="recall") == pytest.approx(2 / 3)


def test_levenshtein_similarity_kitten_sitting():
    got = value("levenshtein_similarity", {"response": "kitten", "expected": "sitting"})
    assert got == pytest.approx(1 - 3 / 7)
    assert got == pytest.approx(Levenshtein.normalized_similarity("kitten", "sitting"))


def test_levenshtein_can_ignore_case():
    inputs = {"response": "HELLO", "expected": "hello"}
    assert value("levenshtein_similarity", inputs) == 0.0
    assert value("levenshtein_similarity", inputs, case_sensitive=False) == 1.0


def test_length_and_word_count_in_range():
    assert value("length_in_range", {"response": "abcd"}, min=1, max=4) == 1.0
    assert value("length_in_range", {"response": "abcde"}, min=1, max=4) == 0.0
    assert value("word_count_in_range", {"response": "one two three"}, max=2) == 0.0
    assert value("word_count_in_range", {"response": "one two"}, min=2) == 1.0


def test_length_in_range_needs_a_bound_and_a_sane_order():
    with pytest.raises(ValidationError) as info:
        value("length_in_range", {"response": "x"})
    assert "params.min" in info.value.message_dict
    with pytest.raises(ValidationError) as info:
        value("length_in_range", {"response": "x"}, min=5, max=2)
    assert "params.max" in info.value.message_dict


def test_non_string_inputs_are_compared_as_text():
    assert value("exact_match", {"response": 42, "expected": "42"}) == 1.0
