"""Span-level checks, run on spans as ingestion stores them (OTLP in, dataset row out)."""

from __future__ import annotations

import json

import pytest

from datasets.models import DatasetItem
from tests.traces import payloads as p
from traces import otlp, services
from traces import span_metrics as sm

pytestmark = pytest.mark.django_db


@pytest.fixture
def ingest(owner, project):
    def run(spans):
        services.traces_ingest(user=owner, request=otlp.parse(p.body(spans), otlp.JSON))
        return DatasetItem.objects.order_by("-position").first().data

    return run


def tool_span(tid, *, arguments='{"order": 7}', failed=False, name="lookup_order"):
    extra = {"gen_ai__tool__call__arguments": arguments} if arguments is not None else {}
    return p.span(
        tid,
        p.span_id(),
        f"execute_tool {name}",
        status=2 if failed else 1,
        message="timeout" if failed else "",
        gen_ai__operation__name="execute_tool",
        gen_ai__tool__name=name,
        **extra,
    )


def llm_span(tid, *, ms=500, tokens=(100, 20)):
    extra = {}
    if tokens[0] is not None:
        extra["gen_ai__usage__input_tokens"] = tokens[0]
    if tokens[1] is not None:
        extra["gen_ai__usage__output_tokens"] = tokens[1]
    return p.span(
        tid,
        p.span_id(),
        "chat",
        start=0,
        end=ms * 1_000_000,
        gen_ai__operation__name="chat",
        gen_ai__request__model="m",
        **extra,
    )


def test_tool_call_succeeded_and_spans_of_type(ingest):
    tid = p.trace_id()
    row = ingest([tool_span(tid), tool_span(tid, failed=True, name="refund"), llm_span(tid)])
    tools = sm.spans_of_type(row, "TRACE_SPAN_TYPE_TOOL")
    assert [t["tool"]["name"] for t in tools] == ["lookup_order", "refund"]
    ok, failed = (sm.tool_call_succeeded(t) for t in tools)
    assert ok.number_value == 1.0
    assert failed.number_value == 0.0 and "timeout" in failed.reasoning
    [llm] = sm.spans_of_type(row["trace"], "TRACE_SPAN_TYPE_LLM")
    assert sm.tool_call_succeeded(llm).is_error
    with pytest.raises(ValueError, match="Unknown span type"):
        sm.spans_of_type(row, "LLM")


@pytest.mark.parametrize(
    ("arguments", "value", "words"),
    [
        ('{"order": 7}', 1.0, "valid JSON"),
        ('{"order": 7', 0.0, "not valid JSON"),
        ("[1, 2]", 0.0, "not an object"),
    ],
)
def test_tool_arguments_valid_json(ingest, arguments, value, words):
    row = ingest([tool_span(p.trace_id(), arguments=arguments)])
    [span] = sm.spans_of_type(row, "TRACE_SPAN_TYPE_TOOL")
    outcome = sm.tool_arguments_valid_json(span)
    assert outcome.number_value == value and words in outcome.reasoning


def test_tool_arguments_missing_is_an_error_not_a_score(ingest):
    row = ingest([tool_span(p.trace_id(), arguments=None)])
    [span] = sm.spans_of_type(row, "TRACE_SPAN_TYPE_TOOL")
    assert sm.tool_arguments_valid_json(span).is_error
    assert sm.tool_arguments_valid_json({"type": "TRACE_SPAN_TYPE_TOOL", "tool": {}}).is_error


def test_tool_arguments_match_schema(ingest):
    schema = {
        "type": "object",
        "properties": {"order": {"type": "integer"}},
        "required": ["order"],
        "additionalProperties": False,
    }
    tid = p.trace_id()
    row = ingest(
        [
            tool_span(tid, arguments='{"order": 7}'),
            tool_span(tid, arguments='{"order": "7"}'),
            tool_span(tid, arguments='{"id": 1}', name="refund"),
            tool_span(tid, arguments="nope"),
        ]
    )
    good, wrong_type, other_tool, broken = sm.spans_of_type(row, "TRACE_SPAN_TYPE_TOOL")
    assert sm.tool_arguments_match_schema(good, schema=schema).number_value == 1.0
    outcome = sm.tool_arguments_match_schema(wrong_type, schema=schema)
    assert outcome.number_value == 0.0 and outcome.reasoning.startswith("order:")
    assert sm.tool_arguments_match_schema(other_tool, schema=schema).number_value == 0.0
    by_tool = {"refund": {"type": "object", "required": ["id"]}}
    assert sm.tool_arguments_match_schema(other_tool, schemas_by_tool=by_tool).number_value == 1.0
    assert sm.tool_arguments_match_schema(good, schemas_by_tool=by_tool).is_error  # no schema
    assert sm.tool_arguments_match_schema(broken, schema=schema).number_value == 0.0
    bad_schema = sm.tool_arguments_match_schema(good, schema={"type": "nonsense"})
    assert bad_schema.is_error and "Invalid JSON Schema" in bad_schema.error_description


