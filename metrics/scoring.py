"""The one scoring interface every metric shares.

``build_scorer(version)`` (sync: database work and secret decryption happen here) returns a
``Scorer``; ``Scorer.score(inputs)`` / ``await Scorer.ascore(inputs, client=...)`` return a
``MetricOutcome``: a number or a string in the metric's declared type and range, optional
reasoning, or an ``error_description`` — never a made-up score when it cannot compute.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from metrics.models import MetricVersion
    from metrics.registry import Implementation

NUMBER = "METRIC_VALUE_TYPE_NUMBER"
STRING = "METRIC_VALUE_TYPE_STRING"
PERCENTAGE = "METRIC_VALUE_TYPE_PERCENTAGE"


@dataclass(slots=True)
class MetricOutcome:
    number_value: float | None = None
    string_value: str | None = None
    reasoning: str | None = None
    error_description: str | None = None
    details: dict = field(default_factory=dict)
    # Model usage of the call behind the outcome (LLM judges), and whether it was cached.
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    called: bool = False
    cached: bool = False
    cache_key: str | None = None  # the call cache key its judge call is stored under

    @classmethod
    def number(cls, value: float, reasoning: str | None = None, **details) -> MetricOutcome:
        return cls(number_value=float(value), reasoning=reasoning, details=details)

    @classmethod
    def string(cls, value: str, reasoning: str | None = None, **details) -> MetricOutcome:
        return cls(string_value=value, reasoning=reasoning, details=details)

    @classmethod
    def error(cls, description: str, **details) -> MetricOutcome:
        return cls(error_description=description, details=details)

    @property
    def is_error(self) -> bool:
        return self.error_description is not None

    @property
    def value(self) -> float | str | None:
        return self.number_value if self.number_value is not None else self.string_value

    def as_dict(self) -> dict:
        return {
            "number_value": self.number_value,
            "string_value": self.string_value,
            "reasoning": self.reasoning,
            "error_description": self.error_description,
            "details": self.details,
        }


class MetricInputError(Exception):
    """An input cannot be scored (missing, wrong type...). Becomes ``error_description``."""


class Scorer:
    """A ready-to-call metric: an implementation plus the metric's declared type and range."""

    def __init__(
        self,
        implementation: Implementation | None,
        *,
        name: str,
        value_type: str,
        range_min: float | None,
        range_max: float | None,
        required_inputs: list[str],
        setup_error: str | None = None,
    ):
        self.implementation = implementation
        self.name = name
        self.value_type = value_type
        self.range_min = range_min
        self.range_max = range_max
        self.required_inputs = tuple(required_inputs)
        self.setup_error = setup_error
        self.is_async = bool(implementation is not None and implementation.is_async)

    def _precheck(self, inputs: Any) -> MetricOutcome | None:
        if self.setup_error is not None:
            return MetricOutcome.error(self.setup_error)
        if not isinstance(inputs, dict):
            return MetricOutcome.error("Metric inputs must be an object of named values.")
        missing = [name for name in self.required_inputs if inputs.get(name) is None]
        if missing:
            return MetricOutcome.error(
                "Missing input" + ("s " if len(missing) > 1 else " ") + ", ".join(missing) + "."
            )
        return None

    def score(self, inputs: dict) -> MetricOutcome:
        """Score synchronously; async metrics (LLM judges) run on a private event loop."""
        problem = self._precheck(inputs)
        if problem is not None:
            return problem
        if self.is_async:
            return asyncio.run(self._score_with_own_client(inputs))
        try:
            outcome = self.implementation.score(inputs)
        except MetricInputError as exc:
            return MetricOutcome.error(str(exc))
        except Exception as exc:  # a metric must never crash a run
            return MetricOutcome.error(f"{type(exc).__name__}: {exc}")
        return self._checked(outcome)

    async def _score_with_own_client(self, inputs: dict) -> MetricOutcome:
        from evalsite.outbound.transport import new_client

        async with new_client(max_connections=4) as client:
            return await self.ascore(inputs, client=client)

    async def ascore(self, inputs: dict, *, client: httpx.AsyncClient) -> MetricOutcome:
        problem = self._precheck(inputs)
        if problem is not None:
            return problem
        try:
            if self.is_async:
                outcome = await self.implementation.ascore(inputs, client=client)
            else:
                outcome = self.implementation.score(inputs)
        except MetricInputError as exc:
            return MetricOutcome.error(str(exc))
        except Exception as exc:
            return MetricOutcome.error(f"{type(exc).__name__}: {exc}")
        return self._checked(outcome)

    def _checked(self, outcome: Any) -> MetricOutcome:
        """Refuse anything that is not a value of the declared type within the range."""
        if not isinstance(outcome, MetricOutcome):
            return MetricOutcome.error(
                f"The metric returned {type(outcome).__name__}, not a metric outcome."
            )
        if outcome.error_description is not None:
            outcome.number_value = None
            outcome.string_value = None
            return outcome
        if self.value_type == STRING:
            if not isinstance(outcome.string_value, str):
                return MetricOutcome.error(
                    "The metric did not return a string value.", **outcome.details
                )
            outcome.number_value = None
            return outcome
        value = outcome.number_value
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            return MetricOutcome.error("The metric did not return a number.", **outcome.details)
        if not math.isfinite(value):
            return MetricOutcome.error(f"The metric returned {value}, not a finite number.")
        value = outcome.number_value = _snap(value, self.range_min, self.range_max)
        if (self.range_min is not None and value < self.range_min) or (
            self.range_max is not None and value > self.range_max
        ):
            return MetricOutcome.error(
                f"Score {value:g} is outside the declared range "
                f"[{_fmt(self.range_min)}, {_fmt(self.range_max)}].",
                **outcome.details,
            )
        outcome.string_value = None
        return outcome


def _snap(value: float, low: float | None, high: float | None) -> float:
    """Floating-point noise at a bound (100.00000000000004) is the bound itself."""
    for bound in (low, high):
        if bound is not None and abs(value - bound) <= 1e-9 * (1.0 + abs(bound)):
            return float(bound)
    return float(value)


def _fmt(bound: float | None) -> str:
    return "-inf" if bound is None else f"{bound:g}"


def build_scorer(version: MetricVersion) -> Scorer:
    """A scorer for ``version``. Sync: resolves the implementation, params and secrets now.

    A version that can no longer be built (implementation gone, custom path removed from the
    allow-list, secret unavailable) gives a scorer whose every outcome is that error.
    """
    from django.core.exceptions import ValidationError

    from metrics.registry import get_implementation

    metric = version.metric
    common = {
        "name": metric.name,
        "value_type": metric.value_type,
        "range_min": metric.range_min,
        "range_max": metric.range_max,
        "required_inputs": version.required_input_names(),
    }
    try:
        implementation_class = get_implementation(version.implementation)
        implementation = implementation_class.build(version.params, inputs=version.inputs)
    except ValidationError as exc:
        return Scorer(None, setup_error=" ".join(exc.messages), **common)
    except Exception as exc:
        return Scorer(None, setup_error=f"Cannot prepare metric: {exc}", **common)
    return Scorer(implementation, **common)
