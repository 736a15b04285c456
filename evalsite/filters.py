"""Shared helpers of the FilterSets in ``<app>/filtersets.py``: the API answers a bad filter
value with a 400 naming the parameter; the UI shows the same message as a form error."""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import QuerySet


def filter_errors(filterset: django_filters.FilterSet) -> dict[str, list[str]]:
    """The FilterSet's form errors as ``{parameter: [message]}`` (empty when valid)."""
    if filterset.is_valid():
        return {}
    return {field: [str(m) for m in messages] for field, messages in filterset.errors.items()}


def filtered_or_400(filterset: django_filters.FilterSet) -> QuerySet:
    """``filterset.qs``, or a ``ValidationError`` (HTTP 400) naming each bad parameter."""
    errors = filter_errors(filterset)
    if errors:
        raise ValidationError(errors)
    return filterset.qs


def name_contains(queryset: QuerySet, name: str, value: str) -> QuerySet:
    """A ``method=`` for text filters on the ``name`` column."""
    value = (value or "").strip()
    return queryset.filter(name__icontains=value) if value else queryset
