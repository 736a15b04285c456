"""Untrusted JSON in, safely: a nesting limit, and no NUL characters or lone surrogates.

PostgreSQL cannot store ``\\u0000`` in text or jsonb, a lone surrogate (``"\\ud800"``) cannot be
encoded as UTF-8 by either database driver or the page renderer, and deeply nested JSON makes
every recursive walker (the stdlib parser included) raise ``RecursionError``. Each of these is
refused with a message naming where it is (``items[3].data.question``), before anything is
stored: the API answers 400, forms show a field error, imports report the row.

``loads(text)`` parses and checks; ``check(value)`` checks an already parsed value (CSV rows,
query parameters, form values); ``SafeJSONParser`` is the DRF parser for every JSON endpoint.
"""

from __future__ import annotations

import json
import re

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

DEFAULT_MAX_DEPTH = 128
BAD_CHARACTER = re.compile("[\x00\ud800-\udfff]")


class UnsafeJSON(ValueError):
    def __init__(self, message: str, *, path: str = ""):
        super().__init__(message)
        self.message = message
        self.path = path


def max_depth() -> int:
    return int(getattr(settings, "EVALSITE_JSON_MAX_DEPTH", DEFAULT_MAX_DEPTH))


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None."""
    found = BAD_CHARACTER.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character (\\u0000), which cannot be stored"
    return f"contains a lone surrogate (\\u{ord(found.group()):04x}), which is not valid Unicode"


def _join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def check(value, *, path: str = "", depth_limit: int | None = None) -> None:
    """Raise ``UnsafeJSON`` naming the first bad place in ``value`` (iterative: no recursion)."""
    limit = max_depth() if depth_limit is None else depth_limit
    stack = [(value, path, 1)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                raise UnsafeJSON(f"{where or 'The value'} {problem}.", path=where)
        elif isinstance(item, dict | list):
            if depth > limit:
                raise UnsafeJSON(
                    f"{where or 'The JSON'} is nested more than {limit} levels deep.", path=where
                )
            if isinstance(item, dict):
                for key, child in item.items():
                    if isinstance(key, str):
                        problem = text_problem(key)
                        if problem:
                            shown = BAD_CHARACTER.sub("?", key)[:60]
                            name = _join(where, shown)
                            raise UnsafeJSON(f"The key {name} {problem}.", path=name)
                    stack.append((child, _join(where, key), depth + 1))
            else:
                stack.extend((child, _join(where, i), depth + 1) for i, child in enumerate(item))


def loads(text: str | bytes, *, path: str = ""):
    """``json.loads`` plus ``check``; raises ``UnsafeJSON`` (a ``ValueError``) for too-deep or
    unstorable JSON and ``json.JSONDecodeError`` for malformed JSON."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise UnsafeJSON(
            f"{path or 'The JSON'} is nested more than {max_depth()} levels deep.", path=path
        ) from None
    check(value, path=path)
    return value


class SafeJSONParser(JSONParser):
    """DRF's JSON parser with a body-size cap (also for chunked bodies without a length), a
    nesting limit and the NUL/surrogate check; every problem is a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = getattr(settings, "DATA_UPLOAD_MAX_MEMORY_SIZE", None) or 10 * 1024 * 1024
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise exceptions.ParseError(
                f"The request body is larger than {limit} bytes.", code="request_too_large"
            )
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise exceptions.ParseError(f"The body is not {encoding} text: {exc}") from None
        try:
            return loads(text)
        except UnsafeJSON as exc:
            if exc.path:
                raise exceptions.ValidationError({exc.path: [exc.message]}) from None
            raise exceptions.ParseError(exc.message) from None
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
