"""Forms of the METRICS tab. The metric form grows one field per declared parameter of the
chosen implementation; the services validate the definition and their field errors
(``params.x``, ``inputs.0.name``...) are shown next to the matching fields."""

from __future__ import annotations

import json

from django import forms
from django.core.exceptions import ValidationError

from evalsite import safe_json
from metrics.models import MetricCategory, MetricType, MetricValueType, MetricVersion
from metrics.params import Param
from metrics.registry import Implementation, implementations

DEFAULT_CHOICE = ("", "Default for the implementation")
JUDGE_KEY = "llm_judge"
# How the judge form lays out its parameters (anything not listed goes under "Other").
JUDGE_SECTIONS = (
    ("Rubric", ("preset", "prompt", "criteria", "steps")),
    ("Judge model", ("base_url", "model", "api_key", "temperature", "timeout_s", "max_retries")),
    ("Score scale", ("score_min", "score_max")),
)


def implementation_groups() -> list[tuple[str, list[dict]]]:
    """The picker's options: every implementation as plain data (name, key, description),
    grouped by category label in the catalogue's category order.

    Plain dicts, not the classes: a template calls anything callable, so a class would be
    instantiated (and fail) instead of having its attributes read.
    """
    labels = dict(MetricCategory.choices)
    order = [value for value, _ in MetricCategory.choices]
    groups: dict[str, list[dict]] = {}
    for impl in implementations().values():
        groups.setdefault(impl.category, []).append(
            {
                "key": impl.key,
                "label": impl.label or impl.key,
                "description": impl.description,
                "is_judge": impl.key == JUDGE_KEY,
            }
        )
    return [
        (labels.get(category, category), sorted(items, key=lambda i: i["label"].lower()))
        for category, items in sorted(
            groups.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)
        )
    ]


def _param_field(spec: Param) -> forms.Field:
    common = {"required": False, "help_text": spec.help, "label": spec.name.replace("_", " ")}
    if spec.kind == "bool":
        return forms.BooleanField(**common)
    if spec.kind == "choice":
        return forms.ChoiceField(choices=[(c, c) for c in spec.choices], **common)
    if spec.kind == "secret":
        common["help_text"] = (spec.help + " Leave blank to keep the stored value.").strip()
        return forms.CharField(widget=forms.PasswordInput(render_value=False), **common)
    if spec.kind in ("text", "json", "str_list"):
        if spec.kind == "str_list":
            common["help_text"] = (spec.help + " One per line.").strip()
        rows = 8 if spec.name == "prompt" else 4
        return forms.CharField(widget=forms.Textarea(attrs={"rows": rows}), strip=False, **common)
    return forms.CharField(**common)


def _initial_param(spec: Param, value):
    if value is None or spec.kind == "secret":
        return None
    if spec.kind == "str_list":
        return "\n".join(value)
    if spec.kind == "json":
        return json.dumps(value, indent=2)
    return value


def parse_inputs(text: str) -> list[dict]:
    """``name: description`` per line; a trailing ``?`` on the name makes it optional."""
    inputs = []
    for line in text.splitlines():
        if not line.strip():
            continue
        name, _, description = line.partition(":")
        name = name.strip()
        required = not name.endswith("?")
        inputs.append(
            {"name": name.rstrip("?"), "description": description.strip(), "required": required}
        )
    return inputs


def format_inputs(inputs: list[dict]) -> str:
    return "\n".join(
        f"{i['name']}{'' if i.get('required', True) else '?'}: {i.get('description', '')}".rstrip(
            ": "
        )
        for i in inputs
    )


class MetricForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    category = forms.ChoiceField(choices=[DEFAULT_CHOICE, *MetricCategory.choices], required=False)
    metric_type = forms.ChoiceField(choices=[DEFAULT_CHOICE, *MetricType.choices], required=False)
    inverted = forms.BooleanField(required=False, help_text="Lower values are better.")

    def __init__(self, *args, implementation: type[Implementation], **kwargs):
        super().__init__(*args, **kwargs)
        self.implementation = implementation
        if implementation.user_inputs:
            self.fields["inputs"] = forms.CharField(
                widget=forms.Textarea(attrs={"rows": 4}),
                required=False,
                help_text="One per line: name: description (name? for optional). "
                "Judges infer them from the prompt's {{variables}} when left empty.",
            )
        if implementation.user_value_type:
            self.fields["value_type"] = forms.ChoiceField(choices=MetricValueType.choices)
            self.fields["range_min"] = forms.FloatField(required=False)
            self.fields["range_max"] = forms.FloatField(required=False)
        for spec in implementation.params:
            self.fields[f"param_{spec.name}"] = _param_field(spec)
        self.fields["note"] = forms.CharField(
            max_length=500, required=False, help_text="What changed (kept with the version)."
        )

    @classmethod
    def initial_for(cls, metric, version: MetricVersion | None) -> dict:
        initial = {
            "name": metric.name,
            "description": metric.description,
            "category": metric.category,
            "metric_type": metric.metric_type,
            "inverted": metric.inverted,
            "value_type": metric.value_type,
            "range_min": metric.range_min,
            "range_max": metric.range_max,
        }
        if version is not None:
            initial["inputs"] = format_inputs(version.inputs)
            from metrics.registry import get_implementation

            for spec in get_implementation(version.implementation).params:
                initial[f"param_{spec.name}"] = _initial_param(spec, version.params.get(spec.name))
        return initial

    def param_fields(self):
        return [self[f"param_{spec.name}"] for spec in self.implementation.params]

    @property
    def is_judge(self) -> bool:
        return self.implementation.key == JUDGE_KEY

    def param_sections(self) -> list[tuple[str, list]]:
        """``(heading, bound fields)``: one "Parameters" section, or the judge's sections."""
        fields = self.param_fields()
        if not self.is_judge:
            return [("Parameters", fields)] if fields else []
        by_name = {f.name.removeprefix("param_"): f for f in fields}
        sections, placed = [], set()
        for title, names in JUDGE_SECTIONS:
            chosen = [by_name[n] for n in names if n in by_name]
            placed.update(names)
            if chosen:
                sections.append((title, chosen))
        rest = [f for n, f in by_name.items() if n not in placed]
        if rest:
            sections.append(("Other", rest))
        return sections

    def metadata(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "description": data.get("description", ""),
            "category": data.get("category") or None,
            "metric_type": data.get("metric_type") or None,
            "inverted": data.get("inverted", False),
        }

    def params(self) -> dict:
        params = {}
        for spec in self.implementation.params:
            value = self.cleaned_data.get(f"param_{spec.name}")
            if spec.kind == "bool":
                params[spec.name] = bool(value)
            elif value not in (None, ""):
                params[spec.name] = value
        return params

    def inputs(self) -> list[dict] | None:
        if not self.implementation.user_inputs:
            return None
        return parse_inputs(self.cleaned_data.get("inputs") or "")

    def value_settings(self) -> dict:
        if not self.implementation.user_value_type:
            return {}
        return {
            "value_type": self.cleaned_data.get("value_type"),
            "range_min": self.cleaned_data.get("range_min"),
            "range_max": self.cleaned_data.get("range_max"),
        }

    def add_service_errors(self, exc: ValidationError) -> None:
        """Show ``params.x`` next to ``param_x``, ``inputs.N...`` next to inputs, etc."""
        for key, messages in exc.message_dict.items():
            field = key
            if key.startswith("params."):
                field = "param_" + key.split(".", 1)[1]
            elif key.startswith("inputs"):
                field = "inputs"
                messages = [f"{key}: {m}" if key != "inputs" else m for m in messages]
            if field not in self.fields:
                messages = [f"{key}: {m}" for m in messages]
                field = None
            for message in messages:
                self.add_error(field, message)


class TryForm(forms.Form):
    """One text box per declared input; JSON values (lists, objects, numbers) are parsed."""

    def __init__(self, *args, version: MetricVersion, **kwargs):
        super().__init__(*args, **kwargs)
        for item in version.inputs:
            self.fields[f"input_{item['name']}"] = forms.CharField(
                label=item["name"],
                required=False,
                help_text=item.get("description", ""),
                widget=forms.Textarea(attrs={"rows": 2}),
                strip=False,
            )
        self.version = version

    def inputs(self) -> dict:
        values = {}
        for item in self.version.inputs:
            raw = self.cleaned_data.get(f"input_{item['name']}") or ""
            if raw == "":
                continue
            stripped = raw.strip()
            if stripped[:1] in ("[", "{"):
                try:
                    values[item["name"]] = safe_json.loads(stripped)
                    continue
                except ValueError:  # not JSON (or unsafe JSON): kept as the text it is
                    pass
            values[item["name"]] = raw
        return values
