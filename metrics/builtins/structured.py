"""Deterministic metrics over structured values: JSON validity, JSON Schema, JSON equality,
numeric closeness, latency under a threshold, token usage."""

from __future__ import annotations

import json
import math

import jsonschema
from django.core.exceptions import ValidationError

from metrics.params import Param
from metrics.registry import Implementation, MetricInputError, as_number, inp, register
from metrics.scoring import MetricOutcome

RESPONSE = inp("response", "The value to check (text holding JSON, or a JSON value).")


def _binary(ok: bool, reasoning: str | None = None) -> MetricOutcome:
    return MetricOutcome(number_value=1.0 if ok else 0.0, reasoning=reasoning)


def _parse(value, name: str):
    """A JSON value: strings are parsed, other values taken as they are."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise MetricInputError(f"Input {name} is not valid JSON: {exc.msg}.") from None
    return value


@register
class JsonValid(Implementation):
    key = "json_valid"
    label = "JSON valid"
    description = "1 when the response is valid JSON, else 0."
    inputs = (RESPONSE,)
    category = "METRIC_CATEGORY_MODEL_FIT"

    def score(self, inputs: dict) -> MetricOutcome:
        value = inputs["response"]
        if not isinstance(value, str):
            return _binary(True, "Already a JSON value.")
        try:
            json.loads(value)
        except json.JSONDecodeError as exc:
            return _binary(False, f"{exc.msg} at line {exc.lineno} column {exc.colno}.")
        return _binary(True)


def _schema_problem(schema) -> str | None:
    if not isinstance(schema, dict | bool):
        return "A JSON Schema must be an object."
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"Invalid JSON Schema: {exc.message}"
    return None


@register
class JsonSchemaValid(Implementation):
    key = "json_schema_valid"
    label = "JSON schema valid"
    description = "1 when the response is JSON that validates against the schema, else 0."
    inputs = (RESPONSE, inp("schema", "A JSON Schema (instead of the parameter).", False))
    params = (Param("schema", "json", help="A JSON Schema (draft 2020-12 unless $schema)."),)
    category = "METRIC_CATEGORY_MODEL_FIT"

    @classmethod
    def validate(cls, params: dict, inputs: list[dict]) -> None:
        if params.get("schema") is not None:
            problem = _schema_problem(params["schema"])
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
            problem = _schema_problem(schema)
            if problem:
                raise MetricInputError(problem)
            validator = jsonschema.validators.validator_for(schema)(schema)
        if validator is None:
            raise MetricInputError("Set the schema parameter or map the schema input.")
        try:
            value = _parse(inputs["response"], "response")
        except MetricInputError as exc:
            return _binary(False, str(exc))
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is None:
            return _binary(True)
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return _binary(False, f"{where}: {error.message}")


@register
class JsonEqual(Implementation):
    key = "json_equal"
    label = "JSON equal"
    description = "1 when response and expected are the same JSON value (key order ignored)."
    inputs = (RESPONSE, inp("expected", "The expected JSON value (or text holding it)."))

    def score(self, inputs: dict) -> MetricOutcome:
        expected = _parse(inputs["expected"], "expected")
        try:
            response = _parse(inputs["response"], "response")
        except MetricInputError as exc:
            return _binary(False, str(exc))
        return _binary(response == expected)


@register
class NumericCloseness(Implementation):
    key = "numeric_closeness"
    label = "Numeric closeness"
    description = (
        "within_tolerance: 1 when |response - expected| <= max(abs_tol, rel_tol*|expected|); "
        "relative: 1 - relative error, floored at 0."
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
        close = math.isclose(
            response,
            expected,
            rel_tol=self.p.get("rel_tol", 1e-9),
            abs_tol=self.p.get("abs_tol", 0.0),
        )
        return _binary(close, reasoning)


@register
class LatencyUnder(Implementation):
    key = "latency_under"
    label = "Latency under threshold"
    description = "1 when the workflow's latency (ms) is at or under the threshold, else 0."
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
    description = "Tokens used: input + output (or one of them). Lower is better."
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
