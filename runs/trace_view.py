"""A recorded trace's spans as a tree for the row drawer: each span with its depth, its
duration and its place on a waterfall (offset and width as percentages of the trace).

Span shapes vary (demo traces, OTLP-ingested traces, workflow-reported spans), so the field
names are read tolerantly: ``span_id``/``id``, ``parent_span_id``/``parent_id``, start as
``start_time``/``started_at``/``created_at`` (ISO text or Unix nanoseconds), end as
``end_time``/``ended_at``, or ``duration_ms``/``latency_ms``; nested ``children`` too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

MAX_SPANS = 500
START_KEYS = ("start_time", "started_at", "start_time_unix_nano", "created_at", "start")
END_KEYS = ("end_time", "ended_at", "end_time_unix_nano", "end")
DURATION_KEYS = ("duration_ms", "latency_ms")


def _ms(value: Any) -> float | None:
    """A timestamp as milliseconds since the epoch."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value / 1e6 if value > 1e14 else float(value)  # nanoseconds or milliseconds
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return _ms(int(text))
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000
        except ValueError:
            return None
    return None


def _first(span: dict, keys) -> Any:
    return next((span[k] for k in keys if span.get(k) is not None), None)


def spans_of(value: Any) -> list[dict]:
    """The spans inside a trace value: ``{"spans": [...]}`` or a list of spans."""
    if isinstance(value, dict):
        value = value.get("spans")
    if isinstance(value, list):
        return [s for s in value if isinstance(s, dict)]
    return []


def _flatten(spans: list[dict], parent=None, out=None) -> list[tuple[dict, Any]]:
    out = [] if out is None else out
    for span in spans:
        if len(out) >= MAX_SPANS:
            break
        out.append((span, parent))
        children = span.get("children")
        if isinstance(children, list):
            own = span.get("span_id") or span.get("id") or id(span)
            _flatten([c for c in children if isinstance(c, dict)], own, out)
    return out


def span_tree(spans: list[dict]) -> list[dict]:
    """Depth-first rows: ``name, type, depth, duration_ms, offset_pct, width_pct, input,
    output, status`` (children right after their parent)."""
    flat = _flatten(spans)
    nodes = []
    for index, (span, nested_parent) in enumerate(flat):
        own = span.get("span_id") or span.get("id") or id(span)
        parent = span.get("parent_span_id") or span.get("parent_id") or nested_parent
        start = _ms(_first(span, START_KEYS))
        end = _ms(_first(span, END_KEYS))
        duration = _first(span, DURATION_KEYS)
        if isinstance(duration, int | float) and not isinstance(duration, bool):
            duration = float(duration)
            if end is None and start is not None:
                end = start + duration
        elif start is not None and end is not None:
            duration = max(end - start, 0.0)
        else:
            duration = None
        nodes.append(
            {
                "key": own,
                "parent": parent,
                "order": index,
                "name": str(span.get("name") or span.get("type") or "span"),
                "type": str(span.get("type") or span.get("kind") or ""),
                "status": span.get("status"),
                "input": span.get("input", span.get("attributes")),
                "output": span.get("output"),
                "start": start,
                "end": end,
                "duration_ms": duration,
            }
        )
    by_key = {n["key"]: n for n in nodes}
    children: dict[Any, list[dict]] = {}
    roots = []
    for node in nodes:
        if node["parent"] in by_key and node["parent"] != node["key"]:
            children.setdefault(node["parent"], []).append(node)
        else:
            roots.append(node)
    starts = [n["start"] for n in nodes if n["start"] is not None]
    ends = [n["end"] for n in nodes if n["end"] is not None]
    origin = min(starts) if starts else None
    span = (max(ends) - origin) if starts and ends and max(ends) > origin else None
    ordered: list[dict] = []
    seen: set = set()

    def walk(node: dict, depth: int) -> None:
        if node["key"] in seen:  # a cycle in parent ids
            return
        seen.add(node["key"])
        node["depth"] = depth
        node["indent"] = min(depth, 12) * 1.1
        if span and node["start"] is not None:
            node["offset_pct"] = round(100 * (node["start"] - origin) / span, 2)
            width = (node["duration_ms"] or 0) / span * 100
            node["width_pct"] = round(max(min(width, 100 - node["offset_pct"]), 0.5), 2)
        else:
            node["offset_pct"], node["width_pct"] = None, None
        ordered.append(node)
        for child in sorted(children.get(node["key"], []), key=lambda n: n["order"]):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return ordered
