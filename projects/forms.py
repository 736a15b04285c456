from django import forms


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="A label that says where the key is used, e.g. 'CI'."
    )
