"""The workflow form, one per kind. It only turns fields into (config, inputs, outputs); the
validation itself is ``workflows.configs`` via the services, whose field errors come back onto
the matching fields.

Text formats a person can type: inputs/outputs one per line ``name: description`` (append
``?`` to the name for an optional input); headers ``Name: value`` per line, where ``env:NAME``
reads an environment variable and ``********`` keeps the previous secret; output paths
``output: $.json.path`` per line.
"""

from __future__ import annotations

import contextlib
import json

from django import forms
from django.core.exceptions import ValidationError

from evalsite import safe_json
from workflows import secrets as secret_store
from workflows.conf import python_workflow_allow_list
from workflows.configs import KIND_KEYS
from workflows.models import WorkflowKind

KIND_FIELDS = KIND_KEYS
AREA = {"rows": 4}


def _lines(text: str):
    for line in (text or "").splitlines():
        if line.strip():
            name, _, rest = line.partition(":")
            yield name.strip(), rest.strip()


def _io_text(items: list[dict], *, with_required: bool) -> str:
    lines = []
    for item in items:
        name = item["name"] + ("?" if with_required and not item.get("required", True) else "")
        lines.append(f"{name}: {item.get('description', '')}".rstrip(": ").rstrip())
    return "\n".join(lines)


class WorkflowForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    inputs = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs=AREA),
        help_text="One per line: name: description. Add ? after the name if optional.",
    )
    outputs = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs=AREA),
        help_text="One per line: name: description.",
    )
    # http
    url = forms.CharField(label="URL", max_length=2000)
    method = forms.ChoiceField(choices=[(m, m) for m in ("POST", "PUT", "PATCH", "GET")])
    headers = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs=AREA),
        help_text="Name: value per line. Secret-looking headers are stored encrypted; "
        "env:NAME reads an environment variable; ******** keeps the stored secret.",
    )
    body_template = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "class": "mono"}),
        help_text='JSON with "{{input}}" placeholders. Empty: every input by name.',
    )
    output_paths = forms.CharField(
        widget=forms.Textarea(attrs=AREA), help_text="output: $.json.path per line."
    )
    input_tokens_path = forms.CharField(required=False, help_text="e.g. $.usage.input_tokens")
    output_tokens_path = forms.CharField(required=False)
    chunks_path = forms.CharField(required=False, help_text="Retrieved chunks, e.g. $.chunks")
    spans_path = forms.CharField(required=False, help_text="Trace spans, e.g. $.spans")
    # openai_chat
    base_url = forms.CharField(label="Base URL", max_length=2000, help_text="…/v1")
    model = forms.CharField(max_length=200)
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted. env:NAME reads an environment variable. "
        "Leave empty to keep the stored key.",
    )
    system_prompt = forms.CharField(required=False, widget=forms.Textarea(attrs=AREA))
    user_prompt = forms.CharField(
        widget=forms.Textarea(attrs=AREA), help_text="Use {{input}} placeholders."
    )
    temperature = forms.CharField(required=False)
    max_tokens = forms.CharField(required=False)
    stop = forms.CharField(
        label="Stop sequence",
        required=False,
        strip=False,
        help_text="Optional: the model stops generating at this text.",
    )
    # python
    callable = forms.ChoiceField(label="Callable", choices=())
    # common limits
    timeout_s = forms.CharField(label="Timeout (s)", required=False)
    max_retries = forms.CharField(required=False)
    max_concurrency = forms.CharField(required=False)
    rps_limit = forms.CharField(label="Requests per second limit", required=False)

    def __init__(self, *args, kind: str, previous=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.previous = previous
        keep = {"name", "description", "inputs", "outputs", *KIND_FIELDS[kind]}
        for field_name in list(self.fields):
            if field_name not in keep:
                del self.fields[field_name]
        if kind == WorkflowKind.HTTP and "model" in self.fields:
            self.fields["model"].required = False
            self.fields["model"].help_text = "Optional: the model it calls, for its cost."
        if "callable" in self.fields:
            self.fields["callable"].choices = [(p, p) for p in python_workflow_allow_list()]
        if "api_key" in self.fields and previous is None:
            self.fields[
                "api_key"
            ].help_text = "Stored encrypted. env:NAME reads an environment variable."

    @classmethod
    def initial_for(cls, workflow, version) -> dict:
        """Field values for editing ``version`` (secrets as the mask, never their value)."""
        config = dict(version.config)
        initial = {
            "name": workflow.name,
            "description": workflow.description,
            "inputs": _io_text(version.inputs, with_required=True),
            "outputs": _io_text(version.outputs, with_required=False),
        }
        for key, value in config.items():
            if key in ("headers", "output_paths", "body_template", "api_key"):
                continue
            initial[key] = "" if value is None else value
        headers = []
        for name, value in (config.get("headers") or {}).items():
            if isinstance(value, dict) and "env" in value:
                headers.append(f"{name}: env:{value['env']}")
            elif isinstance(value, dict):
                headers.append(f"{name}: {secret_store.MASK}")
            else:
                headers.append(f"{name}: {value}")
        initial["headers"] = "\n".join(headers)
        initial["output_paths"] = "\n".join(
            f"{k}: {v}" for k, v in (config.get("output_paths") or {}).items()
        )
        if config.get("body_template") is not None:
            initial["body_template"] = json.dumps(config["body_template"], indent=2)
        return initial

    def _io(self, field: str) -> list[dict]:
        items = []
        for name, description in _lines(self.cleaned_data.get(field, "")):
            item = {"name": name.rstrip("?"), "description": description}
            if field == "inputs":
                item["required"] = not name.endswith("?")
            items.append(item)
        return items

    def _secret_text(self, value: str):
        value = (value or "").strip()
        if value == secret_store.MASK:
            return {"keep": True}
        if value.startswith("env:"):
            return {"env": value[4:].strip()}
        return {"secret": value}

    def payload(self) -> tuple[dict, list[dict], list[dict]]:
        """(config, inputs, outputs) for the services; raises ValidationError on bad JSON."""
        data = self.cleaned_data
        config: dict = {}
        for key in KIND_FIELDS[self.kind]:
            value = data.get(key)
            if value in (None, ""):
                continue
            config[key] = value
        if self.kind == WorkflowKind.HTTP:
            headers = {}
            for name, value in _lines(data.get("headers", "")):
                if value == secret_store.MASK or value.startswith("env:"):
                    headers[name] = self._secret_text(value)
                else:
                    headers[name] = value
            config["headers"] = headers
            config["output_paths"] = dict(_lines(data.get("output_paths", "")))
            if data.get("body_template"):
                try:
                    config["body_template"] = safe_json.loads(data["body_template"])
                except ValueError as exc:
                    raise ValidationError({"body_template": [f"Not valid JSON: {exc}"]}) from exc
        if self.kind == WorkflowKind.OPENAI_CHAT:
            if data.get("api_key"):
                config["api_key"] = self._secret_text(data["api_key"])
            elif self.previous is not None and self.previous.config.get("api_key"):
                config["api_key"] = {"keep": True}
        return config, self._io("inputs"), self._io("outputs")

    def add_service_errors(self, exc: ValidationError) -> None:
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for field, errors in exc.message_dict.items():
            self.add_error(field if field in self.fields else None, errors)


class TryForm(forms.Form):
    """One field per declared input of a version; values are text, or JSON when they parse."""

    version = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, version, **kwargs):
        super().__init__(*args, **kwargs)
        self.version = version
        for item in version.inputs:
            self.fields[f"in_{item['name']}"] = forms.CharField(
                label=item["name"],
                required=item.get("required", True),
                help_text=item.get("description", ""),
                widget=forms.Textarea(attrs={"rows": 2}),
            )

    def inputs(self) -> dict:
        values = {}
        for item in self.version.inputs:
            raw = self.cleaned_data.get(f"in_{item['name']}")
            if raw in (None, ""):
                continue
            values[item["name"]] = raw
            if raw.lstrip()[:1] in ("{", "["):
                with contextlib.suppress(ValueError):
                    values[item["name"]] = safe_json.loads(raw)
        return values
