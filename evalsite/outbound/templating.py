"""``{{name}}`` templates: the one rendering rule for agent bodies, prompts and judge rubrics.

In text, a placeholder becomes the value's text: a string as it is, ``None`` (or a missing
name) as the empty string unless the caller supplies a stand-in, a whole-number float as an
integer (``3.0`` -> ``3``), anything else as compact JSON (non-ASCII kept). In a JSON body
template, a string that is exactly one placeholder becomes the value itself, with its JSON
type; the structure is walked, never built by string concatenation.
"""

from __future__ import annotations

import json
import re

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def text_of(value, *, missing: str = "") -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return missing
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, ensure_ascii=False, default=str)


def render_text(template: str, values: dict, *, missing: str = "") -> str:
    return PLACEHOLDER.sub(lambda m: text_of(values.get(m.group(1)), missing=missing), template)


def render_json(template, values: dict):
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template.strip())
        if whole:
            return values.get(whole.group(1))
        return render_text(template, values)
    if isinstance(template, list):
        return [render_json(item, values) for item in template]
    if isinstance(template, dict):
        return {key: render_json(value, values) for key, value in template.items()}
    return template


def placeholders(template) -> set[str]:
    """Every placeholder name used anywhere in ``template`` (str, list or dict)."""
    if isinstance(template, str):
        return set(PLACEHOLDER.findall(template))
    if isinstance(template, list):
        return set().union(*(placeholders(item) for item in template)) if template else set()
    if isinstance(template, dict):
        return set().union(*(placeholders(v) for v in template.values())) if template else set()
    return set()


def template_variables(template: str) -> list[str]:
    """Placeholder names in order of first use."""
    return list(dict.fromkeys(PLACEHOLDER.findall(template)))
