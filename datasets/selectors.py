"""Reads over datasets: the lists the UI and the API show, and keyset pages of items."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery, TextField
from django.db.models.functions import Cast

from datasets.models import Dataset, DatasetItem, DatasetVersion, VersionStatus


def released_versions_for_project(project) -> QuerySet[DatasetVersion]:
    return (
        DatasetVersion.objects.filter(dataset__project=project, status=VersionStatus.RELEASED)
        .select_related("dataset")
        .order_by("dataset__name", "-number")
    )


def datasets_with_released_versions(project) -> QuerySet[Dataset]:
    return (
        Dataset.objects.filter(project=project, versions__status=VersionStatus.RELEASED)
        .distinct()
        .order_by("name")
    )


def datasets_for_project(project) -> QuerySet[Dataset]:
    """The project's datasets with their version count and latest released version."""
    latest_released = DatasetVersion.objects.filter(
        dataset=OuterRef("pk"), status=VersionStatus.RELEASED
    ).order_by("-number")
    return (
        Dataset.objects.filter(project=project)
        .annotate(
            version_count=Count("versions"),
            latest_released_number=Max(
                "versions__number", filter=Q(versions__status=VersionStatus.RELEASED)
            ),
            latest_released_rows=Subquery(latest_released.values("row_count")[:1]),
            latest_released_id=Subquery(latest_released.values("id")[:1]),
        )
        .order_by("name")
    )


def versions_for_dataset(dataset) -> QuerySet[DatasetVersion]:
    return dataset.versions.select_related("created_by", "released_by").order_by("-number")


@dataclass
class ItemPage:
    items: list[DatasetItem]
    has_more: bool
    next_after: int | None
    has_previous: bool


def items_page(
    version: DatasetVersion,
    *,
    after: int | None = None,
    before: int | None = None,
    limit: int = 50,
    search: str = "",
) -> ItemPage:
    """One keyset page of a version's items ordered by position (fast at any depth).

    ``after``: positions strictly greater; ``before``: the page just before that position.
    """
    queryset = DatasetItem.objects.filter(version=version)
    if search:
        escaped = json.dumps(search)[1:-1]  # how non-ASCII text is stored in JSON text
        queryset = queryset.annotate(text=Cast("data", TextField())).filter(
            Q(text__icontains=search) | Q(text__icontains=escaped)
        )
    if before is not None:
        rows = list(queryset.filter(position__lt=before).order_by("-position")[: limit + 1])
        has_previous = len(rows) > limit
        items = list(reversed(rows[:limit]))
        has_more = True
    else:
        if after is not None:
            queryset = queryset.filter(position__gt=after)
        items = list(queryset.order_by("position")[: limit + 1])
        has_more = len(items) > limit
        items = items[:limit]
        has_previous = after is not None and after >= 0
    next_after = items[-1].position if items and has_more else None
    return ItemPage(
        items=items, has_more=has_more, next_after=next_after, has_previous=has_previous
    )
