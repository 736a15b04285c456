"""Reading values out of agent responses by JSONPath.

``{{name}}`` templates are rendered by ``evalsite.outbound.templating`` (one rule for agent
bodies, prompts and judge rubrics); ``placeholders`` is re-exported from there.
"""

from __future__ import annotations

from functools import lru_cache

from django.core.exceptions import ValidationError
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse as jsonpath_parse

from evalsite.outbound.templating import PLACEHOLDER, placeholders

__all__ = ["PLACEHOLDER", "compile_path", "find_all", "placeholders"]


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
