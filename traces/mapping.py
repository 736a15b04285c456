"""From OTLP spans to the trace-shaped rows datasets hold.

One span becomes a dict in the shape of Gradient's ``APIEvaluationTraceSpan`` (``name``,
``type``, ``input``, ``output``, ``created_at``, ``retriever_chunks``) plus what an
evaluation of production traces needs: ids, parent, timing, status, model, token counts,
tool call, and the attributes and events not already turned into fields.

The span's kind comes from OpenInference (``openinference.span.kind``), then the
OpenTelemetry GenAI conventions (``gen_ai.operation.name``), then OpenLLMetry
(``traceloop.span.kind``); prompts and completions from ``gen_ai.input.messages`` /
``gen_ai.output.messages``, the older ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*``
attributes, the GenAI message events, or OpenInference's ``llm.input_messages`` /
``llm.output_messages``; retrieved documents (``retrieval.documents``) become chunks.

A trace becomes one row: ``input``, ``output``, ``status``, ``trace_id`` and ``trace`` (its
spans in start order, with totals), rebuilt whenever more of its spans arrive.
"""

from __future__ import annotations

import base64
import json
import math
import re
from datetime import UTC, datetime

import orjson

from evalsite import safe_json

SPAN_LLM = "TRACE_SPAN_TYPE_LLM"
SPAN_RETRIEVER = "TRACE_SPAN_TYPE_RETRIEVER"
SPAN_TOOL = "TRACE_SPAN_TYPE_TOOL"
SPAN_UNKNOWN = "TRACE_SPAN_TYPE_UNKNOWN"
TYPE_BY_KIND = {"LLM": SPAN_LLM, "RETRIEVER": SPAN_RETRIEVER, "TOOL": SPAN_TOOL}

# gen_ai.operation.name -> the OpenInference kind it corresponds to.
KIND_BY_OPERATION = {
    "chat": "LLM",
    "text_completion": "LLM",
    "generate_content": "LLM",
    "completion": "LLM",
    "embeddings": "EMBEDDING",
    "execute_tool": "TOOL",
    "invoke_agent": "AGENT",
    "create_agent": "AGENT",
    "retrieval": "RETRIEVER",
}
KIND_BY_TRACELOOP = {
    "llm": "LLM",
    "tool": "TOOL",
    "agent": "AGENT",
    "workflow": "CHAIN",
    "task": "CHAIN",
}
KINDS = {
    "LLM",
    "RETRIEVER",
    "TOOL",
    "CHAIN",
    "AGENT",
    "EMBEDDING",
    "RERANKER",
    "GUARDRAIL",
    "EVALUATOR",
    "PROMPT",
}
MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
# Attributes turned into span fields; they are not repeated under ``attributes``.
CONSUMED_PREFIXES = (
    "llm.input_messages.",
    "llm.output_messages.",
    "retrieval.documents.",
    "gen_ai.prompt.",
    "gen_ai.completion.",
)
CONSUMED_KEYS = {
    "input.value",
    "input.mime_type",
    "output.value",
    "output.mime_type",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "openinference.span.kind",
}
STATUS_ERROR = 2
STATUS_OK = 1
MAX_KEY_DEPTH = 12  # levels of a flattened attribute key turned into nesting
_RISKY_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_SURROGATE = re.compile("[\ud800-\udfff]")


# Values ----------------------------------------------------------------------------------


def clean(text: str) -> str:
    """PostgreSQL's jsonb refuses NUL characters; nothing else needs changing."""
    return text.replace("\x00", "") if "\x00" in text else text


