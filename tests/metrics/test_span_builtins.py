"""The span-level built-ins as metrics (metrics/builtins/spans.py): parameters checked when
saved, each span scored through the Scorer, and an LLM judge over one span against a real
local OpenAI-compatible server."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from metrics import services
from metrics.registry import get_implementation
from metrics.scoring import build_scorer
from tests.metrics.fake_openai import fake_openai_server
from tests.metrics.helpers import make_scorer, outcome
from traces.span_scoring import SpanScorer

TOOL = "TRACE_SPAN_TYPE_TOOL"
RETRIEVER = "TRACE_SPAN_TYPE_RETRIEVER"
SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}},
    "required": ["order_id"],
}


def tool(name="lookup_order", arguments='{"order_id": "1042"}', **extra):
    span = {"type": TOOL, "name": name, "tool": {"name": name}, **extra}
    if arguments is not None:
        span["tool"]["arguments"] = arguments
    return span


@pytest.mark.parametrize(
    ("span", "value"),
    [
        (tool(), 1.0),
        (tool(arguments='{"order_id": 1042}'), 0.0),
        (tool(arguments="{}"), 0.0),
        (tool(arguments='{"order_id": "1042"'), 0.0),  # not JSON
        (tool(arguments='{"order_id": "1", "n": NaN}'), 0.0),  # not strict JSON
        (tool(arguments={"order_id": "7"}), 1.0),  # already decoded
    ],
)
def test_tool_arguments_match_a_schema(span, value):
    result = outcome("span_tool_arguments_match_schema", {"span": span}, schema=SCHEMA)
    assert result.error_description is None and result.number_value == value


def test_schemas_by_tool_win_and_a_tool_without_one_is_an_error():
    params = {"schemas_by_tool": {"refund": {"type": "object", "required": ["amount"]}}}
    scorer = make_scorer("span_tool_arguments_match_schema", **params)
    assert scorer.score({"span": tool("refund", '{"amount": 3}')}).number_value == 1.0
    assert scorer.score({"span": tool("refund", '{"order_id": "1"}')}).number_value == 0.0
    missing = scorer.score({"span": tool()})
    assert "No JSON Schema for tool lookup_order" in missing.error_description
    both = make_scorer("span_tool_arguments_match_schema", schema=SCHEMA, **params)
    assert both.score({"span": tool()}).number_value == 1.0  # falls back to schema
    no_args = both.score({"span": tool(arguments=None)})
    assert "carries no arguments" in no_args.error_description
    assert both.score({"span": {"type": "TRACE_SPAN_TYPE_LLM"}}).is_error


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "params.schema"),
        ({"schema": {"type": "nonsense"}}, "params.schema"),
        ({"schemas_by_tool": [1]}, "params.schemas_by_tool"),
        ({"schemas_by_tool": {"x": {"minimum": "zero"}}}, "params.schemas_by_tool"),
    ],
)
def test_bad_schemas_are_refused_when_saved(params, field):
    with pytest.raises(ValidationError) as raised:
        get_implementation("span_tool_arguments_match_schema").clean(params, None)
    assert field in raised.value.message_dict


def test_chunk_relevance_reads_the_question_input_else_the_spans_query():
    span = {
        "type": RETRIEVER,
        "name": "retrieve",
        "input": {"query": "robot warranty"},
        "retriever_chunks": [{"text": "Robots: two-year warranty."}, {"text": "Ships fast."}],
    }
    scorer = make_scorer("span_retriever_chunk_relevance")
    assert scorer.required_inputs == ("span",)
    own = scorer.score({"span": span})
    assert own.number_value == pytest.approx(0.5) and own.details["chunk_relevance"] == [1.0, 0.0]
    asked = scorer.score({"span": span, "question": "How fast does it ship to Rotterdam?"})
    assert asked.details["chunk_relevance"] == [0.0, pytest.approx(2 / 3)]
    assert scorer.score({"span": {**span, "retriever_chunks": []}}).is_error
    assert scorer.score({"span": span, "question": "   "}).is_error


def test_the_catalogue_makes_both_new_built_ins_selectable(db):
    from tests.runs.conftest import builtin

    schema = builtin("span_tool_arguments_match_schema")
    assert schema.latest_version().params["schema"] == {"type": "object"}
    relevance = builtin("span_retriever_chunk_relevance")
    assert relevance.latest_version().input_names() == ["span", "question"]
    assert relevance.category == "METRIC_CATEGORY_CONTEXT_QUALITY"
    for metric in (schema, relevance):
        assert len(metric.description) > 80 and "error" in metric.description


@pytest.fixture
def fake():
    with fake_openai_server() as server:
        yield server


def _span_judge(project, owner, fake, **params):
    metric = services.metric_create(
        project=project,
        user=owner,
        name=f"Span judge {sorted(params)}",
        implementation="llm_judge",
        params={
            "base_url": fake.url,
            "model": "judge-1",
            "max_retries": 0,
            "timeout_s": 5,
            **params,
        },
    )
    return metric, build_scorer(metric.latest_version())


def test_a_custom_rubric_with_span_variables_is_a_span_metric(project, owner, fake):
    prompt = (
        "Tool {{tool_name}} got {{tool_arguments}} and answered {{span_output}} "
        "({{span_status}}) for: {{question}}"
    )
    metric, scorer = _span_judge(project, owner, fake, prompt=prompt)
    assert metric.latest_version().input_names() == ["span", "question"]
    fake.reply('{"score": 0.25, "reasoning": "Wrong order id."}')
    fake.reply('{"score": 1, "reasoning": "Fine."}')
    spans = SpanScorer(scorer, TOOL)
    trace = {
        "spans": [
            {"type": "TRACE_SPAN_TYPE_LLM", "name": "chat"},
            tool(output={"status": "shipped"}, status="ok", span_id="a"),
            tool("get_plan", '{"customer_id": "C-77"}', status="error", error="boom"),
        ]
    }
    row = spans.score({"trace": trace, "question": "Where is order 1042?"})
    prompts = [r["json"]["messages"][1]["content"] for r in fake.requests]
    assert len(prompts) == 2  # one call per tool span, none for the LLM span
    assert (
        'Tool lookup_order got {"order_id": "1042"} and answered {"status": "shipped"} (ok) '
        "for: Where is order 1042?" in prompts
    )
    assert any("Tool get_plan" in p and "(error: boom)" in p for p in prompts)
    scores = sorted(o.number_value for *_, o in row.spans)
    assert scores == [0.25, 1.0] and row.number_value == pytest.approx(0.625)
    assert [index for index, *_ in row.spans] == [1, 2]
    # The judge's usage is carried to the row outcome the engine prices.
    assert row.called


def test_the_span_quality_preset_and_a_bad_reply(project, owner, fake):
    metric, scorer = _span_judge(project, owner, fake, preset="span_quality")
    assert "span" in metric.latest_version().input_names()
    fake.reply("The step looks fine, 5/5.")  # prose: never a score
    span = {
        "type": RETRIEVER,
        "name": "retrieve_docs",
        "input": {"query": "warranty"},
        "retriever_chunks": [{"text": "Two-year warranty."}],
    }
    row = SpanScorer(scorer, RETRIEVER).score({"trace": [span]})
    (_, _, name, result) = row.spans[0]
    assert name == "retrieve_docs" and result.is_error and row.is_error
    prompt = fake.requests[-1]["json"]["messages"][1]["content"]
    assert "RETRIEVER step named retrieve_docs" in prompt
    assert "[1] Two-year warranty." in prompt and "Question: (not provided)" in prompt
    assert json.loads(prompt.split("Step input: ")[1].split("\n")[0]) == {"query": "warranty"}


def test_span_variables_without_a_span_input_are_refused(project, owner, fake):
    with pytest.raises(ValidationError) as raised:
        services.metric_create(
            project=project,
            user=owner,
            name="Mixed",
            implementation="llm_judge",
            params={"base_url": fake.url, "model": "m", "prompt": "{{response}} {{tool_name}}"},
            inputs=[{"name": "response"}],
        )
    assert "tool_name" in str(raised.value.message_dict["params.prompt"])
