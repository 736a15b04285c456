"""Declared parameters of a metric implementation and their validation with field errors.

Each implementation lists its ``Param``s; ``clean_params`` turns what a form or an API
client sent into typed values, or raises ``ValidationError({"params.<name>": [...]})``.
Secrets (``kind="secret"``) are stored as references (``{"env": NAME}`` or
``{"encrypted": token}``), never in clear.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from evalsite import safe_json
from evalsite.outbound import secrets

KINDS = ("bool", "int", "float", "str", "text", "str_list", "json", "choice", "secret")


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    default: Any = None
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def is_secret(self) -> bool:
        return self.kind == "secret"


def _coerce(param: Param, value: Any) -> Any:
    """The typed value, or raise ``ValueError`` with a message for the field."""
    kind = param.kind
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "on", "1", "yes"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("false", "off", "0", "no", ""):
            return False
        raise ValueError("Must be true or false.")
    if kind in ("int", "float"):
        if isinstance(value, bool):
            raise ValueError("Must be a number.")
        try:
            number = int(value) if kind == "int" else float(value)
        except (TypeError, ValueError):
            raise ValueError(
                "Must be a whole number." if kind == "int" else "Must be a number."
            ) from None
        if kind == "float" and not math.isfinite(number):
            raise ValueError("Must be a finite number.")
        if kind == "int" and isinstance(value, float) and value != int(value):
            raise ValueError("Must be a whole number.")
        if param.min is not None and number < param.min:
            raise ValueError(f"Must be at least {param.min:g}.")
        if param.max is not None and number > param.max:
            raise ValueError(f"Must be at most {param.max:g}.")
        return number
    if kind in ("str", "text"):
        if not isinstance(value, str):
            raise ValueError("Must be a string.")
        limit = 200_000 if kind == "text" else 2_000
        if len(value) > limit:
            raise ValueError(f"Must be at most {limit} characters.")
        return value
    if kind == "choice":
        if value not in param.choices:
            raise ValueError(f"Must be one of: {', '.join(param.choices)}.")
        return value
    if kind == "str_list":
        if isinstance(value, str):
            value = [line.strip() for line in value.splitlines() if line.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("Must be a list of strings.")
        if len(value) > 1000:
            raise ValueError("At most 1000 values.")
        return value
    if kind == "json":
        if isinstance(value, str):
            try:
                value = safe_json.loads(value) if value.strip() else None
            except json.JSONDecodeError as exc:
                raise ValueError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from None
            except safe_json.UnsafeJSON as exc:
                raise ValueError(exc.message) from None
        return value
    if kind == "secret":
        if isinstance(value, str):
            if not value:
                raise ValueError("Must not be empty.")
            return {"encrypted": secrets.encrypt(value)}
        if isinstance(value, dict) and set(value) == {"value"} and isinstance(value["value"], str):
            return {"encrypted": secrets.encrypt(value["value"])}
        if secrets.is_secret_ref(value):
            if "env" in value:
                problem = secrets.env_name_problem(value["env"])
                if problem:
                    raise ValueError(problem)
            return dict(value)
        raise ValueError('Give the secret as a string, {"env": "NAME"} or {"value": "..."}.')
    raise ValueError(f"Unknown parameter kind {kind}.")  # pragma: no cover


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def clean_params(specs: tuple[Param, ...], raw: Any) -> dict:
    """Typed params for ``specs`` from ``raw``; ``ValidationError`` with per-field errors."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValidationError({"params": ["Must be an object."]})
    errors: dict[str, list[str]] = {}
    known = {spec.name for spec in specs}
    for key in raw:
        if key not in known:
            errors[f"params.{key}"] = ["Unknown parameter."]
    cleaned: dict = {}
    for spec in specs:
        value = raw.get(spec.name)
        if is_empty(value) and spec.kind not in ("bool",):
            if spec.required:
                errors[f"params.{spec.name}"] = ["This parameter is required."]
            elif spec.default is not None:
                cleaned[spec.name] = spec.default
            continue
        if value is None:
            cleaned[spec.name] = spec.default if spec.default is not None else False
            continue
        try:
            cleaned[spec.name] = _coerce(spec, value)
        except ValueError as exc:
            errors[f"params.{spec.name}"] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    return cleaned


def public_params(specs: tuple[Param, ...], params: dict) -> dict:
    """``params`` safe to show: secrets replaced by their mask."""
    secret_names = {spec.name for spec in specs if spec.is_secret}
    return {
        key: (secrets.mask(value) if key in secret_names else value)
        for key, value in params.items()
    }
