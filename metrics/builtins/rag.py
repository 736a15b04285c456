"""Metrics for RAG and agents: chunk usage (per chunk ``chunk_used`` / ``chunk_usage_pct`` as
Gradient's prompt chunks report them), lexical groundedness, expected tool called, span error
rate. Lexical measures use the Unicode-extended SQuAD normalisation of
``metrics.builtins.textnorm`` and ignore common English stop words."""

from __future__ import annotations

from typing import Any

from metrics.builtins.textnorm import squad_normalize
from metrics.params import Param
from metrics.registry import Implementation, MetricInputError, as_text, inp, register
from metrics.scoring import MetricOutcome

RAG = "METRIC_TYPE_RAG_AND_TOOL"
CONTEXT_QUALITY = "METRIC_CATEGORY_CONTEXT_QUALITY"
_STOP_WORDS_TEXT = """
    a an the and or but if then else of to in on at by for with from as is are was were be
    been being it its this that these those there here i you he she we they them his her our
    their my your me us do does did not no so than too very can will would should could may
    might must has have had what which who whom whose when where why how all any both each
    few more most other some such only own same just into over under about again further
    once also"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
TOOL_SPAN_TYPES = frozenset({"TRACE_SPAN_TYPE_TOOL", "tool", "TOOL"})
ERROR_STATUSES = frozenset({"error", "failed", "failure", "status_code_error"})


def content_words(text: str) -> list[str]:
    return [w for w in squad_normalize(text).split() if w not in STOP_WORDS]


def chunk_texts(value: Any, name: str) -> list[str]:
    """Texts of chunks given as strings or dicts (``text`` / ``content`` / ``page_content``)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise MetricInputError(f"Input {name} must be a list of chunks.")
    texts = []
    for chunk in value:
        if isinstance(chunk, str):
            texts.append(chunk)
        elif isinstance(chunk, dict):
            text = chunk.get("text", chunk.get("content", chunk.get("page_content")))
            if not isinstance(text, str):
                raise MetricInputError(f"A chunk in {name} has no text.")
            texts.append(text)
        else:
            raise MetricInputError(f"Input {name} must be a list of chunks.")
    return texts


def flatten_spans(value: Any, depth: int = 0) -> list[dict]:
    """Spans from a list of spans, a trace dict (``spans`` / ``trace``) or a whole trace item;
    child spans (``children`` / ``spans``) are included."""
    if depth > 20:
        return []
    if isinstance(value, list):
        spans: list[dict] = []
        for item in value:
            spans.extend(flatten_spans(item, depth + 1))
        return spans
    if not isinstance(value, dict):
        return []
    for key in ("evaluation_trace_spans", "spans", "trace"):
        nested = value.get(key)
        if isinstance(nested, list | dict) and not ("name" in value and key == "spans"):
            return flatten_spans(nested, depth + 1)
    if "name" in value or "type" in value:
        children = value.get("children") or value.get("spans") or []
        return [value, *flatten_spans(children, depth + 1)]
    return []


def spans_input(inputs: dict) -> list[dict]:
    spans = flatten_spans(inputs.get("spans"))
    if not spans:
        raise MetricInputError("No trace spans found in input spans.")
    return spans


@register
class ChunkUsage(Implementation):
    key = "chunk_usage"
    label = "Chunk usage"
    description = (
        "Per retrieved chunk, the share of the answer's content words found in it "
        "(chunk_usage_pct) and whether that reaches the threshold (chunk_used); the value is "
        "the percentage of chunks used. An answer with no content words uses no chunk (0); "
        "no chunks is an error."
    )
    inputs = (
        inp("response", "The answer."),
        inp("chunks", "Retrieved chunks (map $.workflow.chunks or a dataset column)."),
    )
    params = (
        Param(
            "min_usage_pct",
            "float",
            default=20.0,
            min=0,
            max=100,
            help="A chunk counts as used from this usage percentage on.",
        ),
    )
    value_type = "METRIC_VALUE_TYPE_PERCENTAGE"
    range_max = 100.0
    category = CONTEXT_QUALITY
    metric_type = RAG

    def score(self, inputs: dict) -> MetricOutcome:
        answer = set(content_words(as_text(inputs, "response")))
        texts = chunk_texts(inputs["chunks"], "chunks")
        if not texts:
            raise MetricInputError("Input chunks is an empty list.")
        threshold = self.p.get("min_usage_pct", 20.0)
        chunks = []
        for text in texts:
            overlap = answer & set(content_words(text))
            pct = round(100.0 * len(overlap) / len(answer), 2) if answer else 0.0
            chunks.append({"chunk_used": pct >= threshold and pct > 0, "chunk_usage_pct": pct})
        used = sum(1 for c in chunks if c["chunk_used"])
        return MetricOutcome.number(
            100.0 * used / len(chunks), f"{used} of {len(chunks)} chunks used.", chunks=chunks
        )


