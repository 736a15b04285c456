"""The implementation registry: a key (stored on ``MetricVersion.implementation``) -> a class
that declares its parameters, its named inputs, its value type and range, and scores.

Implementations live in ``metrics.builtins.*``, ``metrics.judge`` and ``metrics.custom``; each
registers itself with ``@register``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, ClassVar

from django.core.exceptions import ValidationError

from metrics.params import Param, clean_params, public_params
from metrics.scoring import NUMBER, MetricInputError, MetricOutcome

CORRECTNESS = "METRIC_CATEGORY_CORRECTNESS"
GENERAL_QUALITY = "METRIC_TYPE_GENERAL_QUALITY"
INPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_INPUTS = 30

REGISTRY: dict[str, type[Implementation]] = {}


def register(cls: type[Implementation]) -> type[Implementation]:
    if cls.key in REGISTRY:  # pragma: no cover - programming error
        raise RuntimeError(f"Metric implementation {cls.key!r} registered twice.")
    REGISTRY[cls.key] = cls
    return cls


_loaded = False


def _load() -> None:
    # Importing the modules registers their implementations.
    global _loaded
    import metrics.builtins  # noqa: F401
    import metrics.custom  # noqa: F401
    import metrics.judge  # noqa: F401

    _loaded = True


def get_implementation(key: str) -> type[Implementation]:
    if not _loaded:
        _load()
    try:
        return REGISTRY[key]
    except KeyError:
        raise ValidationError(
            {"implementation": [f"Unknown metric implementation {key!r}."]}
        ) from None


def implementations() -> dict[str, type[Implementation]]:
    if not _loaded:
        _load()
    return dict(REGISTRY)


def inp(name: str, description: str, required: bool = True) -> dict:
    return {"name": name, "description": description, "required": required}


def clean_inputs(raw: Any) -> list[dict]:
    """User-declared named inputs: ``[{"name", "description", "required"}]`` or field errors."""
    if not isinstance(raw, list) or not raw:
        raise ValidationError({"inputs": ["Declare at least one named input."]})
    if len(raw) > MAX_INPUTS:
        raise ValidationError({"inputs": [f"At most {MAX_INPUTS} inputs."]})
    errors: dict[str, list[str]] = {}
    cleaned, seen = [], set()
    for index, item in enumerate(raw):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            errors[f"inputs.{index}"] = ["Must be an object with a name."]
            continue
        name = item.get("name")
        if not isinstance(name, str) or not INPUT_NAME.match(name):
            errors[f"inputs.{index}.name"] = [
                "Use letters, digits and underscores, starting with a letter (max 64)."
            ]
            continue
        if name in seen:
            errors[f"inputs.{index}.name"] = [f"Input {name!r} is declared twice."]
            continue
        description = item.get("description", "") or ""
        if not isinstance(description, str) or len(description) > 500:
            errors[f"inputs.{index}.description"] = ["Must be text of at most 500 characters."]
            continue
        required = item.get("required", True)
        if not isinstance(required, bool):
            errors[f"inputs.{index}.required"] = ["Must be true or false."]
            continue
        seen.add(name)
        cleaned.append({"name": name, "description": description, "required": required})
    if errors:
        raise ValidationError(errors)
    return cleaned


def as_text(inputs: dict, name: str) -> str:
    """Input ``name`` as text: strings as they are, numbers and JSON values serialised."""
    value = inputs.get(name)
    if isinstance(value, str):
        return value
    if value is None:
        raise MetricInputError(f"Input {name} is empty.")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def as_text_list(inputs: dict, name: str) -> list[str]:
    """Input ``name`` as a list of texts (a single value becomes a one-item list)."""
    value = inputs.get(name)
    if isinstance(value, list):
        if not value:
            raise MetricInputError(f"Input {name} is an empty list.")
        return [as_text({name: v}, name) for v in value]
    return [as_text(inputs, name)]


NUMBER_TEXT = re.compile(
    r"[+-]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII
)
NUMBER_RULE = (
    "a decimal number such as 12, -0.5, 1e-3 or 1,234.5 (a comma only between groups of "
    "three digits; '.' is the decimal point)"
)


def parse_number_text(text: str) -> float | None:
    """A number from text by one stated rule, or None: ASCII digits, optional sign, '.' as
    the decimal point, optional exponent; commas only as thousands separators in groups of
    three ("1,234,567.5"). "1,5", "1.234,5", "1_000", "NaN", "inf", "12%" and "$5" are not
    numbers, and neither is anything beyond float range."""
    text = text.strip()
    if not NUMBER_TEXT.fullmatch(text):
        return None
    value = float(text.replace(",", ""))
    return value if math.isfinite(value) else None


def as_number(inputs: dict, name: str) -> float:
    """Input ``name`` as a finite number: JSON numbers as they are (booleans refused), text
    read by ``parse_number_text``."""
    value = inputs.get(name)
    if isinstance(value, bool):
        raise MetricInputError(f"Input {name} is a boolean, not a number.")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise MetricInputError(f"Input {name} is not a finite number.")
        return number
    if isinstance(value, str):
        number = parse_number_text(value)
        if number is None:
            raise MetricInputError(
                f"Input {name} is not a number: {value[:80]!r} (expected {NUMBER_RULE})."
            )
        return number
    if value is None:
        raise MetricInputError(f"Input {name} is empty.")
    raise MetricInputError(f"Input {name} is not a number.")


class Implementation:
    """Base class: subclasses set the class attributes and implement ``score``."""

    # Templates read the class's attributes; without this they would call (instantiate) it.
    do_not_call_in_templates: ClassVar[bool] = True
    key: ClassVar[str] = ""
    label: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    inputs: ClassVar[tuple[dict, ...]] = ()
    user_inputs: ClassVar[bool] = False  # the metric's author declares the inputs
    user_value_type: ClassVar[bool] = False  # the author chooses value type and range
    value_type: ClassVar[str] = NUMBER
    range_min: ClassVar[float | None] = 0.0
    range_max: ClassVar[float | None] = 1.0
    inverted: ClassVar[bool] = False
    category: ClassVar[str] = CORRECTNESS
    metric_type: ClassVar[str] = GENERAL_QUALITY
    is_async: ClassVar[bool] = False

    def __init__(self, params: dict, inputs: list[dict]):
        self.p = params
        self.declared_inputs = inputs
        self.setup()

    def setup(self) -> None:
        """Precompute what every scoring needs (compiled patterns, scorers...)."""

    @classmethod
    def clean(cls, raw_params: Any, raw_inputs: Any = None) -> tuple[dict, list[dict]]:
        """Validated ``(params, inputs)`` or ``ValidationError`` with field errors."""
        errors: dict[str, list[str]] = {}
        params: dict = {}
        inputs: list[dict] = [dict(item) for item in cls.inputs]
        try:
            params = clean_params(cls.params, raw_params)
        except ValidationError as exc:
            errors.update(exc.message_dict)
        if cls.user_inputs:
            try:
                inputs = clean_inputs(raw_inputs)
            except ValidationError as exc:
                errors.update(exc.message_dict)
        if not errors:
            try:
                cls.validate(params, inputs)
            except ValidationError as exc:
                errors.update(exc.message_dict)
        if errors:
            raise ValidationError(errors)
        return params, inputs

    @classmethod
    def validate(cls, params: dict, inputs: list[dict]) -> None:
        """Cross-field checks; raise ``ValidationError({"params.x": [...]})``."""

    @classmethod
    def value_range(cls, params: dict) -> tuple[float | None, float | None]:
        return cls.range_min, cls.range_max

    @classmethod
    def public_params(cls, params: dict) -> dict:
        return public_params(cls.params, params)

    @classmethod
    def build(cls, params: dict, *, inputs: list[dict]) -> Implementation:
        return cls(params, inputs)

    def score(self, inputs: dict) -> MetricOutcome:  # pragma: no cover - abstract
        raise NotImplementedError

    async def ascore(self, inputs: dict, *, client) -> MetricOutcome:
        return self.score(inputs)
