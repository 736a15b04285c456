from __future__ import annotations

import json

from django import forms

from datasets.importing import FORMATS
from evalsite import safe_json


class DatasetForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class DraftForm(forms.Form):
    from_version = forms.ChoiceField(
        required=False, label="Start from", help_text="Empty, or a copy of a released version."
    )

    def __init__(self, *args, released_versions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from_version"].choices = [("", "An empty draft")] + [
            (str(v.pk), f"Version {v.number} ({v.row_count} rows)") for v in released_versions
        ]


class ImportForm(forms.Form):
    file = forms.FileField(
        allow_empty_file=True,
        help_text="CSV with a header line, a JSON array of objects, or JSONL.",
    )
    format = forms.ChoiceField(
        required=False,
        choices=[("", "From the file name")] + [(f, f.upper()) for f in FORMATS],
    )


class RowForm(forms.Form):
    data = forms.CharField(
        label="Row (JSON object)",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
    )

    def clean_data(self):
        try:
            value = safe_json.loads(self.cleaned_data["data"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Invalid JSON: {exc.msg} (line {exc.lineno}).") from exc
        except safe_json.UnsafeJSON as exc:
            raise forms.ValidationError(exc.message) from None
        if not isinstance(value, dict):
            raise forms.ValidationError('Write one JSON object, like {"question": "…"}.')
        return value
