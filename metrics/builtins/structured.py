"""Deterministic metrics over structured values: JSON validity, JSON Schema, JSON equality,
numeric closeness, latency under a threshold, token usage."""

from __future__ import annotations

import json
import math
import unicodedata

import jsonschema
from django.core.exceptions import ValidationError

from metrics.params import Param
from metrics.registry import NUMBER_RULE, Implementation, MetricInputError, as_number, inp, register
from metrics.scoring import MetricOutcome

RESPONSE = inp("response", "The value to check (text holding JSON, or a JSON value).")


def _binary(ok: bool, reasoning: str | None = None) -> MetricOutcome:
    return MetricOutcome(number_value=1.0 if ok else 0.0, reasoning=reasoning)


class _NotJson(ValueError):
    pass


def _refuse_constant(name: str):
    raise _NotJson(f"{name} is not valid JSON (RFC 8259 has no NaN or Infinity)")


def strict_loads(text: str):
    """``json.loads`` without the Python extensions: NaN, Infinity and -Infinity are refused
    (numbers too large for a float, like 1e999, are refused too)."""
    value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotJson(f"{text[:40]} is out of range for a number")
    return value


def _problem(text: str) -> str | None:
    """Why ``text`` is not strict JSON, or None when it is."""
    try:
        strict_loads(text)
    except json.JSONDecodeError as exc:
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}."
    except ValueError as exc:  # NaN/Infinity, an out-of-range float, a 5,000-digit integer
        return f"{exc}."
    except RecursionError:
        return "Nested too deeply."
    return None


def _is_strict_value(value) -> bool:
    """A value already decoded (e.g. an agent's JSON output) that is valid JSON data."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def _parse(value, name: str):
    """A JSON value: strings are parsed strictly, other values taken as they are."""
    if isinstance(value, str):
        problem = _problem(value)
        if problem:
            raise MetricInputError(f"Input {name} is not valid JSON: {problem}")
        return strict_loads(value)
    if not _is_strict_value(value):
        raise MetricInputError(f"Input {name} is not valid JSON data (NaN or Infinity).")
    return value


def json_same(a, b) -> bool:
    """JSON equality: objects ignore key order, arrays keep it, numbers compare by value
    (1 == 1.0), booleans and null are their own types (true != 1, false != 0, null != 0),
    strings and keys compare after NFC normalisation."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return _nfc(a) == _nfc(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        left = {_nfc(k): v for k, v in a.items()}
        right = {_nfc(k): v for k, v in b.items()}
        return left.keys() == right.keys() and all(json_same(left[k], right[k]) for k in left)
    return a is None and b is None


def _nfc(text: str) -> str:
    return text if text.isascii() else unicodedata.normalize("NFC", text)


@register
class JsonValid(Implementation):
    key = "json_valid"
    label = "JSON valid"
    description = (
        "1 when the response is strict JSON (RFC 8259), else 0: any JSON value, surrounded by "
        "whitespace or not; NaN, Infinity, single quotes, trailing commas, comments and empty "
        "text are invalid. A response that is already a JSON value (not text) is valid."
    )
    inputs = (RESPONSE,)
    category = "METRIC_CATEGORY_MODEL_FIT"

    def score(self, inputs: dict) -> MetricOutcome:
        value = inputs["response"]
        if not isinstance(value, str):
            if not _is_strict_value(value):
                return _binary(False, "Not JSON data (NaN or Infinity).")
            return _binary(True, "Already a JSON value.")
        problem = _problem(value)
        return _binary(problem is None, problem)


def schema_problem(schema) -> str | None:
    """Why ``schema`` is not a usable JSON Schema, or None."""
    if not isinstance(schema, dict | bool):
        return "A JSON Schema must be an object."
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"Invalid JSON Schema: {exc.message}"
    return None


def schema_mismatch(validator, value) -> str | None:
    """Where and why ``value`` fails ``validator`` (the most relevant error), or None."""
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{where}: {error.message}"


@register
class JsonSchemaValid(Implementation):
    key = "json_schema_valid"
    label = "JSON schema valid"
    description = (
        "1 when the response is strict JSON (no NaN/Infinity) that validates against the "
        "JSON Schema (draft 2020-12 unless the schema names another), else 0; the reasoning "
        "names the first failing path. Text that is not JSON scores 0; an invalid schema is "
        "refused when the metric is saved (or is a row error when it comes from an input)."
    )
    inputs = (RESPONSE, inp("schema", "A JSON Schema (instead of the parameter).", False))
    params = (Param("schema", "json", help="A JSON Schema (draft 2020-12 unless $schema)."),)
    category = "METRIC_CATEGORY_MODEL_FIT"

    @classmethod
    def validate(cls, params: dict, inputs: list[dict]) -> None:
        if params.get("schema") is not None:
            problem = schema_problem(params["schema"])
            if problem:
                raise ValidationError({"params.schema": [problem]})

    def setup(self) -> None:
        schema = self.p.get("schema")
        self.validator = (
            None if schema is None else jsonschema.validators.validator_for(schema)(schema)
        )

    def score(self, inputs: dict) -> MetricOutcome:
        validator = self.validator
        if inputs.get("schema") is not None:
            schema = _parse(inputs["schema"], "schema")
            problem = schema_problem(schema)
            if problem:
                raise MetricInputError(problem)
            validator = jsonschema.validators.validator_for(schema)(schema)
        if validator is None:
            raise MetricInputError("Set the schema parameter or map the schema input.")
        try:
            value = _parse(inputs["response"], "response")
        except MetricInputError as exc:
            return _binary(False, str(exc))
        problem = schema_mismatch(validator, value)
        return _binary(problem is None, problem)


