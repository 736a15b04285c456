"""Custom Python metrics: a callable registered by dotted path, allowed by the
``EVALSITE_CUSTOM_METRICS`` setting, called as ``fn(inputs, **options)`` (sync or async).

It may return a number, a string, a bool (1/0), ``(value, reasoning)``, a dict with
``value`` / ``number_value`` / ``string_value`` / ``reasoning`` / ``error`` keys, or a
``MetricOutcome``. Whatever it returns is checked against the metric's declared type and range.
"""

from __future__ import annotations

import inspect
from importlib import import_module
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from metrics.params import Param
from metrics.registry import Implementation, register
from metrics.scoring import MetricOutcome


def allow_list() -> list[str]:
    return list(getattr(settings, "EVALSITE_CUSTOM_METRICS", []) or [])


def load_callable(path: str):
    """The allowed callable at ``path``; ``ValidationError`` on ``params.path`` otherwise."""
    if path not in allow_list():
        raise ValidationError(
            {"params.path": [f"{path!r} is not in EVALSITE_CUSTOM_METRICS (the allow-list)."]}
        )
    module_name, _, attribute = path.rpartition(".")
    try:
        target = getattr(import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValidationError({"params.path": [f"Cannot import {path!r}: {exc}."]}) from None
    if not callable(target):
        raise ValidationError({"params.path": [f"{path!r} is not callable."]})
    return target


def to_outcome(result: Any) -> MetricOutcome:
    if isinstance(result, MetricOutcome):
        return result
    if isinstance(result, tuple) and len(result) == 2:
        outcome = to_outcome(result[0])
        outcome.reasoning = None if result[1] is None else str(result[1])
        return outcome
    if isinstance(result, bool):
        return MetricOutcome(number_value=1.0 if result else 0.0)
    if isinstance(result, int | float):
        return MetricOutcome(number_value=float(result))
    if isinstance(result, str):
        return MetricOutcome(string_value=result)
    if isinstance(result, dict):
        if result.get("error") or result.get("error_description"):
            return MetricOutcome.error(str(result.get("error") or result["error_description"]))
        value = result.get("value", result.get("number_value", result.get("string_value")))
        outcome = to_outcome(value) if value is not None else MetricOutcome()
        reasoning = result.get("reasoning")
        outcome.reasoning = None if reasoning is None else str(reasoning)
        if isinstance(result.get("details"), dict):
            outcome.details = result["details"]
        return outcome
    return MetricOutcome.error(f"The custom metric returned {type(result).__name__}.")


@register
class CustomPython(Implementation):
    key = "custom_python"
    label = "Custom Python"
    description = "A Python callable from the EVALSITE_CUSTOM_METRICS allow-list."
    user_inputs = True
    user_value_type = True
    params = (
        Param("path", "str", required=True, help="Dotted path, e.g. mypkg.metrics.tone"),
        Param("options", "json", default={}, help="Keyword arguments passed to the callable."),
    )

    @classmethod
    def validate(cls, params: dict, inputs: list[dict]) -> None:
        load_callable(params["path"])
        if not isinstance(params.get("options", {}), dict):
            raise ValidationError({"params.options": ["Must be a JSON object."]})

    @classmethod
    def build(cls, params: dict, *, inputs: list[dict]) -> CustomPython:
        implementation = cls(params, inputs)
        implementation.function = load_callable(params["path"])
        implementation.is_async = inspect.iscoroutinefunction(implementation.function)
        return implementation

    def setup(self) -> None:
        self.options = dict(self.p.get("options") or {})

    def score(self, inputs: dict) -> MetricOutcome:
        return to_outcome(self.function(inputs, **self.options))

    async def ascore(self, inputs: dict, *, client) -> MetricOutcome:
        if self.is_async:
            return to_outcome(await self.function(inputs, **self.options))
        return self.score(inputs)
