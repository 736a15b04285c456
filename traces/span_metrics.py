"""Span-level checks over stored trace spans (the dicts ``traces.mapping`` writes).

Pure functions, not yet wired into the engine: each takes one span and returns a
``MetricOutcome`` (1.0 pass / 0.0 fail with reasoning, or an ``error_description`` when the
span cannot be judged — never a made-up score). ``spans_of_type`` picks a row's spans of one
type and ``summarize`` aggregates per-span outcomes into the row/run-level figures (mean and
share failing) the span-level results need.

- ``tool_call_succeeded``: the tool span did not end in error.
- ``tool_arguments_valid_json``: the arguments the model produced parse as JSON (an object,
  unless ``require_object=False``).
- ``tool_arguments_match_schema``: they validate against a JSON Schema, one for all tools or
  one per tool name.
- ``retriever_chunk_relevance``: how much of the question each retrieved chunk covers
  (ROUGE-1 recall of the question's content words), averaged over the span's chunks.
- ``llm_latency_under``: the LLM span took at most ``max_ms``.
- ``llm_tokens_under``: its input / output / total tokens are within the given limits.
"""

from __future__ import annotations

import json

import jsonschema

from metrics.builtins.rag import STOP_WORDS, chunk_texts
from metrics.builtins.structured import schema_mismatch, schema_problem, strict_loads
from metrics.builtins.textnorm import RougeTokenizer
from metrics.scoring import MetricOutcome
from traces.mapping import SPAN_LLM, SPAN_RETRIEVER, SPAN_TOOL, SPAN_UNKNOWN

SPAN_TYPES = (SPAN_LLM, SPAN_RETRIEVER, SPAN_TOOL, SPAN_UNKNOWN)


def _binary(ok: bool, reasoning: str, **details) -> MetricOutcome:
    return MetricOutcome(number_value=1.0 if ok else 0.0, reasoning=reasoning, details=details)


def _wrong_type(span, expected: str) -> MetricOutcome | None:
    if not isinstance(span, dict):
        return MetricOutcome.error("The span is not an object.")
    if span.get("type") != expected:
        return MetricOutcome.error(
            f"Span {span.get('name', '')!r} is {span.get('type') or 'untyped'}, not {expected}."
        )
    return None


def spans_of_type(row: dict, span_type: str) -> list[dict]:
    """The spans of ``span_type`` in a trace-shaped row (or in its ``trace``), in order."""
    if span_type not in SPAN_TYPES:
        raise ValueError(f"Unknown span type {span_type!r}; use one of {', '.join(SPAN_TYPES)}.")
    trace = row.get("trace", row) if isinstance(row, dict) else None
    spans = trace.get("spans") if isinstance(trace, dict) else trace
    if not isinstance(spans, list):
        return []
    return [s for s in spans if isinstance(s, dict) and s.get("type") == span_type]


# Tools -----------------------------------------------------------------------------------


def tool_call_succeeded(span: dict) -> MetricOutcome:
    wrong = _wrong_type(span, SPAN_TOOL)
    if wrong:
        return wrong
    name = (span.get("tool") or {}).get("name") or span.get("name", "")
    if span.get("status") == "error":
        return _binary(False, f"Tool {name} failed: {span.get('error') or 'error status'}.")
    return _binary(True, f"Tool {name} succeeded.")


def _arguments(span: dict):
    """(raw arguments, None) or (None, an error outcome)."""
    tool = span.get("tool") if isinstance(span.get("tool"), dict) else {}
    raw = tool.get("arguments")
    if raw is None:
        return None, MetricOutcome.error(
            f"Tool span {span.get('name', '')!r} carries no arguments "
            "(gen_ai.tool.call.arguments, tool.parameters or input.value)."
        )
    return raw, None


def _parse_arguments(raw) -> tuple[object, str | None]:
    if not isinstance(raw, str):
        return raw, None
    try:
        return strict_loads(raw), None  # RFC 8259, as the JSON metrics read it
    except json.JSONDecodeError as exc:
        return None, f"The arguments are not valid JSON: {exc.msg} at column {exc.colno}."
    except (ValueError, RecursionError) as exc:  # NaN / Infinity, out-of-range numbers
        return None, f"The arguments are not valid JSON: {exc or 'nested too deeply'}."