@register
class AnswerGrounded(Implementation):
    key = "answer_grounded"
    label = "Answer grounded in context (lexical)"
    description = (
        "Share of the answer's content words (normalised tokens minus common English stop "
        "words, repeats counted) that appear in the context, 0-1. Lexical only: paraphrases "
        "count as ungrounded. An answer with no content words is an error."
    )
    inputs = (
        inp("response", "The answer."),
        inp("context", "The context: text, a list of texts, or chunks."),
    )
    category = CONTEXT_QUALITY
    metric_type = RAG

    def score(self, inputs: dict) -> MetricOutcome:
        answer = content_words(as_text(inputs, "response"))
        if not answer:
            raise MetricInputError("The answer has no content words to check.")
        context = set()
        for text in chunk_texts(inputs["context"], "context"):
            context.update(squad_normalize(text).split())
        missing = [w for w in dict.fromkeys(answer) if w not in context]
        grounded = sum(1 for w in answer if w in context) / len(answer)
        return MetricOutcome.number(
            grounded, f"Not in context: {', '.join(missing[:10])}" if missing else None
        )


@register
class ToolCalled(Implementation):
    key = "tool_called"
    label = "Expected tool called"
    description = (
        "1 when a tool span (or an OpenAI-style tool call in a span's output) with exactly "
        "the expected name is in the trace, else 0 (names are case-sensitive). No spans, or "
        "no expected tool, is an error."
    )
    inputs = (
        inp("spans", "Trace spans (map $.workflow.spans or $.trace)."),
        inp("expected_tool", "Tool name expected (instead of the parameter).", False),
    )
    params = (Param("tool_name", "str", help="The tool that must be called."),)
    category = "METRIC_CATEGORY_USER_OUTCOMES"
    metric_type = RAG

    def score(self, inputs: dict) -> MetricOutcome:
        expected = inputs.get("expected_tool") or self.p.get("tool_name")
        if not expected:
            raise MetricInputError("Set tool_name or map the expected_tool input.")
        expected = as_text({"t": expected}, "t")
        called = []
        for span in spans_input(inputs):
            if span.get("type") in TOOL_SPAN_TYPES and span.get("name"):
                called.append(str(span["name"]))
            output = span.get("output")
            if isinstance(output, dict):
                for call in output.get("tool_calls") or []:
                    if isinstance(call, dict):
                        function = call.get("function") or {}
                        name = function.get("name") if isinstance(function, dict) else None
                        called.append(str(name or call.get("name")))
        ok = expected in called
        return MetricOutcome(
            number_value=1.0 if ok else 0.0,
            reasoning=f"Tools called: {', '.join(called[:10]) or 'none'}.",
        )


def _span_failed(span: dict) -> bool:
    if span.get("error"):
        return True
    status = span.get("status")
    if isinstance(status, str) and status.lower() in ERROR_STATUSES:
        return True
    output = span.get("output")
    return isinstance(output, dict) and bool(output.get("error"))


@register
class SpanErrorRate(Implementation):
    key = "span_error_rate"
    label = "Span error rate"
    description = (
        "Share of trace spans that failed (an error field, an error/failed status, or an "
        "error in the output), child spans included. Lower is better. No spans is an error."
    )
    inputs = (inp("spans", "Trace spans (map $.workflow.spans or $.trace)."),)
    inverted = True
    category = "METRIC_CATEGORY_MODEL_FIT"
    metric_type = RAG

    def score(self, inputs: dict) -> MetricOutcome:
        spans = spans_input(inputs)
        failed = [s for s in spans if _span_failed(s)]
        names = ", ".join(str(s.get("name", "?")) for s in failed[:10])
        return MetricOutcome.number(
            len(failed) / len(spans),
            f"{len(failed)} of {len(spans)} spans failed" + (f": {names}." if failed else "."),
        )
