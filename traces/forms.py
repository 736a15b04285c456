"""The monitor form: what a person picks; ``traces.monitors.monitor_save`` checks it all."""

from __future__ import annotations

from django import forms

from evalsite import safe_json
from traces.models import MonitorPeriod
from traces.span_scoring import SHORT, SPAN_TARGETS

SPAN_CHOICES = [("", "The metric's own span type")] + [(t, SHORT[t].title()) for t in SPAN_TARGETS]


class MonitorForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    dataset = forms.ChoiceField(label="Dataset of ingested traces", required=False)
    metrics = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Each picked metric reads the trace row with suggested selectors; span-level "
        "metrics score every span of their type.",
    )
    span_type = forms.ChoiceField(
        choices=SPAN_CHOICES, required=False, label="Span type for span-level metrics"
    )
    bindings = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        label="Metric bindings (JSON)",
        help_text='Advanced, replaces the picks above: [{"id": "<metric id>", '
        '"input_transformer": {"selector": {"<input>": "$.dataset.<column>"}}, '
        '"span_type": "TRACE_SPAN_TYPE_TOOL"}].',
    )
    star_metric_id = forms.ChoiceField(label="Star metric", required=False)
    star_threshold = forms.CharField(
        required=False,
        label="Threshold",
        help_text="Alert when the period's star metric mean falls below this.",
    )
    interval_minutes = forms.CharField(initial="5", label="Every (minutes)")
    period = forms.ChoiceField(choices=MonitorPeriod.choices, initial=MonitorPeriod.DAY)
    settle_seconds = forms.CharField(
        initial="60",
        label="Settle delay (seconds)",
        help_text="A trace is scored once no span has arrived for this long.",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
    score_existing = forms.BooleanField(
        required=False, label="Also score the traces already in the dataset"
    )

    def __init__(self, *args, datasets, metrics, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].choices = [("", "Pick a dataset")] + [
            (str(d.pk), d.name) for d in datasets
        ]
        metric_choices = [(str(m.pk), m.name) for m in metrics]
        self.fields["metrics"].choices = metric_choices
        self.fields["star_metric_id"].choices = [("", "None")] + metric_choices
        if editing:
            del self.fields["score_existing"]

    def bindings_json(self):
        """The bindings typed as JSON (None when left empty), or a form error."""
        text = (self.cleaned_data.get("bindings") or "").strip()
        if not text:
            return None
        try:
            value = safe_json.loads(text)
        except safe_json.UnsafeJSON as exc:  # too deep, NUL, lone surrogates
            self.add_error("bindings", exc.message)
            return False
        except ValueError:
            self.add_error("bindings", "Not valid JSON.")
            return False
        if not isinstance(value, list):
            self.add_error("bindings", "A JSON list of metric bindings.")
            return False
        return value
