"""Reading a score out of an LLM judge's reply, strictly.

A judge is asked for ``{"score": <number>, "reasoning": "<text>"}``. The score is taken only
from a JSON object found in the reply, and only when the reply holds exactly one:

- the whole reply, a fenced block (```json ... ``` or ``` ... ```) or an object embedded in
  prose are all read the same way: every top-level ``{...}`` that decodes as strict JSON
  (no ``NaN``/``Infinity``, no duplicate keys) counts; objects nested inside it do not; text
  that starts like an object (``{"``) but does not decode makes the reply an error, and so
  does a reply (or fenced block) that is a JSON array, even one holding an object;
- the object must have a top-level ``"score"`` key whose value is a JSON number (not a
  boolean, not a string such as ``"4"``, not a list or object), finite, and inside the
  declared ``[score_min, score_max]`` range (both ends included);
- ``"reasoning"`` (or ``reason``/``explanation``/``rationale``) is kept when it is text
  (with the given secrets redacted).

Anything else — no object, several objects, a bare number, a score outside the range — is an
error that quotes the raw reply (truncated, with the judge's API key and other given secrets
redacted). A number is never pulled out of prose: "Step 1/3" is not a score of 1, and
"published on 2024/11/22" is not 2024.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from evalsite.outbound.secrets import MASK, scrub

SCORE_KEY = "score"
REASONING_KEYS = ("reasoning", "reason", "explanation", "rationale")
QUOTE_CHARS = 500
REDACTED = MASK


@dataclass(frozen=True, slots=True)
class JudgeReading:
    """What a judge's reply says: a score (and reasoning), or why there is none."""

    score: float | None = None
    reasoning: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _NotStrictJson(ValueError):
    pass


def _refuse_constant(name: str):
    raise _NotStrictJson(f"{name} is not JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise _NotStrictJson(f"duplicate key {key!r}")
        result[key] = value
    return result


_DECODER = json.JSONDecoder(
    parse_constant=_refuse_constant, object_pairs_hook=_no_duplicate_keys, strict=True
)


_OBJECT_START = re.compile(r'\{\s*(?:"|\})')


def _objects(text: str) -> tuple[list[dict], int]:
    """Every top-level JSON object in ``text``, in order (fences and prose around them are
    skipped; an object inside a decoded object is part of it, not another one), and how many
    places start like a JSON object (``{"``) but do not decode as strict JSON."""
    found: list[dict] = []
    malformed = 0
    index = text.find("{")
    while index != -1:
        try:
            value, end = _DECODER.raw_decode(text, index)
        except (ValueError, RecursionError):
            if _OBJECT_START.match(text, index):
                malformed += 1
            index = text.find("{", index + 1)
            continue
        found.append(value)
        index = text.find("{", end)
    return found, malformed


def _redact(text: str, secrets: Iterable[str]) -> str:
    # The outbound layer's scrub: one mask for every secret, whatever stored it.
    return scrub(text, [secret for secret in secrets if secret])


def quote(content: str, redact: Iterable[str] = ()) -> str:
    """The reply as it may appear in an error: secrets replaced, at most QUOTE_CHARS long."""
    content = _redact(content, redact).strip()
    if len(content) > QUOTE_CHARS:
        content = content[:QUOTE_CHARS] + f"… ({len(content)} characters)"
    return content


def _range_text(low: float, high: float) -> str:
    return f"[{low:g}, {high:g}]"


def parse_judge_reply(
    content: str, *, score_min: float, score_max: float, redact: Iterable[str] = ()
) -> JudgeReading:
    """Read ``content`` (the judge's message text) under the rules in the module docstring."""
    redact = tuple(redact)
    if not isinstance(content, str) or not content.strip():
        return JudgeReading(error="Judge reply is empty.")

    def fail(problem: str) -> JudgeReading:
        return JudgeReading(error=f"{problem} Reply: {quote(content, redact)}")

    wrapped = _non_object_json(content)
    if wrapped:
        return fail(
            f"Could not find a score in the judge's reply: its JSON is {wrapped}, not an object."
        )
    objects, malformed = _objects(content)
    if malformed:
        return fail(
            "Could not find a score in the judge's reply: it holds JSON that does not parse "
            "(strict JSON: no NaN/Infinity, no duplicate keys, no trailing commas)."
        )
    if not objects:
        return fail(
            "Could not find a score in the judge's reply: it holds no JSON object "
            '(expected {"score": <number>, "reasoning": "..."}).'
        )
    if len(objects) > 1:
        return fail(
            f"Could not find a score in the judge's reply: it holds {len(objects)} JSON "
            "objects, so the score is ambiguous."
        )
    data = objects[0]
    if SCORE_KEY not in data:
        return fail('Could not find a score in the judge\'s reply: its JSON has no "score" key.')
    raw = data[SCORE_KEY]
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        kind = "a boolean" if isinstance(raw, bool) else f"a JSON {_json_kind(raw)}"
        return fail(
            f'Could not find a score in the judge\'s reply: "score" is {kind}, not a number.'
        )
    try:
        score = float(raw)
    except OverflowError:
        score = math.inf
    if not math.isfinite(score):
        return fail("Could not find a score in the judge's reply: the score is not finite.")
    if not score_min <= score <= score_max:
        return fail(
            f"Judge gave score {score:g}, outside the range {_range_text(score_min, score_max)}."
        )
    reasoning = next((data[k] for k in REASONING_KEYS if isinstance(data.get(k), str)), None)
    if reasoning is not None:
        reasoning = _redact(reasoning, redact)
    return JudgeReading(score=score, reasoning=reasoning)


_FENCE = re.compile(r"```[A-Za-z]*[ \t]*\n?(.*?)```", re.DOTALL)


def _non_object_json(content: str) -> str | None:
    """When the reply (or a fenced block in it) is JSON but not an object — e.g. an array
    holding the object — what it is; such a reply is refused rather than searched."""
    for candidate in [content, *_FENCE.findall(content)]:
        candidate = candidate.strip()
        if not candidate.startswith("["):
            continue
        try:
            value = _DECODER.decode(candidate)
        except (ValueError, RecursionError):
            continue
        if not isinstance(value, dict):
            return f"a JSON {_json_kind(value)}"
    return None


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
