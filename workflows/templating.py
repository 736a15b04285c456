"""Filling templates with workflow inputs, and reading values out of responses by JSONPath.

Templates use ``{{name}}`` placeholders. In a JSON body template a string that is exactly one
placeholder becomes the input's value with its JSON type (numbers stay numbers, objects stay
objects); a placeholder inside a longer string is replaced by the value's text. The structure
is walked, never built by string concatenation, so values are always correctly encoded.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from django.core.exceptions import ValidationError
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse as jsonpath_parse

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _text(value) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def fill_text(template: str, inputs: dict) -> str:
    return PLACEHOLDER.sub(lambda m: _text(inputs.get(m.group(1))), template)


def fill_json(template, inputs: dict):
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template.strip())
        if whole:
            return inputs.get(whole.group(1))
        return fill_text(template, inputs)
    if isinstance(template, list):
        return [fill_json(item, inputs) for item in template]
    if isinstance(template, dict):
        return {key: fill_json(value, inputs) for key, value in template.items()}
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


@lru_cache(maxsize=512)
def compile_path(path: str):
    """A compiled JSONPath; raises ``ValidationError`` for a malformed one."""
    if not isinstance(path, str) or not path.strip().startswith("$"):
        raise ValidationError(f"{path!r} is not a JSONPath (it must start with $).")
    try:
        return jsonpath_parse(path.strip())
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:
        raise ValidationError(f"{path!r} is not a valid JSONPath: {exc}") from exc


def find_all(path, data) -> tuple[bool, object]:
    """(found, value): one match gives its value, several give the list of values."""
    expr = compile_path(path) if isinstance(path, str) else path
    matches = [m.value for m in expr.find(data)]
    if not matches:
        return False, None
    return True, matches[0] if len(matches) == 1 else matches