def tool_arguments_valid_json(span: dict, *, require_object: bool = True) -> MetricOutcome:
    wrong = _wrong_type(span, SPAN_TOOL)
    if wrong:
        return wrong
    raw, missing = _arguments(span)
    if missing:
        return missing
    value, problem = _parse_arguments(raw)
    if problem:
        return _binary(False, problem)
    if require_object and not isinstance(value, dict):
        return _binary(False, f"The arguments are JSON but not an object ({type(value).__name__}).")
    return _binary(True, "The arguments are valid JSON.")


# Whether a schema is usable, and where a value fails it, are the JSON Schema metric's own
# checks.
check_schema = schema_problem


def tool_arguments_match_schema(
    span: dict, *, schema=None, schemas_by_tool: dict | None = None
) -> MetricOutcome:
    """``schemas_by_tool`` (tool name -> schema) wins over ``schema`` for the tools it names."""
    wrong = _wrong_type(span, SPAN_TOOL)
    if wrong:
        return wrong
    name = (span.get("tool") or {}).get("name") or span.get("name", "")
    chosen = (schemas_by_tool or {}).get(name, schema)
    if chosen is None:
        return MetricOutcome.error(f"No JSON Schema for tool {name}.")
    problem = check_schema(chosen)
    if problem:
        return MetricOutcome.error(problem)
    raw, missing = _arguments(span)
    if missing:
        return missing
    value, problem = _parse_arguments(raw)
    if problem:
        return _binary(False, problem)
    validator = jsonschema.validators.validator_for(chosen)(chosen)
    problem = schema_mismatch(validator, value)
    return _binary(problem is None, problem or f"The arguments of {name} match the schema.")


# Retrievers ------------------------------------------------------------------------------

# Content words: rouge-score's tokens (Unicode-aware, Porter-stemmed on ASCII) without the
# common English stop words the lexical RAG metrics ignore.
_TERMS = RougeTokenizer(use_stemmer=True, stop_words=STOP_WORDS)


def relevance_terms(text: str) -> set[str]:
    return set(_TERMS.tokenize(text))


def _question_of(span: dict, question) -> str | None:
    """The question given, else the retriever span's own query (its input)."""
    if question is None:
        question = span.get("input")
        if isinstance(question, dict):
            question = question.get("query", question.get("text", question.get("question")))
    if question is None:
        return None
    return question if isinstance(question, str) else json.dumps(question, ensure_ascii=False)


def retriever_chunk_relevance(span: dict, *, question=None) -> MetricOutcome:
    """Per chunk, the share of the question's distinct content words found in the chunk's
    text (ROUGE-1 recall over sets); the span's value is their mean over the chunks."""
    wrong = _wrong_type(span, SPAN_RETRIEVER)
    if wrong:
        return wrong
    text = _question_of(span, question)
    terms = relevance_terms(text or "")
    if not terms:
        return MetricOutcome.error(
            "The question is empty (or only stop words): nothing to judge the chunks against."
        )
    chunks = span.get("retriever_chunks") or []
    if not chunks:
        return MetricOutcome.error(f"Retriever span {span.get('name', '')!r} returned no chunks.")
    try:
        texts = chunk_texts(chunks, "retriever_chunks")
    except Exception as exc:  # MetricInputError: a chunk without text
        return MetricOutcome.error(str(exc))
    scores = [len(terms & relevance_terms(t)) / len(terms) for t in texts]
    mean = sum(scores) / len(scores)
    return MetricOutcome(
        number_value=mean,
        reasoning=(
            f"{len(scores)} chunk{'s' if len(scores) != 1 else ''}, relevance "
            + ", ".join(f"{s:.2f}" for s in scores)
            + f" (question terms: {', '.join(sorted(terms)[:12])})."
        ),
        details={"chunk_relevance": scores},
    )


# LLM calls -------------------------------------------------------------------------------


