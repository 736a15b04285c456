"""Span-level built-ins: each scores ONE trace span (input ``span``, supplied by the engine
for bindings that target the spans of a type; see ``traces.span_scoring``). The checks
themselves are ``traces.span_metrics``."""

from __future__ import annotations

from metrics.params import Param
from metrics.registry import Implementation, inp, register
from metrics.scoring import MetricOutcome

SPAN = inp("span", "One trace span (filled by the engine for each span of the targeted type).")
MODEL_FIT = "METRIC_CATEGORY_MODEL_FIT"


class _SpanImplementation(Implementation):
    inputs = (SPAN,)
    category = MODEL_FIT
    span_types: tuple[str, ...] = ()  # the span types the check applies to

    def check(self, span: dict) -> MetricOutcome:  # pragma: no cover - abstract
        raise NotImplementedError

    def score(self, inputs: dict) -> MetricOutcome:
        return self.check(inputs["span"])


@register
class SpanToolCallSucceeded(_SpanImplementation):
    key = "span_tool_call_succeeded"
    label = "Tool call succeeded (per tool span)"
    description = (
        "1 for each tool span that did not end in error (OpenTelemetry status ERROR), else 0; "
        "a span of another type is an error for that span, never a score."
    )
    span_types = ("TRACE_SPAN_TYPE_TOOL",)

    def check(self, span):
        from traces.span_metrics import tool_call_succeeded

        return tool_call_succeeded(span)


@register
class SpanToolArgumentsValidJson(_SpanImplementation):
    key = "span_tool_arguments_valid_json"
    label = "Tool arguments valid JSON (per tool span)"
    description = (
        "1 for each tool span whose arguments parse as a JSON object, else 0; a span without "
        "arguments is an error for that span."
    )
    params = (Param("require_object", "bool", default=True),)
    span_types = ("TRACE_SPAN_TYPE_TOOL",)

    def check(self, span):
        from traces.span_metrics import tool_arguments_valid_json

        return tool_arguments_valid_json(span, require_object=self.p.get("require_object", True))


@register
class SpanToolArgumentsMatchSchema(_SpanImplementation):
    key = "span_tool_arguments_match_schema"
    label = "Tool arguments match a JSON Schema (per tool span)"
    description = (
        "1 for each tool span whose arguments (parsed as strict JSON) validate against the "
        "JSON Schema for that tool, else 0: schemas_by_tool (tool name -> schema) for the tools "
        "it names, else schema; the reasoning names the first failing path. Arguments that are "
        "not JSON score 0; a span without arguments, or a tool with no schema, is an error for "
        "that span; an invalid schema is refused when the metric is saved."
    )
    params = (
        Param(
            "schema", "json", help="A JSON Schema for every tool (draft 2020-12 unless $schema)."
        ),
        Param("schemas_by_tool", "json", help='Per tool name: {"lookup_order": {...}, ...}.'),
    )
    span_types = ("TRACE_SPAN_TYPE_TOOL",)

    @classmethod
    def validate(cls, params, inputs):
        from django.core.exceptions import ValidationError

        from traces.span_metrics import check_schema

        errors: dict[str, list[str]] = {}
        schema, by_tool = params.get("schema"), params.get("schemas_by_tool")
        if schema is None and by_tool is None:
            errors["params.schema"] = ["Set schema, or schemas_by_tool, or both."]
        if schema is not None and (problem := check_schema(schema)):
            errors["params.schema"] = [problem]
        if by_tool is not None:
            if not isinstance(by_tool, dict) or not by_tool:
                errors["params.schemas_by_tool"] = ["An object: tool name -> JSON Schema."]
            else:
                for name, tool_schema in by_tool.items():
                    if problem := check_schema(tool_schema):
                        errors.setdefault("params.schemas_by_tool", []).append(f"{name}: {problem}")
        if errors:
            raise ValidationError(errors)

    def check(self, span):
        from traces.span_metrics import tool_arguments_match_schema

        return tool_arguments_match_schema(
            span, schema=self.p.get("schema"), schemas_by_tool=self.p.get("schemas_by_tool")
        )


@register
class SpanRetrieverChunkRelevance(_SpanImplementation):
    key = "span_retriever_chunk_relevance"
    label = "Retriever chunk relevance to the question (per retriever span)"
    description = (
        "For each retriever span, the mean over its retriever_chunks of the share of the "
        "question's distinct content words found in the chunk (ROUGE-1 recall: rouge-score "
        "tokens, Unicode-aware, Porter-stemmed, common English stop words dropped), 0-1. The "
        "question is the question input (by default the trace's input), else the span's own "
        "query. A span with no chunks, or a question that is empty or only stop words, is an "
        "error for that span; a chunk with empty text scores 0. Lexical: synonyms do not count."
    )
    inputs = (
        SPAN,
        inp(
            "question",
            "The question the chunks should answer (default: the trace's input, "
            "$.dataset.input; unmapped: the retriever span's own query).",
            False,
        ),
    )
    category = "METRIC_CATEGORY_CONTEXT_QUALITY"
    metric_type = "METRIC_TYPE_RAG_AND_TOOL"
    span_types = ("TRACE_SPAN_TYPE_RETRIEVER",)

    def score(self, inputs: dict) -> MetricOutcome:
        from traces.span_metrics import retriever_chunk_relevance

        return retriever_chunk_relevance(inputs["span"], question=inputs.get("question"))


@register
class SpanLlmLatencyUnder(_SpanImplementation):
    key = "span_llm_latency_under"
    label = "LLM span latency under a limit"
    description = (
        "1 for each LLM span that took at most max_ms milliseconds (end minus start), else 0; "
        "a span without timestamps is an error for that span."
    )
    params = (Param("max_ms", "float", default=5000.0, min=0),)
    span_types = ("TRACE_SPAN_TYPE_LLM",)

    def check(self, span):
        from traces.span_metrics import llm_latency_under

        return llm_latency_under(span, max_ms=self.p.get("max_ms", 5000.0))


@register
class SpanLlmTokensUnder(_SpanImplementation):
    key = "span_llm_tokens_under"
    label = "LLM span tokens under a limit"
    description = (
        "1 for each LLM span whose input / output / total tokens are within the limits set, "
        "else 0; a span that does not report a limited count is an error for that span."
    )
    params = (
        Param("max_input_tokens", "int", min=0),
        Param("max_output_tokens", "int", min=0),
        Param("max_total_tokens", "int", default=4000, min=0),
    )
    span_types = ("TRACE_SPAN_TYPE_LLM",)

    @classmethod
    def validate(cls, params, inputs):
        from django.core.exceptions import ValidationError

        if all(params.get(f"max_{k}_tokens") is None for k in ("input", "output", "total")):
            raise ValidationError({"params.max_total_tokens": ["Set at least one token limit."]})

    def check(self, span):
        from traces.span_metrics import llm_tokens_under

        return llm_tokens_under(
            span,
            max_input_tokens=self.p.get("max_input_tokens"),
            max_output_tokens=self.p.get("max_output_tokens"),
            max_total_tokens=self.p.get("max_total_tokens"),
        )
