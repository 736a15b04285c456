"""The workflows list's filters, one FilterSet for the UI list and ``GET /v1/workflows``."""

from __future__ import annotations

import django_filters

from evalsite.filters import name_contains
from workflows.models import Workflow, WorkflowKind


class WorkflowFilterSet(django_filters.FilterSet):
    """``q`` / ``search``: text in the name; ``kind``: http, openai_chat or python."""

    q = django_filters.CharFilter(method=name_contains, max_length=200)
    search = django_filters.CharFilter(method=name_contains, max_length=200)
    kind = django_filters.ChoiceFilter(choices=WorkflowKind.choices)

    class Meta:
        model = Workflow
        fields: list[str] = []