@register
class JsonEqual(Implementation):
    key = "json_equal"
    label = "JSON equal"
    description = (
        "1 when response and expected are the same JSON value, else 0. Text is parsed as "
        "strict JSON; object key order is ignored, array order is not; numbers compare by "
        "value (1 equals 1.0); true, false and null are not numbers (true is not 1); strings "
        "compare after NFC. A response that is not valid JSON scores 0; an expected value "
        "that is not valid JSON is an error."
    )
    inputs = (RESPONSE, inp("expected", "The expected JSON value (or text holding it)."))

    def score(self, inputs: dict) -> MetricOutcome:
        expected = _parse(inputs["expected"], "expected")
        try:
            response = _parse(inputs["response"], "response")
        except MetricInputError as exc:
            return _binary(False, str(exc))
        return _binary(json_same(response, expected))


@register
class NumericCloseness(Implementation):
    key = "numeric_closeness"
    label = "Numeric closeness"
    description = (
        "within_tolerance: 1 when |response - expected| <= max(abs_tol, rel_tol * |expected|), "
        "else 0 (the tolerance is relative to the expected value). relative: 1 - |response - "
        "expected| / |expected|, floored at 0; when expected is 0 it is 1 only for exactly 0. "
        f'Text is read as {NUMBER_RULE}; anything else ("1,5", "12%", NaN, booleans) is '
        "an error for that row, never a guess."
    )
    inputs = (
        inp("response", "The number produced (or text holding it)."),
        inp("expected", "The expected number."),
    )
    params = (
        Param(
            "mode", "choice", default="within_tolerance", choices=("within_tolerance", "relative")
        ),
        Param("abs_tol", "float", default=0.0, min=0),
        Param("rel_tol", "float", default=1e-9, min=0),
    )

    def score(self, inputs: dict) -> MetricOutcome:
        response = as_number(inputs, "response")
        expected = as_number(inputs, "expected")
        diff = abs(response - expected)
        reasoning = f"|{response:g} - {expected:g}| = {diff:g}"
        if self.p.get("mode") == "relative":
            if expected == 0:
                return MetricOutcome.number(1.0 if diff == 0 else 0.0, reasoning)
            return MetricOutcome.number(max(0.0, 1.0 - diff / abs(expected)), reasoning)
        allowed = max(self.p.get("abs_tol", 0.0), self.p.get("rel_tol", 1e-9) * abs(expected))
        return _binary(diff <= allowed, f"{reasoning} (allowed {allowed:g})")


@register
class LatencyUnder(Implementation):
    key = "latency_under"
    label = "Latency under threshold"
    description = (
        "1 when the workflow's latency in milliseconds is at or under the threshold, else 0. "
        "A missing, negative or non-numeric latency is an error for that row."
    )
    inputs = (inp("latency_ms", "Latency in milliseconds (map $.workflow.latency_ms)."),)
    params = (Param("threshold_ms", "float", default=2000.0, min=0),)
    category = "METRIC_CATEGORY_MODEL_FIT"

    def score(self, inputs: dict) -> MetricOutcome:
        latency = as_number(inputs, "latency_ms")
        if latency < 0:
            raise MetricInputError("Latency cannot be negative.")
        threshold = self.p.get("threshold_ms", 2000.0)
        return _binary(latency <= threshold, f"{latency:g} ms (threshold {threshold:g} ms)")


@register
class TokenUsage(Implementation):
    key = "token_usage"
    label = "Token usage"
    description = (
        "Tokens used: input + output (or one of them). Lower is better. With count=total a "
        "missing side is left out (only the counts present are added); no count at all, or "
        "a negative or non-numeric one, is an error for that row."
    )
    inputs = (
        inp("input_tokens", "Prompt tokens (map $.workflow.input_tokens).", False),
        inp("output_tokens", "Completion tokens (map $.workflow.output_tokens).", False),
    )
    params = (Param("count", "choice", default="total", choices=("total", "input", "output")),)
    range_max = None
    inverted = True
    category = "METRIC_CATEGORY_MODEL_FIT"

    def score(self, inputs: dict) -> MetricOutcome:
        count = self.p.get("count", "total")
        names = {"total": ("input_tokens", "output_tokens"), "input": ("input_tokens",)}.get(
            count, ("output_tokens",)
        )
        present = [name for name in names if inputs.get(name) is not None]
        if not present:
            raise MetricInputError(
                "No token counts: map " + " and/or ".join(names) + " to workflow outputs."
            )
        values = [as_number(inputs, name) for name in present]
        if any(v < 0 for v in values):
            raise MetricInputError("Token counts cannot be negative.")
        return MetricOutcome.number(
            sum(values), ", ".join(f"{n}={v:g}" for n, v in zip(present, values, strict=True))
        )
