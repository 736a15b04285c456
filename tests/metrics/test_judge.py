"""The LLM judge against a real local OpenAI-compatible server (tests/metrics/fake_openai.py)."""

import json

import pytest
from django.core.exceptions import ValidationError

from metrics import services
from metrics.scoring import build_scorer
from tests.metrics.fake_openai import fake_openai_server


@pytest.fixture
def fake():
    with fake_openai_server() as server:
        yield server


def _judge(project, owner, fake, **params):
    defaults = {
        "preset": "correctness",
        "base_url": fake.url,
        "model": "judge-1",
        "api_key": "sk-test-secret",
        "score_min": 1,
        "score_max": 5,
        "max_retries": 0,
        "timeout_s": 5,
    }
    metric = services.metric_create(
        project=project,
        user=owner,
        name=f"Judge {len(fake.requests)}-{len(params)}-{sorted(params)}",
        implementation="llm_judge",
        params={**defaults, **params},
    )
    return metric, build_scorer(metric.latest_version())


INPUTS = {"question": "Capital of France?", "expected": "Paris", "response": "Paris."}


def test_a_well_formed_reply_gives_score_and_reasoning(project, owner, fake):
    fake.reply('{"score": 4, "reasoning": "Correct but terse."}')
    metric, scorer = _judge(project, owner, fake)
    result = scorer.score(INPUTS)
    assert result.number_value == 4.0 and result.reasoning == "Correct but terse."
    assert metric.range_min == 1 and metric.range_max == 5
    request = fake.requests[-1]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test-secret"
    assert request["json"]["model"] == "judge-1"
    prompt = request["json"]["messages"][1]["content"]
    assert "Ground truth: Paris" in prompt and "Response: Paris." in prompt
    assert "from 1 (wrong" in prompt


def test_the_api_key_is_stored_encrypted(project, owner, fake):
    metric, _ = _judge(project, owner, fake)
    stored = metric.latest_version().params["api_key"]
    assert set(stored) == {"encrypted"} and "sk-test-secret" not in json.dumps(stored)


def test_a_malformed_reply_is_an_error_not_a_score(project, owner, fake):
    fake.reply("I think it is quite good overall.")
    _, scorer = _judge(project, owner, fake)
    result = scorer.score(INPUTS)
    assert result.number_value is None
    assert "Could not find a score" in result.error_description


def test_a_reply_that_is_not_a_chat_completion_is_an_error(project, owner, fake):
    fake.reply(raw_body="<html>gateway</html>")
    _, scorer = _judge(project, owner, fake)
    assert "not an OpenAI chat completion" in scorer.score(INPUTS).error_description


def test_fenced_json_is_read_and_prose_scores_are_not(project, owner, fake):
    fake.reply('```json\n{"score": 3, "reason": "ok"}\n```').reply("I'd give it 4/5.")
    _, scorer = _judge(project, owner, fake)
    assert scorer.score(INPUTS).number_value == 3.0
    result = scorer.score(INPUTS)
    assert result.number_value is None and "4/5" in result.error_description


def test_an_out_of_range_score_is_an_error(project, owner, fake):
    fake.reply('{"score": 7, "reasoning": "Excellent"}')
    _, scorer = _judge(project, owner, fake)
    result = scorer.score(INPUTS)
    assert result.number_value is None and "outside the range [1, 5]" in result.error_description


def test_a_timeout_is_an_error_after_the_retries(project, owner, fake):
    fake.reply('{"score": 3}', delay_s=1.5)
    _, scorer = _judge(project, owner, fake, timeout_s=0.2, max_retries=1)
    result = scorer.score(INPUTS)
    assert result.number_value is None
    assert "failed after 2 attempts: timed out" in result.error_description


def test_429_is_retried_honouring_retry_after(project, owner, fake):
    fake.reply(status=429, headers={"Retry-After": "0"}).reply('{"score": 5, "reasoning": "ok"}')
    _, scorer = _judge(project, owner, fake, max_retries=2)
    result = scorer.score(INPUTS)
    assert result.number_value == 5.0
    assert len(fake.requests) == 2


def test_persistent_429_is_an_error(project, owner, fake):
    fake.reply(status=429, headers={"Retry-After": "0"})
    _, scorer = _judge(project, owner, fake, max_retries=1)
    result = scorer.score(INPUTS)
    assert "rate limited (429)" in result.error_description and len(fake.requests) == 2


def test_5xx_is_retried_and_4xx_is_not(project, owner, fake):
    fake.reply(status=503, headers={"Retry-After": "0"}).reply('{"score": 2}')
    _, scorer = _judge(project, owner, fake, max_retries=1)
    assert scorer.score(INPUTS).number_value == 2.0
    fake.replies[:] = []
    fake.reply(status=401, raw_body='{"error": "bad key"}')
    before = len(fake.requests)
    result = scorer.score(INPUTS)
    assert "HTTP 401" in result.error_description and len(fake.requests) == before + 1


def test_g_eval_renders_criteria_and_steps(project, owner, fake):
    fake.reply('{"score": 0.5, "reasoning": "half"}')
    _, scorer = _judge(
        project,
        owner,
        fake,
        preset="g_eval",
        criteria="Answers politely.",
        steps="1. Check tone.",
        score_min=0,
        score_max=1,
    )
    assert scorer.score({"response": "Sure, happy to help!"}).number_value == 0.5
    prompt = fake.requests[-1]["json"]["messages"][1]["content"]
    assert "Answers politely." in prompt and "1. Check tone." in prompt
    assert "Question: (not provided)" in prompt


def test_custom_prompt_variables_must_be_declared_inputs(project, owner, fake):
    metric, _ = _judge(project, owner, fake, preset="custom", prompt="Rate {{answer}} vs {{truth}}")
    assert metric.latest_version().input_names() == ["answer", "truth"]  # inferred
    with pytest.raises(ValidationError) as info:
        services.metric_create(
            project=project,
            user=owner,
            name="Custom judge",
            implementation="llm_judge",
            params={"base_url": fake.url, "model": "m", "prompt": "Rate {{answer}} {{oops}}"},
            inputs=[{"name": "answer", "description": "the answer"}],
        )
    assert "{{oops}}" in info.value.message_dict["params.prompt"][0]


def test_judge_definition_errors_are_reported_per_field(project, owner):
    with pytest.raises(ValidationError) as info:
        services.metric_create(
            project=project,
            user=owner,
            name="Bad judge",
            implementation="llm_judge",
            params={
                "preset": "correctness",
                "base_url": "http://169.254.169.254/latest",
                "score_min": 5,
                "score_max": 1,
                "temperature": 9,
            },
        )
    errors = info.value.message_dict
    assert {"params.model", "params.temperature"} <= set(errors)


def test_a_cloud_metadata_url_is_refused(project, owner):
    with pytest.raises(ValidationError) as info:
        services.metric_create(
            project=project,
            user=owner,
            name="Metadata judge",
            implementation="llm_judge",
            params={"preset": "correctness", "base_url": "http://169.254.169.254/", "model": "m"},
        )
    assert "params.base_url" in info.value.message_dict


def test_a_missing_env_secret_makes_every_outcome_an_error(project, owner, fake, monkeypatch):
    monkeypatch.delenv("EVALSITE_SECRET_TEST_JUDGE_KEY", raising=False)
    _, scorer = _judge(project, owner, fake, api_key={"env": "EVALSITE_SECRET_TEST_JUDGE_KEY"})
    result = scorer.score(INPUTS)
    assert "EVALSITE_SECRET_TEST_JUDGE_KEY is not set" in result.error_description
    assert fake.requests == []
