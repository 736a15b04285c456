"""Validating a workflow version's configuration, inputs and outputs, per kind.

The one validation the UI form and the API both go through (via ``services``). It returns the
normalised config with secrets turned into references and raises ``ValidationError`` with
field errors (keys are the config keys: ``url``, ``headers``, ``output_paths``...).

Secret values are given as ``{"secret": "clear value"}`` (stored encrypted),
``{"env": "EVALSITE_SECRET_..."}`` (read at call time; only allow-listed prefixes, see
``evalsite.outbound.secrets``) or ``{"keep": true}`` / the mask ``"********"``
(keep the previous version's secret). Plain-string headers whose names look sensitive
(Authorization, *key*, *token*, *secret*, Cookie) are encrypted too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re

from django.core.exceptions import ValidationError

from evalsite.outbound import guard as outbound
from evalsite.outbound import secrets as secret_store
from workflows.models import DEFAULT_MAX_CONCURRENCY, WorkflowKind
from workflows.templating import compile_path, placeholders

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
SENSITIVE_HEADER = re.compile(r"authorization|cookie|key|token|secret|password", re.I)
HTTP_METHODS = ("POST", "PUT", "PATCH", "GET")
EXTRA_PATHS = ("input_tokens_path", "output_tokens_path", "chunks_path", "spans_path")
MAX_TEMPLATE_CHARS = 50_000

MAX_STOP_CHARS = 200

# Every config key of each kind, in the order the edit form shows them.
KIND_KEYS: dict[str, tuple[str, ...]] = {
    WorkflowKind.HTTP: (
        "url",
        "model",
        "method",
        "headers",
        "body_template",
        "output_paths",
        *EXTRA_PATHS,
        "timeout_s",
        "max_retries",
        "max_concurrency",
        "rps_limit",
    ),
    WorkflowKind.OPENAI_CHAT: (
        "base_url",
        "model",
        "api_key",
        "system_prompt",
        "user_prompt",
        "temperature",
        "max_tokens",
        "stop",
        "timeout_s",
        "max_retries",
        "max_concurrency",
        "rps_limit",
    ),
    WorkflowKind.PYTHON: ("callable", "timeout_s", "max_concurrency"),
}


class _Errors(dict):
    def add(self, field: str, message: str) -> None:
        self.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self:
            raise ValidationError(dict(self))


def _number(errors, config, key, *, default, low, high, integer=False, optional=False):
    value = config.get(key, default)
    if value in (None, "") and optional:
        return None
    if value in (None, ""):
        value = default
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if integer:
            if not number.is_integer():
                raise ValueError
            number = int(number)
    except (TypeError, ValueError, OverflowError):
        errors.add(key, f"Must be {'a whole number' if integer else 'a number'}.")
        return default
    if not low <= number <= high:
        errors.add(key, f"Must be between {low:g} and {high:g}.")
    return number


def _url(errors, key, value) -> str:
    if not isinstance(value, str) or not value.strip():
        errors.add(key, "This field is required.")
        return ""
    value = value.strip()
    problem = outbound.url_problem(value)
    if problem:
        errors.add(key, problem)
    return value


def _secret(errors, key, value, previous):
    """A secret reference for ``value`` (see the module docstring)."""
    if value == secret_store.MASK or (isinstance(value, dict) and value.get("keep")):
        if previous is None:
            errors.add(key, "There is no previous secret to keep; enter a value.")
        return previous
    if isinstance(value, dict) and set(value) == {"env"}:
        if not isinstance(value["env"], str) or not ENV_NAME_RE.match(value["env"]):
            errors.add(key, "Give the name of an environment variable (letters, digits, _).")
        else:
            problem = secret_store.env_name_problem(value["env"])
            if problem:
                errors.add(key, problem)
        return {"env": value.get("env")}
    if isinstance(value, dict) and set(value) == {"secret"}:
        value = value["secret"]
    if isinstance(value, dict) and set(value) == {"encrypted"} and value == previous:
        return previous
    if not isinstance(value, str) or not value:
        errors.add(key, 'Give {"secret": "..."}, {"env": "NAME"} or {"keep": true}.')
        return None
    return {"encrypted": secret_store.encrypt(value)}


def _headers(errors, value, previous: dict) -> dict:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        errors.add("headers", "Must be an object of header name -> value.")
        return {}
    headers = {}
    for name, header_value in value.items():
        if not HEADER_NAME_RE.match(str(name)):
            errors.add("headers", f"{name!r} is not a valid header name.")
            continue
        is_plain = isinstance(header_value, str) and header_value != secret_store.MASK
        if is_plain and not SENSITIVE_HEADER.search(name):
            if "\n" in header_value or "\r" in header_value:
                errors.add("headers", f"Header {name} must be on one line.")
            headers[name] = header_value
        else:
            headers[name] = _secret(errors, "headers", header_value, previous.get(name))
    return headers


def _paths(errors, config, keys, *, required=()) -> dict:
    found = {}
    for key in keys:
        value = config.get(key)
        if value in (None, ""):
            if key in required:
                errors.add(key, "This field is required.")
            continue
        try:
            compile_path(value)
        except ValidationError as exc:
            errors.add(key, " ".join(exc.messages))
        found[key] = value
    return found


def validate_io(errors, inputs, outputs) -> tuple[list[dict], list[dict]]:
    clean = []
    for field, items, with_required in (("inputs", inputs, True), ("outputs", outputs, False)):
        result = []
        if not isinstance(items, list):
            errors.add(field, "Must be a list of {name, description}.")
            clean.append(result)
            continue
        seen = set()
        for item in items:
            if isinstance(item, str):
                item = {"name": item}
            if not isinstance(item, dict) or not NAME_RE.match(str(item.get("name", ""))):
                errors.add(field, f"{item!r}: names use letters, digits and _ (max 64).")
                continue
            if item["name"] in seen:
                errors.add(field, f"{item['name']} is declared twice.")
                continue
            seen.add(item["name"])
            entry = {"name": item["name"], "description": str(item.get("description") or "")}
            if with_required:
                entry["required"] = bool(item.get("required", True))
            result.append(entry)
        clean.append(result)
    if isinstance(outputs, list) and not clean[1] and "outputs" not in errors:
        errors.add("outputs", "Declare at least one output.")
    return clean[0], clean[1]


def validate_version(*, kind: str, config, inputs, outputs, previous_config=None) -> tuple:
    """(config, inputs, outputs) cleaned; raises ``ValidationError`` with field errors."""
    errors = _Errors()
    previous_config = previous_config or {}
    if kind not in WorkflowKind.values:
        raise ValidationError({"kind": [f"Choose one of {', '.join(WorkflowKind.values)}."]})
    if not isinstance(config, dict):
        raise ValidationError({"config": ["Must be an object."]})
    for key in sorted(set(config) - set(KIND_KEYS[kind])):
        errors.add(key, f"Unknown setting for a {kind} workflow.")
    if kind == WorkflowKind.HTTP and isinstance(config.get("output_paths"), dict) and not outputs:
        outputs = list(config["output_paths"])
    if kind != WorkflowKind.HTTP and not outputs:
        outputs = ["answer"]
    inputs, outputs = validate_io(errors, inputs if inputs is not None else [], outputs)
    input_names = {item["name"] for item in inputs}
    clean: dict = {}
    if kind == WorkflowKind.HTTP:
        clean["url"] = _url(errors, "url", config.get("url"))
        model = config.get("model")
        if model not in (None, ""):
            if not isinstance(model, str) or len(model.strip()) > 200:
                errors.add("model", "Must be a model name (at most 200 characters).")
            else:
                clean["model"] = model.strip()
        method = str(config.get("method") or "POST").upper()
        if method not in HTTP_METHODS:
            errors.add("method", f"Choose one of {', '.join(HTTP_METHODS)}.")
        clean["method"] = method
        clean["headers"] = _headers(
            errors, config.get("headers"), previous_config.get("headers") or {}
        )
        body = config.get("body_template")
        if body is not None:
            if len(json.dumps(body)) > MAX_TEMPLATE_CHARS:
                errors.add("body_template", "The template is too large.")
            for name in sorted(placeholders(body) - input_names):
                errors.add("body_template", f"{{{{{name}}}}} is not a declared input.")
        clean["body_template"] = body
        output_paths = config.get("output_paths")
        if not isinstance(output_paths, dict) or not output_paths:
            errors.add("output_paths", "Map each output to a JSONPath, e.g. {answer: $.answer}.")
            output_paths = {}
        for name in [o["name"] for o in outputs if o["name"] not in output_paths]:
            errors.add("output_paths", f"Output {name} has no JSONPath.")
        for name, path in output_paths.items():
            try:
                compile_path(path)
            except ValidationError as exc:
                errors.add("output_paths", f"{name}: {' '.join(exc.messages)}")
        clean["output_paths"] = dict(output_paths)
        clean.update(_paths(errors, config, EXTRA_PATHS))
    elif kind == WorkflowKind.OPENAI_CHAT:
        clean["base_url"] = _url(errors, "base_url", config.get("base_url"))
        model = config.get("model")
        if not isinstance(model, str) or not model.strip():
            errors.add("model", "This field is required.")
        clean["model"] = str(model or "").strip()
        if config.get("api_key") not in (None, ""):
            clean["api_key"] = _secret(
                errors, "api_key", config["api_key"], previous_config.get("api_key")
            )
        for key in ("system_prompt", "user_prompt"):
            value = config.get(key) or ""
            if not isinstance(value, str) or len(value) > MAX_TEMPLATE_CHARS:
                errors.add(key, "Must be text (at most 50,000 characters).")
                value = ""
            for name in sorted(placeholders(value) - input_names):
                errors.add(key, f"{{{{{name}}}}} is not a declared input.")
            clean[key] = value
        if not clean["user_prompt"].strip():
            errors.add("user_prompt", "This field is required.")
        clean["temperature"] = _number(
            errors, config, "temperature", default=None, low=0, high=2, optional=True
        )
        clean["max_tokens"] = _number(
            errors, config, "max_tokens", default=None, low=1, high=1e6, integer=True, optional=True
        )
        stop = config.get("stop")
        if stop not in (None, ""):  # only when set: older versions keep their content hash
            if not isinstance(stop, str) or len(stop) > MAX_STOP_CHARS:
                errors.add("stop", f"A stop sequence: text of at most {MAX_STOP_CHARS} characters.")
            else:
                clean["stop"] = stop
    else:
        path = config.get("callable")
        if not isinstance(path, str) or not path.strip():
            errors.add("callable", "This field is required.")
        else:
            from workflows.executors import import_callable

            try:
                import_callable(path.strip())
            except ValidationError as exc:
                errors.add("callable", " ".join(exc.messages))
        clean["callable"] = str(path or "").strip()
    default_timeout = 60 if kind != WorkflowKind.HTTP else 30
    clean["timeout_s"] = _number(
        errors, config, "timeout_s", default=default_timeout, low=0.1, high=600
    )
    if kind != WorkflowKind.PYTHON:
        clean["max_retries"] = _number(
            errors, config, "max_retries", default=2, low=0, high=10, integer=True
        )
        clean["rps_limit"] = _number(
            errors, config, "rps_limit", default=None, low=0.01, high=10_000, optional=True
        )
    clean["max_concurrency"] = _number(
        errors,
        config,
        "max_concurrency",
        default=DEFAULT_MAX_CONCURRENCY,
        low=1,
        high=500,
        integer=True,
    )
    errors.raise_if_any()
    return clean, inputs, outputs


def _fingerprint(value):
    """Secrets by fingerprint: an env ref by name, a stored secret by a keyed HMAC of its value
    (stable across re-encryption, useless without the key)."""
    if isinstance(value, dict):
        if secret_store.is_secret_ref(value) and "encrypted" in value:
            try:
                clear = secret_store.decrypt(value["encrypted"])
            except ValidationError:
                clear = value["encrypted"]
            key = hashlib.sha256(b"fingerprint:" + secret_store.key_material()).digest()
            digest = hmac.new(key, clear.encode(), hashlib.sha256).hexdigest()[:24]
            return {"encrypted": f"hmac:{digest}"}
        return {k: _fingerprint(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fingerprint(item) for item in value]
    return value


def content_hash(*, kind: str, config: dict, inputs: list, outputs: list) -> str:
    canonical = json.dumps(
        {"kind": kind, "config": _fingerprint(config), "inputs": inputs, "outputs": outputs},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def public_config(config: dict) -> dict:
    """The config as it may be shown: secret values replaced by markers."""
    shown = dict(config)
    if isinstance(config.get("headers"), dict):
        shown["headers"] = {k: secret_store.mask(v) for k, v in config["headers"].items()}
    if "api_key" in config:
        shown["api_key"] = secret_store.mask(config["api_key"])
    return shown
