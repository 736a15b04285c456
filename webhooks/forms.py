from django import forms

from webhooks.models import SUBSCRIBABLE, Event


class EndpointForm(forms.Form):
    url = forms.URLField(
        label="URL",
        max_length=2000,
        assume_scheme="https",
        help_text="Receives a signed JSON POST per event.",
    )
    description = forms.CharField(max_length=200, required=False)
    events = forms.MultipleChoiceField(
        choices=[(e.value, Event(e).label) for e in SUBSCRIBABLE],
        widget=forms.CheckboxSelectMultiple,
        initial=[e.value for e in SUBSCRIBABLE],
    )
