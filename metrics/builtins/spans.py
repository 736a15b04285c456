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
