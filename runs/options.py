"""Run options beside the config: repetitions, caps and the call cache. One checker for the
sheet, ``/v1``'s create body, test cases and reruns; project defaults fill the caps a run
does not set."""

from __future__ import annotations

import math

from django.core.exceptions import ValidationError

MAX_REPETITIONS = 20
CAP_FIELDS = ("max_agent_calls", "max_judge_calls", "max_tokens", "max_cost")
CACHE_FIELDS = ("cache_agent_calls", "cache_judge_calls")
OPTION_FIELDS = ("repetitions", *CAP_FIELDS, *CACHE_FIELDS)
DEFAULTS = {"repetitions": 1, "cache_agent_calls": False, "cache_judge_calls": True}


def _integer(value, *, low: int, high: int | None = None):
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, str):
        value = value.strip().replace(",", "").replace("_", "")
        if not value.lstrip("-").isdigit():
            raise ValueError
    if isinstance(value, float) and not value.is_integer():
        raise ValueError
    number = int(value)
    if number < low or (high is not None and number > high):
        raise ValueError
    return number


def _boolean(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "on", "yes"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "off", "no", ""):
        return False
    raise ValueError


def clean_run_options(data: dict | None, *, partial: bool = False) -> dict:
    """The options in ``data`` checked and converted; unknown keys are ignored, absent or
    empty caps mean "no cap". Raises ``ValidationError`` keyed by field."""
    data = data or {}
    errors: dict[str, list[str]] = {}
    clean: dict = {}
    if "repetitions" in data and data["repetitions"] not in (None, ""):
        try:
            clean["repetitions"] = _integer(data["repetitions"], low=1, high=MAX_REPETITIONS)
        except (TypeError, ValueError):
            errors["repetitions"] = [f"A whole number from 1 to {MAX_REPETITIONS}."]
    for name in CAP_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if value in (None, ""):
            clean[name] = None
            continue
        try:
            if name == "max_cost":
                if isinstance(value, bool):
                    raise ValueError
                number = float(str(value).strip().lstrip("$").replace(",", ""))
                if not math.isfinite(number) or number < 0 or number > 1e9:
                    raise ValueError
                clean[name] = number
            else:
                clean[name] = _integer(value, low=0, high=10**12)
        except (TypeError, ValueError):
            what = "An amount in US dollars (0 or more)" if name == "max_cost" else "A whole number"
            errors[name] = [f"{what}, or empty for no cap."]
    for name in CACHE_FIELDS:
        if name in data and data[name] is not None:
            try:
                clean[name] = _boolean(data[name])
            except (TypeError, ValueError):
                errors[name] = ["true or false."]
    if errors:
        raise ValidationError(errors)
    if not partial:
        for name, default in DEFAULTS.items():
            clean.setdefault(name, default)
    return clean


def project_defaults(project) -> dict:
    from runs.models import ProjectRunDefaults

    defaults = ProjectRunDefaults.objects.filter(project=project).first()
    if defaults is None:
        return {}
    return {name: getattr(defaults, name) for name in CAP_FIELDS}


def run_options(project, data: dict | None) -> dict:
    """Checked options for a new run: what ``data`` sets, else the project's default caps."""
    options = clean_run_options(data)
    for name, value in project_defaults(project).items():
        if name not in options and value is not None:
            options[name] = value
    return options
