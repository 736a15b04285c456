"""Template helpers for the runs pages: score cells, durations, JSON and sort links."""

from __future__ import annotations

import json

from django import template

register = template.Library()


@register.filter
def score_of(row, binding):
    """The result cell of ``binding`` in a results-table row (None when not scored)."""
    return row.score(binding.id)


@register.filter
def number(value, digits: int = 3):
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        if float(value).is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.{int(digits)}g}" if abs(value) >= 1000 else f"{value:.{int(digits)}f}"
    return str(value)


@register.filter
def signed(value, digits: int = 3):
    if value is None:
        return "—"
    return f"{value:+.{int(digits)}f}"


@register.filter
def pvalue(value):
    """``= 0.034``, ``= 0.0021``, ``< 0.0001`` (the Monte Carlo test's floor is 1/10,000)."""
    if value is None:
        return "—"
    if value < 0.0001:
        return "< 0.0001"
    if value < 0.01:
        return f"= {value:.2g}"
    return "= " + (f"{value:.3f}".rstrip("0").rstrip(".") or "0")


@register.filter
def duration(seconds):
    """``3h 02m``, ``4m 10s``, ``12s``."""
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


@register.filter
def pretty_json(value):
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@register.filter
def short(value, length: int = 80):
    """A value as one short line of text, for table cells."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= int(length) else text[: int(length) - 1] + "…"


@register.filter
def get(mapping, key):
    if isinstance(mapping, dict):
        return mapping.get(key)
    return None


@register.simple_tag
def sort_link(current: str, key: str) -> str:
    """The sort value a header link should ask for: toggles the direction of ``key``."""
    if current == key:
        return f"-{key}"
    return key


@register.simple_tag
def aria_sort(current: str, key: str) -> str:
    if current == key:
        return "ascending"
    if current == f"-{key}":
        return "descending"
    return "none"
