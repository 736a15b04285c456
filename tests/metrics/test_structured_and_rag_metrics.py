import pytest
from django.core.exceptions import ValidationError

from tests.metrics.helpers import outcome, value

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name"],
}


def test_json_valid():
    assert value("json_valid", {"response": '{"a": [1, 2]}'}) == 1.0
    result = outcome("json_valid", {"response": '{"a": '})
    assert result.number_value == 0.0 and "line 1" in result.reasoning


def test_json_schema_valid_reports_where_it_fails():
    assert value("json_schema_valid", {"response": '{"name": "Ann", "age": 3}'}, schema=SCHEMA) == 1
    result = outcome("json_schema_valid", {"response": '{"name": "Ann", "age": -1}'}, schema=SCHEMA)
    assert result.number_value == 0.0 and result.reasoning.startswith("age:")
    assert value("json_schema_valid", {"response": "not json"}, schema=SCHEMA) == 0.0


def test_json_schema_valid_rejects_an_invalid_schema_with_a_field_error():
    with pytest.raises(ValidationError) as info:
        value("json_schema_valid", {"response": "{}"}, schema={"type": "nonsense"})
    assert "params.schema" in info.value.message_dict
    with pytest.raises(ValidationError) as info:
        value("json_schema_valid", {"response": "{}"}, schema="{not json")
    assert "params.schema" in info.value.message_dict


def test_json_schema_can_come_from_an_input():
    inputs = {"response": {"name": "x"}, "schema": SCHEMA}
    assert value("json_schema_valid", inputs) == 1.0


def test_json_equal_ignores_key_order_and_formatting():
    inputs = {"response": '{"b": 1, "a": [1, 2]}', "expected": {"a": [1, 2], "b": 1}}
    assert value("json_equal", inputs) == 1.0
    assert value("json_equal", {"response": "[1, 2]", "expected": "[2, 1]"}) == 0.0


def test_json_equal_with_an_unparseable_expected_value_is_an_error():
    result = outcome("json_equal", {"response": "{}", "expected": "{oops"})
    assert result.number_value is None and "expected" in result.error_description


def test_numeric_closeness():
    assert value("numeric_closeness", {"response": "3.1416", "expected": 3.14159}, abs_tol=0.001)
    assert value("numeric_closeness", {"response": 10, "expected": 11}) == 0.0
    assert value("numeric_closeness", {"response": 9, "expected": 10}, mode="relative") == 0.9
    assert value("numeric_closeness", {"response": "1,000", "expected": 1000}) == 1.0


def test_numeric_closeness_with_text_is_an_error():
    result = outcome("numeric_closeness", {"response": "about ten", "expected": 10})
    assert result.number_value is None and "not a number" in result.error_description


def test_latency_under_threshold():
    assert value("latency_under", {"latency_ms": 1200.5}, threshold_ms=1500) == 1.0
    assert value("latency_under", {"latency_ms": 1600}, threshold_ms=1500) == 0.0


def test_token_usage_sums_what_is_there():
    assert value("token_usage", {"input_tokens": 120, "output_tokens": "30"}) == 150
    assert value("token_usage", {"input_tokens": 120, "output_tokens": 30}, count="output") == 30
    result = outcome("token_usage", {})
    assert result.number_value is None and "No token counts" in result.error_description


def test_chunk_usage_reports_each_chunk_like_gradient_prompt_chunks():
    inputs = {
        "response": "The robot battery lasts eight hours.",
        "chunks": [
            {"text": "Battery life: eight hours per charge.", "source_name": "specs.md"},
            {"text": "Warranty covers two years.", "source_name": "warranty.md"},
        ],
    }
    result = outcome("chunk_usage", inputs)
    chunks = result.details["chunks"]
    # answer content words: robot, battery, lasts, eight, hours -> chunk 1 has 3 of 5
    assert chunks[0] == {"chunk_used": True, "chunk_usage_pct": 60.0}
    assert chunks[1] == {"chunk_used": False, "chunk_usage_pct": 0.0}
    assert result.number_value == 50.0


def test_chunk_usage_threshold_is_a_parameter():
    inputs = {"response": "alpha beta gamma delta", "chunks": ["alpha", "beta gamma"]}
    result = outcome("chunk_usage", inputs, min_usage_pct=30)
    assert [c["chunk_used"] for c in result.details["chunks"]] == [False, True]


def test_answer_grounded_in_context():
    inputs = {"response": "Paris is the capital of France.", "context": ["France: capital Paris."]}
    assert value("answer_grounded", inputs) == 1.0
    result = outcome("answer_grounded", {"response": "Lyon is big", "context": "Paris"})
    assert result.number_value == 0.0 and "lyon" in result.reasoning


def test_expected_tool_called_in_spans_and_trace_items():
    spans = [
        {"name": "llm", "type": "TRACE_SPAN_TYPE_LLM"},
        {"name": "search_docs", "type": "TRACE_SPAN_TYPE_TOOL"},
    ]
    assert value("tool_called", {"spans": spans}, tool_name="search_docs") == 1.0
    assert value("tool_called", {"spans": spans, "expected_tool": "calculator"}) == 0.0
    trace_item = {"input": "q", "output": "a", "status": "ok", "trace": {"spans": spans}}
    assert value("tool_called", {"spans": trace_item}, tool_name="search_docs") == 1.0


def test_tool_called_sees_openai_tool_calls_in_llm_output():
    spans = [{"name": "llm", "output": {"tool_calls": [{"function": {"name": "weather"}}]}}]
    assert value("tool_called", {"spans": spans}, tool_name="weather") == 1.0


def test_span_error_rate():
    spans = [
        {"name": "a"},
        {"name": "b", "error": "boom"},
        {"name": "c", "status": "ERROR"},
        {"name": "d", "output": {"error": "bad"}},
    ]
    result = outcome("span_error_rate", {"spans": spans})
    assert result.number_value == 0.75 and "b, c, d" in result.reasoning


def test_no_spans_is_an_error_not_zero():
    result = outcome("span_error_rate", {"spans": []})
    assert result.number_value is None and "No trace spans" in result.error_description
