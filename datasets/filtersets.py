"""The datasets list's filters, one FilterSet for the UI list and ``GET /v1/datasets``."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from datasets.models import Dataset
from evalsite.filters import name_contains


class DatasetFilterSet(django_filters.FilterSet):
    """``q`` / ``search``: text in the name; ``released``: only datasets with (or without) a
    released version."""

    q = django_filters.CharFilter(method=name_contains, max_length=200)
    search = django_filters.CharFilter(method=name_contains, max_length=200)
    released = django_filters.ChoiceFilter(
        choices=[("true", "Released"), ("false", "Drafts only")], method="filter_released"
    )

    class Meta:
        model = Dataset
        fields: list[str] = []

    def filter_released(self, queryset: QuerySet, name: str, value) -> QuerySet:
        if not value:
            return queryset
        return queryset.filter(latest_released_id__isnull=value != "true")
