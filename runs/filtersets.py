"""The filters of the runs list and of a run's results table: one ``django-filter`` FilterSet
each, used by the UI list views (whose form it renders) and by the ``/v1`` list endpoints, so a
bad value is a form error in one and a 400 naming the parameter in the other.

Parameters have the UI's names and the API's: ``q``/``search`` (text in the name) and
``dataset``/``dataset_id``.
"""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from evalsite.filters import name_contains
from runs.models import ACTIVE_RUN_STATUSES, EvaluationRun, RunStatus, RunTask, TaskStatus

# Seed 000's statuses are groups of ours: ``succeeded`` includes runs that succeeded with some
# failed rows, ``running`` includes runs being cancelled. The finer values filter exactly.
STATUS_GROUPS = {
    "pending": [RunStatus.PENDING],
    "running": [RunStatus.RUNNING, RunStatus.CANCELLING],
    "succeeded": [RunStatus.SUCCEEDED, RunStatus.PARTIALLY_SUCCEEDED],
    "failed": [RunStatus.FAILED],
    "canceled": [RunStatus.CANCELED],
    "cancelling": [RunStatus.CANCELLING],
    "partially_succeeded": [RunStatus.PARTIALLY_SUCCEEDED],
    "active": list(ACTIVE_RUN_STATUSES),
}
STATUS_CHOICES = [
    ("active", "Active"),
    ("pending", "Pending"),
    ("running", "Running"),
    ("cancelling", "Cancelling"),
    ("succeeded", "Succeeded"),
    ("partially_succeeded", "Partially succeeded"),
    ("failed", "Failed"),
    ("canceled", "Canceled"),
]


class RunFilterSet(django_filters.FilterSet):
    """The runs list: ``status`` (seed values, finer values or ``active``), dataset, name."""

    q = django_filters.CharFilter(
        method=name_contains, max_length=200, label="Search by name", required=False
    )
    search = django_filters.CharFilter(method=name_contains, max_length=200, required=False)
    status = django_filters.ChoiceFilter(
        choices=STATUS_CHOICES,
        method="filter_status",
        empty_label="Any status",
        label="Status",
    )
    dataset = django_filters.ModelChoiceFilter(
        field_name="dataset_version__dataset",
        queryset=None,
        empty_label="Any dataset",
        label="Dataset",
    )
    dataset_id = django_filters.UUIDFilter(field_name="dataset_version__dataset_id")

    class Meta:
        model = EvaluationRun
        fields: list[str] = []

    def __init__(self, data=None, queryset=None, *, datasets=None, **kwargs):
        super().__init__(data, queryset, **kwargs)
        from datasets.models import Dataset

        ids = [d.pk for d in datasets] if datasets is not None else []
        self.filters["dataset"].queryset = Dataset.objects.filter(pk__in=ids).order_by("name")

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        return queryset.filter(status__in=STATUS_GROUPS[value])

    @property
    def filtered(self) -> bool:
        return self.is_bound and self.is_valid() and any(self.form.cleaned_data.values())


RESULT_STATUS_CHOICES = [("failed", "Failed rows"), *TaskStatus.choices]


class ResultFilterSet(django_filters.FilterSet):
    """A run's results table: row ``status`` (``failed`` or a task status), a metric's score
    range (``binding`` with ``below`` / ``above``), text in any field (``q`` / ``search``) and
    ``sort``. The table is keyset-paginated SQL rather than a queryset filter, so this FilterSet
    validates and names the parameters and ``table_filters()`` hands them to
    ``runs.results_table.results_table_page``, which checks them against the run's columns."""

    status = django_filters.ChoiceFilter(choices=RESULT_STATUS_CHOICES, method="keep")
    binding = django_filters.UUIDFilter(method="keep")
    metric = django_filters.UUIDFilter(method="keep")
    below = django_filters.NumberFilter(method="keep")
    above = django_filters.NumberFilter(method="keep")
    q = django_filters.CharFilter(method="keep", max_length=200)
    search = django_filters.CharFilter(method="keep", max_length=200)
    sort = django_filters.CharFilter(method="keep", max_length=80)

    class Meta:
        model = RunTask
        fields: list[str] = []

    def keep(self, queryset: QuerySet, name: str, value) -> QuerySet:
        return queryset

    def table_filters(self) -> dict:
        data = self.form.cleaned_data if self.is_valid() else {}

        def text(name: str) -> str:
            value = data.get(name)
            return "" if value is None else str(value)

        return {
            "status": text("status"),
            "binding": text("binding") or text("metric"),
            "below": data.get("below"),
            "above": data.get("above"),
            "text": text("q") or text("search"),
        }

    def sort_value(self) -> str | None:
        return (self.form.cleaned_data.get("sort") if self.is_valid() else None) or None
