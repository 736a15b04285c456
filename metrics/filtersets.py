"""The metric catalogue's filters, one FilterSet for the UI list and ``GET /v1/metrics``.

The filtering itself is ``metrics.selectors.filter_metrics``; the FilterSet validates and
names the parameters (the UI's ``q``/``type`` and the API's ``search``/``metric_type``)."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from metrics import selectors
from metrics.models import Metric, MetricCategory, MetricType

ORIGIN_CHOICES = [("builtin", "Built-in"), ("project", "This project")]


class MetricFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="keep", max_length=200)
    search = django_filters.CharFilter(method="keep", max_length=200)
    category = django_filters.ChoiceFilter(choices=MetricCategory.choices, method="keep")
    type = django_filters.ChoiceFilter(choices=MetricType.choices, method="keep")
    metric_type = django_filters.ChoiceFilter(choices=MetricType.choices, method="keep")
    origin = django_filters.ChoiceFilter(choices=ORIGIN_CHOICES, method="keep")

    class Meta:
        model = Metric
        fields: list[str] = []

    def keep(self, queryset: QuerySet, name: str, value) -> QuerySet:
        return queryset

    def values(self) -> dict:
        """The filters as ``filter_metrics`` takes them (empty when invalid)."""
        data = self.form.cleaned_data if self.is_valid() else {}
        return {
            "search": (data.get("q") or data.get("search") or "").strip(),
            "category": data.get("category") or "",
            "metric_type": data.get("type") or data.get("metric_type") or "",
            "origin": data.get("origin") or "",
        }

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        return selectors.filter_metrics(queryset, **self.values())
