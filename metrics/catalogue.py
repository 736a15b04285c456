"""The built-in metrics every project shares (``Metric.project`` is null).

``ensure_builtin_metrics()`` creates them idempotently (a data migration calls it, so every
database has them). When a definition here changes, the metric gets a new version; existing
versions are never rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from metrics.registry import get_implementation


@dataclass(frozen=True)
class Builtin:
    key: str
    name: str
    implementation: str
    description: str = ""
    params: dict = field(default_factory=dict)
    category: str | None = None


ROUGE_NOTE = (
    " (rouge-score; Unicode-aware tokens, identical to rouge-score's on ASCII, each "
    "Chinese/Japanese character a token, NFC). No tokens on either side scores 0."
)

CATALOGUE: tuple[Builtin, ...] = (
    Builtin("exact_match", "Exact match", "exact_match"),
    Builtin(
        "exact_match_relaxed",
        "Exact match (ignore case and spacing)",
        "exact_match",
        "1 when the response equals the expected text, ignoring Unicode case (casefold) and "
        "runs of whitespace; both NFC-normalised; empty equals empty.",
        {"case_sensitive": False, "collapse_whitespace": True},
    ),
    Builtin("squad_exact_match", "Exact match (SQuAD)", "squad_exact_match"),
    Builtin("squad_f1", "Token F1 (SQuAD)", "squad_f1"),
    Builtin("answer_correctness", "Answer correctness", "answer_correctness"),
    Builtin("contains", "Contains", "contains"),
    Builtin("contains_any", "Contains any", "contains_any"),
    Builtin("contains_all", "Contains all", "contains_all"),
    Builtin("not_contains", "Does not contain", "not_contains"),
    Builtin("starts_with", "Starts with", "starts_with"),
    Builtin("regex_match", "Regex match", "regex_match"),
    Builtin("json_valid", "JSON valid", "json_valid"),
    Builtin("json_schema_valid", "JSON schema valid", "json_schema_valid"),
    Builtin("json_equal", "JSON equal", "json_equal"),
    Builtin("bleu", "BLEU", "bleu"),
    Builtin("chrf", "chrF", "chrf"),
    Builtin(
        "rouge_1",
        "ROUGE-1",
        "rouge",
        "Unigram-overlap F-measure" + ROUGE_NOTE,
        {"rouge_type": "rouge1"},
    ),
    Builtin(
        "rouge_2",
        "ROUGE-2",
        "rouge",
        "Bigram-overlap F-measure" + ROUGE_NOTE,
        {"rouge_type": "rouge2"},
    ),
    Builtin(
        "rouge_l",
        "ROUGE-L",
        "rouge",
        "Longest-common-subsequence F-measure" + ROUGE_NOTE,
        {"rouge_type": "rougeL"},
    ),
    Builtin("levenshtein_similarity", "Levenshtein similarity", "levenshtein_similarity"),
    Builtin(
        "numeric_closeness",
        "Numeric closeness",
        "numeric_closeness",
        "1 when |response - expected| <= max(1e-6, 1% of |expected|), else 0. Text must be a "
        "plain decimal number ('.' decimal point, commas only between groups of three digits); "
        '"1,5", "12%", NaN or a boolean is an error for that row.',
        {"rel_tol": 0.01, "abs_tol": 1e-6},
    ),
    Builtin(
        "length_in_range",
        "Response length (1-4000 characters)",
        "length_in_range",
        "1 when the response has between 1 and 4000 characters (Unicode code points after "
        "NFC), else 0; an empty response scores 0.",
        {"min": 1, "max": 4000},
    ),
    Builtin(
        "word_count_in_range",
        "Word count (1-300 words)",
        "word_count_in_range",
        "1 when the response has between 1 and 300 whitespace-separated words, else 0; an "
        "empty response scores 0.",
        {"min": 1, "max": 300},
    ),
    Builtin(
        "latency_under",
        "Latency under 2 s",
        "latency_under",
        "1 when the workflow answered within 2000 ms, else 0; a missing latency is an error.",
        {"threshold_ms": 2000},
    ),
    Builtin("token_usage", "Token usage", "token_usage"),
    Builtin("chunk_usage", "Chunk usage", "chunk_usage"),
    Builtin("answer_grounded", "Answer grounded in context", "answer_grounded"),
    Builtin("tool_called", "Expected tool called", "tool_called"),
    Builtin("span_error_rate", "Span error rate", "span_error_rate"),
    # Span-level: bind them with a span_type (TRACE_SPAN_TYPE_TOOL / _LLM / _RETRIEVER) to
    # score each span.
    Builtin("span_tool_call_succeeded", "Tool call succeeded", "span_tool_call_succeeded"),
    Builtin(
        "span_tool_arguments_valid_json",
        "Tool arguments valid JSON",
        "span_tool_arguments_valid_json",
    ),
    Builtin(
        "span_tool_arguments_match_schema",
        "Tool arguments match a JSON Schema",
        "span_tool_arguments_match_schema",
        '1 for each tool span whose arguments are a JSON object (the schema {"type": '
        '"object"}), else 0; arguments that are not JSON score 0, a span without arguments '
        "is an error for that span. Make a version with your tools' schemas (schema, or "
        "schemas_by_tool: tool name -> schema) to check more.",
        {"schema": {"type": "object"}},
    ),
    Builtin(
        "span_retriever_chunk_relevance",
        "Retriever chunk relevance",
        "span_retriever_chunk_relevance",
    ),
    Builtin(
        "span_llm_latency_under",
        "LLM span latency under 5 s",
        "span_llm_latency_under",
        "1 for each LLM span that took at most 5000 ms, else 0.",
        {"max_ms": 5000},
    ),
    Builtin(
        "span_llm_tokens_under",
        "LLM span tokens under 4000",
        "span_llm_tokens_under",
        "1 for each LLM span using at most 4000 tokens (input + output), else 0; a span that "
        "does not report its tokens is an error for that span.",
        {"max_total_tokens": 4000},
    ),
)


def _definition(builtin: Builtin) -> dict:
    implementation = get_implementation(builtin.implementation)
    params, inputs = implementation.clean(dict(builtin.params), None)
    range_min, range_max = implementation.value_range(params)
    return {
        "metric": {
            "name": builtin.name,
            "description": builtin.description or implementation.description,
            "category": builtin.category or implementation.category,
            "metric_type": implementation.metric_type,
            "value_type": implementation.value_type,
            "range_min": range_min,
            "range_max": range_max,
            "inverted": implementation.inverted,
        },
        "version": {
            "implementation": builtin.implementation,
            "params": params,
            "inputs": inputs,
        },
    }


def ensure_builtin_metrics(metric_model=None, version_model=None) -> int:
    """Create or refresh the built-in metrics; returns how many metrics or versions were made.

    Migrations pass their historical models; everything else uses the real ones.
    """
    if metric_model is None or version_model is None:
        from metrics.models import Metric, MetricVersion

        metric_model, version_model = Metric, MetricVersion
    made = 0
    for rank, builtin in enumerate(CATALOGUE, start=1):
        definition = _definition(builtin)
        metric = metric_model.objects.filter(project=None, builtin_key=builtin.key).first()
        if metric is None:
            metric = metric_model.objects.create(
                project=None, builtin_key=builtin.key, rank=rank, **definition["metric"]
            )
            made += 1
        else:
            changed = [
                name
                for name, value in {**definition["metric"], "rank": rank}.items()
                if getattr(metric, name) != value
            ]
            if changed:
                for name in changed:
                    setattr(metric, name, {**definition["metric"], "rank": rank}[name])
                metric.save(update_fields=changed)
        latest = version_model.objects.filter(metric=metric).order_by("-number").first()
        wanted = definition["version"]
        if latest is None or any(getattr(latest, k) != v for k, v in wanted.items()):
            version_model.objects.create(
                metric=metric, number=(latest.number + 1 if latest else 1), **wanted
            )
            made += 1
    return made