def test_llm_latency_and_tokens_under(ingest):
    tid = p.trace_id()
    row = ingest(
        [
            llm_span(tid, ms=300, tokens=(100, 20)),
            llm_span(tid, ms=2500, tokens=(4000, 900)),
            llm_span(tid, ms=10, tokens=(50, None)),
        ]
    )
    fast, slow, partial = sm.spans_of_type(row, "TRACE_SPAN_TYPE_LLM")
    assert sm.llm_latency_under(fast, max_ms=1000).number_value == 1.0
    slow_outcome = sm.llm_latency_under(slow, max_ms=1000)
    assert slow_outcome.number_value == 0.0 and slow_outcome.details["latency_ms"] == 2500.0
    assert sm.llm_tokens_under(fast, max_total_tokens=200).number_value == 1.0
    over = sm.llm_tokens_under(slow, max_input_tokens=8000, max_output_tokens=500)
    assert over.number_value == 0.0 and "over: output" in over.reasoning
    assert sm.llm_tokens_under(partial, max_input_tokens=100).number_value == 1.0
    assert sm.llm_tokens_under(partial, max_total_tokens=100).is_error
    with pytest.raises(ValueError):
        sm.llm_tokens_under(fast)
    with pytest.raises(ValueError):
        sm.llm_latency_under(fast, max_ms=-1)
    assert sm.llm_latency_under({"type": "TRACE_SPAN_TYPE_LLM", "name": "x"}, max_ms=1).is_error


def test_summarize_mean_and_share_failing():
    outcomes = [
        sm.tool_call_succeeded({"type": "TRACE_SPAN_TYPE_TOOL", "status": "ok"}),
        sm.tool_call_succeeded({"type": "TRACE_SPAN_TYPE_TOOL", "status": "error"}),
        sm.tool_call_succeeded({"type": "TRACE_SPAN_TYPE_TOOL", "status": "ok"}),
        sm.tool_call_succeeded({"type": "TRACE_SPAN_TYPE_LLM"}),
    ]
    summary = sm.summarize(outcomes)
    assert summary == {
        "spans": 4,
        "scored": 3,
        "errors": 1,
        "mean": pytest.approx(2 / 3),
        "failing": 1,
        "failing_share": pytest.approx(1 / 3),
    }
    assert sm.summarize([])["mean"] is None
    assert json.dumps(summary)  # plain JSON, storable as a summary


def retriever_span(tid, question, documents):
    return p.span(
        tid,
        p.span_id(),
        "retrieve",
        openinference__span__kind="RETRIEVER",
        input__value=question,
        **{f"retrieval.documents.{n}.document.content": text for n, text in enumerate(documents)},
    )


def test_retriever_chunk_relevance_over_ingested_chunks(ingest):
    tid = p.trace_id()
    row = ingest(
        [
            retriever_span(
                tid,
                "How long is the warranty on robots?",
                ["Every robot has a two-year warranty.", "Shipping takes one day.", ""],
            ),
            retriever_span(tid, "Where is my order?", []),
        ]
    )
    span, empty = sm.spans_of_type(row, "TRACE_SPAN_TYPE_RETRIEVER")
    # Question terms (stop words dropped, stemmed): long, warranti, robot.
    outcome = sm.retriever_chunk_relevance(span)
    assert outcome.details["chunk_relevance"] == [pytest.approx(2 / 3), 0.0, 0.0]
    assert outcome.number_value == pytest.approx(2 / 9)
    assert "long, robot, warranti" in outcome.reasoning
    # The row's question wins over the span's own query.
    asked = sm.retriever_chunk_relevance(span, question="Shipping times?")
    assert asked.details["chunk_relevance"] == [0.0, 0.5, 0.0]
    # Edge cases: no chunks, an empty question, a question of stop words only: errors.
    assert "returned no chunks" in sm.retriever_chunk_relevance(empty).error_description
    assert "question is empty" in sm.retriever_chunk_relevance(span, question="").error_description
    assert sm.retriever_chunk_relevance(span, question="what is the").is_error
    # Another type of span is an error, never a score.
    assert sm.retriever_chunk_relevance({"type": "TRACE_SPAN_TYPE_TOOL"}).is_error


def test_prompt_values_name_the_spans_parts(ingest):
    tid = p.trace_id()
    row = ingest(
        [
            tool_span(tid, failed=True),
            retriever_span(tid, "warranty?", ["Two years.", "Ships in a day."]),
        ]
    )
    [tool] = sm.spans_of_type(row, "TRACE_SPAN_TYPE_TOOL")
    [retriever] = sm.spans_of_type(row, "TRACE_SPAN_TYPE_RETRIEVER")
    values = sm.prompt_values(tool)
    assert values["span_type"] == "TOOL" and values["tool_name"] == "lookup_order"
    assert values["tool_arguments"] == '{"order": 7}' and values["span_status"] == "error: timeout"
    assert values["retriever_chunks"] is None
    assert sm.prompt_values(retriever)["retriever_chunks"] == "[1] Two years.\n[2] Ships in a day."
    assert set(sm.PROMPT_VARIABLES) <= set(values)
