"""A judge's score comes only from one strict JSON object with a numeric score in range.

Unit cases for ``metrics.judge_parsing`` plus the issue's two replies end to end through the
judge metric against the local OpenAI-compatible server (tests/metrics/fake_openai.py).
"""

from __future__ import annotations

import pytest

from metrics import services
from metrics.judge_parsing import QUOTE_CHARS, parse_judge_reply
from metrics.scoring import build_scorer
from tests.metrics.fake_openai import fake_openai_server


def read(content, low=1.0, high=5.0, **kwargs):
    return parse_judge_reply(content, score_min=low, score_max=high, **kwargs)


ACCEPTED = [
    ('{"score": 4, "reasoning": "Correct but terse."}', 4.0, "Correct but terse."),
    ('```json\n{"score": 3, "reason": "ok"}\n```', 3.0, "ok"),
    ('```\n{"score": 2.5}\n```', 2.5, None),
    (
        'Here is my verdict:\n```json\n{"score": 5, "explanation": "all good"}\n```\nThanks!',
        5.0,
        "all good",
    ),
    ('Sure! {"score": 1, "rationale": "wrong city"} Hope it helps.', 1.0, "wrong city"),
    ('{"score": 1}', 1.0, None),  # lower bound included
    ('{"score": 5.0}', 5.0, None),  # upper bound included
    ('{"score": 4, "details": {"score": 99}}', 4.0, None),  # nested object is part of the one
    ('  \n{"reasoning": "first the reasons", "score": 2}\n', 2.0, "first the reasons"),
    ('{"score": 4e0, "reasoning": "exponent"}', 4.0, "exponent"),
    ('{"score": 3, "reasoning": 12}', 3.0, None),  # non-text reasoning is dropped
    ('Ich gebe {"score": 4, "reasoning": "Übersetzung korrekt"}', 4.0, "Übersetzung korrekt"),
]


@pytest.mark.parametrize(("content", "score", "reasoning"), ACCEPTED)
def test_one_json_object_with_a_numeric_score_in_range_is_read(content, score, reasoning):
    reading = read(content)
    assert reading.ok, reading.error
    assert reading.score == score and reading.reasoning == reasoning


REFUSED = [
    # prose: never a number pulled out of it
    ("Step 1/3: I cannot judge this answer.", "no JSON object"),
    ("The answer cites a paper published on 2024/11/22, which is wrong.", "no JSON object"),
    ("Score: 4", "no JSON object"),
    ("I'd give it 4/5.", "no JSON object"),
    ("score = 3 out of 5", "no JSON object"),
    ("4", "no JSON object"),  # a bare number is not an object
    ("[4]", "a JSON array, not an object"),
    ('"4"', "no JSON object"),
    ("I think it is quite good overall.", "no JSON object"),
    ("Use {curly braces} for placeholders; I rate it 5.", "no JSON object"),
    # the score key
    ('{"rating": 4}', 'no "score" key'),
    ('{"grade": 4, "reasoning": "fine"}', 'no "score" key'),
    ('{"result": {"score": 4}}', 'no "score" key'),  # nested: not at the top level
    ('{"Score": 4}', 'no "score" key'),
    ('[{"score": 4}]', "a JSON array, not an object"),
    ('```json\n[{"score": 4, "reasoning": "ok"}]\n```', "a JSON array, not an object"),
    # the score's type
    ('{"score": "4"}', "a JSON string, not a number"),
    ('{"score": "4/5"}', "a JSON string, not a number"),
    ('{"score": true}', "a boolean, not a number"),
    ('{"score": false}', "a boolean, not a number"),
    ('{"score": null}', "a JSON null, not a number"),
    ('{"score": [4]}', "a JSON array, not a number"),
    ('{"score": {"value": 4}}', "a JSON object, not a number"),
    # strict JSON
    ('{"score": NaN}', "does not parse"),
    ('{"score": Infinity}', "does not parse"),
    ('{"score": -Infinity}', "does not parse"),
    ('{"score": 1e999}', "not finite"),
    ('{"score": 4,}', "does not parse"),
    ("{'score': 4}", "no JSON object"),
    ('{"score": 1, "score": 5}', "does not parse"),  # duplicate keys
    ('{"a": {"score": 3}, oops}', "does not parse"),  # a valid object inside a broken one
    ('{"score": 4', "does not parse"),
    # ambiguity
    ('{"score": 2} and on reflection {"score": 4}', "2 JSON objects"),
    ('```json\n{"score": 3}\n```\n```json\n{"score": 3}\n```', "2 JSON objects"),
    # range
    ('{"score": 7, "reasoning": "Excellent"}', "outside the range [1, 5]"),
    ('{"score": 0}', "outside the range [1, 5]"),
    ('{"score": -1}', "outside the range [1, 5]"),
    ('{"score": 5.0001}', "outside the range [1, 5]"),
    (f'{{"score": {10**400}}}', "not finite"),
    # empty
    ("", "empty"),
    ("   \n ", "empty"),
]


@pytest.mark.parametrize(("content", "problem"), REFUSED)
def test_anything_else_is_an_error_that_quotes_the_reply(content, problem):
    reading = read(content)
    assert reading.score is None and reading.reasoning is None
    assert problem in reading.error
    if content.strip():
        assert "Reply: " + content.strip()[:40] in reading.error


def test_the_quoted_reply_is_truncated_and_secrets_are_redacted():
    long_reply = "sk-live-123 " + "blah " * 500
    reading = read(long_reply, redact=("sk-live-123", ""))
    assert "sk-live-123" not in reading.error and "********" in reading.error
    assert len(reading.error) < QUOTE_CHARS + 300
    assert f"({len(long_reply.strip().replace('sk-live-123', '********'))} characters)" in (
        reading.error
    )


def test_secrets_are_redacted_from_the_reasoning_too():
    reading = read('{"score": 3, "reasoning": "my key is sk-live-123"}', redact=["sk-live-123"])
    assert reading.score == 3.0 and reading.reasoning == "my key is ********"


def test_the_range_comes_from_the_metric():
    assert read('{"score": 0.25}', 0.0, 1.0).score == 0.25
    assert "outside the range [0, 1]" in read('{"score": 4}', 0.0, 1.0).error
    assert read('{"score": -3}', -5.0, 5.0).score == -3.0


def test_deeply_nested_json_is_an_error_not_a_crash():
    deep = '{"score": 3, "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    reading = read(deep)
    assert reading.score is None and reading.error


@pytest.fixture
def fake():
    with fake_openai_server() as server:
        yield server


@pytest.mark.parametrize(
    "reply",
    [
        "Step 1/3: I cannot judge this answer.",
        "The answer says the paper was published on 2024/11/22.",
        '{"score": true, "reasoning": "yes"}',
        '{"score": NaN}',
    ],
)
def test_the_judge_metric_stores_an_error_not_a_score(project, owner, fake, reply):
    fake.reply(reply)
    metric = services.metric_create(
        project=project,
        user=owner,
        name="Strict judge",
        implementation="llm_judge",
        params={
            "preset": "correctness",
            "base_url": fake.url,
            "model": "judge-1",
            "api_key": "sk-test-secret",
            "score_min": 0,
            "score_max": 2030,  # wide enough that 1 or 2024 would have been "in range"
            "max_retries": 0,
            "timeout_s": 5,
        },
    )
    result = build_scorer(metric.latest_version()).score(
        {"question": "When?", "expected": "2023", "response": "2024"}
    )
    assert result.number_value is None
    assert result.error_description.startswith("Could not find a score")
    assert reply[:30] in result.error_description
    assert len(fake.requests) == 1