def any_value(value):
    """An OTLP ``AnyValue`` as plain JSON."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return clean(value.string_value)
    if which == "bool_value":
        return value.bool_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        number = value.double_value
        return number if math.isfinite(number) else str(number)
    if which == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return key_values(value.kvlist_value.values)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def key_values(pairs) -> dict:
    return {clean(pair.key): any_value(pair.value) for pair in pairs}


def iso_from_nanos(nanos: int) -> str | None:
    if not nanos:
        return None
    seconds, rest = divmod(nanos, 1_000_000_000)
    m = datetime.fromtimestamp(seconds, tz=UTC)
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        f".{rest // 1000:06d}Z"
    )


def _nanos_from_iso(text) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def _scrub(value):
    """``value`` with NUL characters dropped and lone surrogates replaced (what JSON escapes
    such as ``\\u0000`` or ``\\ud800`` decode to, and what no database stores)."""
    if isinstance(value, str):
        value = clean(value)
        if _SURROGATE.search(value):
            value = _SURROGATE.sub("\ufffd", value)
        return value
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    if isinstance(value, dict):
        return {_scrub(key): _scrub(item) for key, item in value.items()}
    return value


def _deeper_than(value, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` levels (iteratively: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _finite_float(text: str):
    number = float(text)
    return number if math.isfinite(number) else text


def _maybe_json(value, mime: str | None = None):
    """Decode a JSON string when it is declared or looks like JSON; otherwise as is.

    NaN and Infinity stay text (JSON columns refuse them); JSON nested deeper than
    ``EVALSITE_JSON_MAX_DEPTH`` (what evalsite accepts anywhere) stays the string it was.
    """
    if not isinstance(value, str):
        return value
    stripped = value.strip()
    declared = bool(mime) and "json" in mime
    if declared or (stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]")):
        try:
            decoded = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            # What orjson refuses (NaN, overflowing numbers, lone surrogates): the slower
            # decoder keeps such numbers as text; anything still invalid stays a string.
            try:
                decoded = json.loads(stripped, parse_constant=str, parse_float=_finite_float)
            except (ValueError, RecursionError):
                return value
        limit = safe_json.max_depth()
        if stripped.count("[") + stripped.count("{") > limit and _deeper_than(decoded, limit):
            return value
        return _scrub(decoded) if _RISKY_ESCAPE.search(stripped) else decoded
    return value


def _int(value) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def unflatten(attributes: dict, prefix: str) -> list:
    """``prefix.0.message.role`` style keys as a list of nested dicts (OpenInference and
    OpenLLMetry flatten lists of objects into attributes this way)."""
    tree: dict = {}
    for key, value in attributes.items():
        if not key.startswith(prefix):
            continue
        node = tree
        parts = key[len(prefix) :].split(".", MAX_KEY_DEPTH)
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return _as_lists(tree) if tree else []


def _as_lists(node):
    if not isinstance(node, dict):
        return node
    converted = {key: _as_lists(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


# Messages, documents ---------------------------------------------------------------------


def _message(entry) -> dict | None:
    if not isinstance(entry, dict):
        return None
    inner = entry.get("message") if isinstance(entry.get("message"), dict) else entry
    message = {}
    role = inner.get("role")
    if role is not None:
        message["role"] = role
    content = inner.get("content")
    if content is None and isinstance(inner.get("parts"), list):
        texts = [p.get("content") for p in inner["parts"] if isinstance(p, dict)]
        content = "\n".join(t for t in texts if isinstance(t, str)) or None
        calls = [p for p in inner["parts"] if isinstance(p, dict) and p.get("type") == "tool_call"]
        if calls:
            message["tool_calls"] = calls
    if content is None and isinstance(inner.get("contents"), list):
        texts = [
            c["message_content"].get("text")
            for c in inner["contents"]
            if isinstance(c, dict) and isinstance(c.get("message_content"), dict)
        ]
        content = "\n".join(t for t in texts if isinstance(t, str)) or None
    if content is not None:
        message["content"] = content
    for key in ("tool_calls", "tool_call_id", "name", "finish_reason"):
        if key in inner and key not in message:
            message[key] = inner[key]
    return message or None


def _messages(raw) -> list[dict]:
    raw = _maybe_json(raw)
    if isinstance(raw, dict):
        raw = raw.get("messages", [raw])
    if not isinstance(raw, list):
        return []
    return [m for m in (_message(entry) for entry in raw) if m]


def _event_messages(events: list[dict]) -> tuple[list[dict], list[dict], set[int]]:
    """Prompt and completion messages carried by GenAI events; and which events they were."""
    prompt, completion, used = [], [], set()
    for index, event in enumerate(events):
        name, attrs = event["name"], event["attributes"]
        if name in MESSAGE_EVENTS:
            message = {"role": attrs.get("role") or MESSAGE_EVENTS[name]}
            content = _maybe_json(attrs.get("content"))
            if content is not None:
                message["content"] = content
            for key in ("tool_calls", "id"):
                if key in attrs:
                    message[key] = _maybe_json(attrs[key])
            prompt.append(message)
            used.add(index)
        elif name == "gen_ai.choice":
            body = _maybe_json(attrs.get("message"))
            message = _message(body) if isinstance(body, dict) else None
            message = message or {"role": "assistant"}
            if "content" in attrs and "content" not in message:
                message["content"] = attrs["content"]
            if attrs.get("finish_reason"):
                message["finish_reason"] = attrs["finish_reason"]
            completion.append(message)
            used.add(index)
        elif name == "gen_ai.content.prompt":
            prompt.extend(_messages(attrs.get("gen_ai.prompt")))
            used.add(index)
        elif name == "gen_ai.content.completion":
            completion.extend(_messages(attrs.get("gen_ai.completion")))
            used.add(index)
    return prompt, completion, used


def message_text(messages: list[dict], *, role: str | None = None) -> str | None:
    """The content of the last message (of ``role``), as text."""
    for message in reversed(messages):
        if role and message.get("role") not in (role, None):
            continue
        content = message.get("content")
        if content is None:
            continue
        return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    return None


def _chunks(attributes: dict) -> list[dict]:
    chunks = []
    for entry in unflatten(attributes, "retrieval.documents."):
        if not isinstance(entry, dict):
            continue
        document = entry.get("document") if isinstance(entry.get("document"), dict) else entry
        metadata = _maybe_json(document.get("metadata"))
        metadata = metadata if isinstance(metadata, dict) else {}
        text = document.get("content", "")
        source = next(
            (
                metadata[key]
                for key in ("source_name", "source", "title", "file_name", "filename", "url")
                if metadata.get(key)
            ),
            document.get("id", ""),
        )
        chunk = {
            "text": text if isinstance(text, str) else json.dumps(text, ensure_ascii=False),
            "source_name": str(source or ""),
            "index_uuid": str(metadata.get("index_uuid") or metadata.get("index_id") or ""),
        }
        if document.get("id") is not None:
            chunk["document_id"] = str(document["id"])
        if isinstance(document.get("score"), int | float):
            chunk["score"] = document["score"]
        if metadata:
            chunk["metadata"] = metadata
        chunks.append(chunk)
    return chunks


# Spans -----------------------------------------------------------------------------------


def span_kind(attributes: dict) -> str:
    kind = attributes.get("openinference.span.kind")
    if isinstance(kind, str) and kind.strip():
        kind = kind.strip().upper()
        return kind if kind in KINDS else "UNKNOWN"
    operation = attributes.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation.strip():
        return KIND_BY_OPERATION.get(operation.strip().lower(), "UNKNOWN")
    traceloop = attributes.get("traceloop.span.kind")
    if isinstance(traceloop, str) and traceloop.strip():
        return KIND_BY_TRACELOOP.get(traceloop.strip().lower(), "UNKNOWN")
    if attributes.get("gen_ai.request.model") or attributes.get("llm.model_name"):
        return "LLM"
    if any(key.startswith("retrieval.documents.") for key in attributes):
        return "RETRIEVER"
    return "UNKNOWN"


def _first(attributes: dict, *names):
    for name in names:
        value = attributes.get(name)
        if value not in (None, ""):
            return value
    return None


def span_dict(span) -> dict:
    """One OTLP ``Span`` message as the stored span dict."""
    attributes = key_values(span.attributes)
    events = [
        {
            "name": clean(event.name),
            "time": iso_from_nanos(event.time_unix_nano),
            "attributes": key_values(event.attributes),
        }
        for event in span.events
    ]
    kind = span_kind(attributes)
    span_type = TYPE_BY_KIND.get(kind, SPAN_UNKNOWN)
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    out: dict = {
        "span_id": span.span_id.hex(),
        "parent_span_id": span.parent_span_id.hex(),
        "name": clean(span.name),
        "type": span_type,
        "kind": kind,
        "created_at": iso_from_nanos(start),
        "ended_at": iso_from_nanos(end),
        "latency_ms": round((end - start) / 1e6, 3) if start and end >= start else None,
    }

    in_mime = attributes.get("input.mime_type")
    out_mime = attributes.get("output.mime_type")
    raw_input = _maybe_json(attributes.get("input.value"), in_mime if in_mime else None)
    raw_output = _maybe_json(attributes.get("output.value"), out_mime if out_mime else None)

    flattened = any(key.startswith(CONSUMED_PREFIXES) for key in attributes)
    prompt = _messages(attributes.get("gen_ai.input.messages"))
    completion = _messages(attributes.get("gen_ai.output.messages"))
    if flattened:
        prompt = prompt or _messages(unflatten(attributes, "llm.input_messages."))
        prompt = prompt or _messages(unflatten(attributes, "gen_ai.prompt."))
        completion = completion or _messages(unflatten(attributes, "llm.output_messages."))
        completion = completion or _messages(unflatten(attributes, "gen_ai.completion."))
    event_prompt, event_completion, used_events = _event_messages(events)
    prompt = prompt or event_prompt
    completion = completion or event_completion
    system = _maybe_json(attributes.get("gen_ai.system_instructions"))
    if system and not any(m.get("role") == "system" for m in prompt):
        text = system if isinstance(system, str) else message_text(_messages(system))
        if text:
            prompt.insert(0, {"role": "system", "content": text})

    span_input, span_output = raw_input, raw_output
    if prompt:
        span_input = {"messages": prompt}
    if completion:
        span_output = {"text": message_text(completion), "messages": completion}
    elif span_type == SPAN_LLM and isinstance(raw_output, str):
        span_output = {"text": raw_output}

    if span_type == SPAN_TOOL or "gen_ai.tool.name" in attributes:
        arguments = _first(attributes, "gen_ai.tool.call.arguments", "tool.parameters")
        if arguments is None and isinstance(attributes.get("input.value"), str):
            arguments = attributes["input.value"]
        tool = {"name": _first(attributes, "gen_ai.tool.name", "tool.name") or out["name"]}
        call_id = _first(attributes, "gen_ai.tool.call.id", "tool_call.id")
        if call_id is not None:
            tool["call_id"] = call_id
        if arguments is not None:
            tool["arguments"] = (
                arguments
                if isinstance(arguments, str)
                else json.dumps(arguments, ensure_ascii=False)
            )
            if span_input is None or "gen_ai.tool.call.arguments" in attributes:
                span_input = _maybe_json(arguments)
        result = attributes.get("gen_ai.tool.call.result")
        if result is not None:
            span_output = _maybe_json(result)
        out["tool"] = tool

    chunks = _chunks(attributes) if flattened else []
    if span_type == SPAN_RETRIEVER:
        if isinstance(span_input, str):
            span_input = {"query": span_input}
        if span_output is None or span_output == raw_output:
            span_output = {"documents": len(chunks)} if raw_output is None else raw_output
    out["input"] = span_input
    out["output"] = span_output
    out["retriever_chunks"] = chunks

    model = _first(attributes, "gen_ai.request.model", "gen_ai.response.model", "llm.model_name")
    if model is not None:
        out["model"] = model
    input_tokens = _int(
        _first(
            attributes,
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.prompt_tokens",
            "llm.token_count.prompt",
        )
    )
    output_tokens = _int(
        _first(
            attributes,
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion",
        )
    )
    if input_tokens is not None:
        out["input_tokens"] = input_tokens
    if output_tokens is not None:
        out["output_tokens"] = output_tokens

    status_code = span.status.code
    out["status"] = "error" if status_code == STATUS_ERROR else "ok"
    if status_code == STATUS_ERROR:
        message = clean(span.status.message)
        if not message:
            for event in events:
                if event["name"] == "exception":
                    message = str(event["attributes"].get("exception.message") or "")
                    break
        out["error"] = message or "error"

    out["attributes"] = {
        key: value
        for key, value in attributes.items()
        if key not in CONSUMED_KEYS and not key.startswith(CONSUMED_PREFIXES)
    }
    kept = [event for index, event in enumerate(events) if index not in used_events]
    if kept:
        out["events"] = kept
    return out


# Traces ----------------------------------------------------------------------------------


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if isinstance(value.get("text"), str):
            return value["text"]
        if isinstance(value.get("messages"), list):
            text = message_text(value["messages"], role="user") or message_text(value["messages"])
            if text is not None:
                return text
        if len(value) == 1:
            return _as_text(next(iter(value.values())))
    return json.dumps(value, ensure_ascii=False)


def _root(spans: list[dict]) -> dict | None:
    ids = {span.get("span_id") for span in spans}
    for span in spans:
        if not span.get("parent_span_id"):
            return span
    for span in spans:
        if span.get("parent_span_id") not in ids:
            return span
    return spans[0] if spans else None


def _sort_key(span: dict):
    return (str(span.get("created_at") or ""), str(span.get("span_id") or ""))


def trace_row(trace_id: str, spans: list[dict], *, service_name: str = "") -> dict:
    """The dataset row of one trace from all of its spans received so far."""
    spans = sorted(spans, key=_sort_key)
    root = _root(spans)
    llm_spans = [span for span in spans if span.get("type") == SPAN_LLM]
    text_in = _as_text(root.get("input")) if root else ""
    if not text_in and llm_spans:
        text_in = _as_text(llm_spans[0].get("input"))
    text_out = _as_text(root.get("output")) if root else ""
    if not text_out and llm_spans:
        text_out = _as_text(llm_spans[-1].get("output"))
    if root is not None and not root.get("parent_span_id"):
        failed = root.get("status") == "error"
    else:
        failed = any(span.get("status") == "error" for span in spans)
    starts = [n for n in (_nanos_from_iso(s.get("created_at")) for s in spans) if n]
    ends = [n for n in (_nanos_from_iso(s.get("ended_at")) for s in spans) if n]
    stamps = [s["created_at"] for s in spans if isinstance(s.get("created_at"), str)]
    finals = [s["ended_at"] for s in spans if isinstance(s.get("ended_at"), str)]
    chunks = [
        chunk
        for span in spans
        if isinstance(span.get("retriever_chunks"), list)
        for chunk in span["retriever_chunks"]
    ]
    trace = {
        "name": root.get("name", "") if root else "",
        "root_span_id": root.get("span_id", "") if root and not root.get("parent_span_id") else "",
        "service_name": service_name,
        "started_at": min(stamps, default=None),
        "ended_at": max(finals, default=None),
        "latency_ms": round((max(ends) - min(starts)) / 1e6, 3) if starts and ends else None,
        "input_tokens": sum(_int(s.get("input_tokens")) or 0 for s in spans),
        "output_tokens": sum(_int(s.get("output_tokens")) or 0 for s in spans),
        "span_count": len(spans),
        "chunks": chunks,
        "spans": spans,
    }
    errors = [s.get("error") for s in spans if s.get("status") == "error"]
    if errors:
        trace["error"] = errors[0]
    return {
        "input": text_in,
        "output": text_out,
        "status": "error" if failed else "ok",
        "trace_id": trace_id,
        "trace": trace,
    }


def merge_spans(existing: list[dict], incoming: list[dict]) -> tuple[list[dict], int]:
    """``existing`` plus the spans of ``incoming`` not already there (by span id); and how
    many were duplicates."""
    seen = {span.get("span_id") for span in existing}
    merged = list(existing)
    duplicates = 0
    for span in incoming:
        if span["span_id"] in seen:
            duplicates += 1
            continue
        seen.add(span["span_id"])
        merged.append(span)
    return merged, duplicates