def llm_latency_under(span: dict, *, max_ms: float) -> MetricOutcome:
    if max_ms is None or max_ms < 0:
        raise ValueError("max_ms must be a non-negative number of milliseconds.")
    wrong = _wrong_type(span, SPAN_LLM)
    if wrong:
        return wrong
    latency = span.get("latency_ms")
    if not isinstance(latency, int | float) or isinstance(latency, bool):
        return MetricOutcome.error(f"Span {span.get('name', '')!r} has no latency.")
    return _binary(latency <= max_ms, f"{latency:g} ms (limit {max_ms:g} ms).", latency_ms=latency)


def llm_tokens_under(
    span: dict,
    *,
    max_input_tokens: int | None = None,
    max_output_tokens: int | None = None,
    max_total_tokens: int | None = None,
) -> MetricOutcome:
    limits = {
        "input": max_input_tokens,
        "output": max_output_tokens,
        "total": max_total_tokens,
    }
    if all(limit is None for limit in limits.values()):
        raise ValueError(
            "Set at least one of max_input_tokens, max_output_tokens, max_total_tokens."
        )
    wrong = _wrong_type(span, SPAN_LLM)
    if wrong:
        return wrong
    counts = {"input": span.get("input_tokens"), "output": span.get("output_tokens")}
    if counts["input"] is not None and counts["output"] is not None:
        counts["total"] = counts["input"] + counts["output"]
    else:
        counts["total"] = None
    over, parts = [], []
    for kind, limit in limits.items():
        if limit is None:
            continue
        count = counts[kind]
        if count is None:
            return MetricOutcome.error(
                f"Span {span.get('name', '')!r} does not report its {kind} tokens."
            )
        parts.append(f"{kind} {count} (limit {limit})")
        if count > limit:
            over.append(kind)
    reasoning = "; ".join(parts) + (f"; over: {', '.join(over)}." if over else ".")
    return _binary(not over, reasoning, **{f"{k}_tokens": v for k, v in counts.items()})


# LLM judges over a span ------------------------------------------------------------------

# The variables a judge's rubric can use about the span it scores (input ``span``).
PROMPT_VARIABLES = (
    "span_name",
    "span_type",
    "span_input",
    "span_output",
    "span_status",
    "tool_name",
    "tool_arguments",
    "retriever_chunks",
)


def prompt_values(span) -> dict:
    """The span's ``PROMPT_VARIABLES`` (plus ``span``, the whole span) for a rubric: text or
    JSON values as stored; the chunks as numbered texts; what the span lacks is None (the
    rubric reads "(not provided)")."""
    if not isinstance(span, dict):
        return {}
    tool = span.get("tool") if isinstance(span.get("tool"), dict) else {}
    chunks = span.get("retriever_chunks") or []
    try:
        texts = chunk_texts(chunks, "retriever_chunks") if chunks else []
    except Exception:  # a chunk without text: show them as stored
        texts = None
    return {
        "span": span,
        "span_name": span.get("name"),
        "span_type": str(span.get("type") or "").removeprefix("TRACE_SPAN_TYPE_") or None,
        "span_input": span.get("input"),
        "span_output": span.get("output"),
        "span_status": span.get("status")
        if not span.get("error")
        else (f"{span.get('status') or 'error'}: {span['error']}"),
        "tool_name": tool.get("name"),
        "tool_arguments": tool.get("arguments"),
        "retriever_chunks": (
            "\n".join(f"[{n}] {text}" for n, text in enumerate(texts, start=1))
            if texts is not None
            else chunks
        )
        or None,
    }


# Aggregation -----------------------------------------------------------------------------


def summarize(outcomes: list[MetricOutcome], *, pass_threshold: float = 1.0) -> dict:
    """Mean of the scored spans and the share of them below ``pass_threshold``; errors are
    counted apart and left out of both."""
    values = [o.number_value for o in outcomes if not o.is_error and o.number_value is not None]
    errors = sum(1 for o in outcomes if o.is_error)
    failing = sum(1 for value in values if value < pass_threshold)
    return {
        "spans": len(outcomes),
        "scored": len(values),
        "errors": errors,
        "mean": sum(values) / len(values) if values else None,
        "failing": failing,
        "failing_share": failing / len(values) if values else None,
    }
