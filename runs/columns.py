"""The columns of a run's results: its entries (agents) and metric bindings, with the labels
the results table, the downloads and the comparison show."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from runs.models import EvaluationRun, MetricBinding, RunEntry, TaskStatus

STRING_VALUE_TYPE = "METRIC_VALUE_TYPE_STRING"

# Dataset columns shown beside the agent's answer (the question) and compared with it
# (the expected answer), in order of preference; the results table and compare share them.
QUESTION_COLUMNS = ("question", "query", "input", "prompt", "user_input")
EXPECTED_COLUMNS = (
    "expected",
    "expected_answer",
    "expected_output",
    "ground_truth",
    "ground_truth_answer",
    "reference",
    "answer",
    "target",
)


@dataclass
class EntryColumn:
    id: uuid.UUID
    position: int
    workflow_id: uuid.UUID | None
    workflow_name: str | None
    workflow_version_id: uuid.UUID | None
    workflow_version_number: int | None
    output_names: list[str]

    @property
    def label(self) -> str:
        if self.workflow_name is None:
            return "Dataset"
        return f"{self.workflow_name} v{self.workflow_version_number}"

    def as_dict(self) -> dict | None:
        if self.workflow_id is None:
            return None
        return {
            "id": str(self.workflow_id),
            "name": self.workflow_name,
            "version_id": str(self.workflow_version_id),
            "version_number": self.workflow_version_number,
        }


@dataclass
class BindingColumn:
    id: uuid.UUID
    position: int
    entry_id: uuid.UUID
    entry_position: int
    metric_id: uuid.UUID
    metric_name: str
    metric_version_id: uuid.UUID
    metric_version_number: int
    value_type: str
    inverted: bool
    range_min: float | None
    range_max: float | None
    is_star: bool = False
    threshold: float | None = None
    agent_label: str = ""
    unique_label: str = ""
    span_type: str | None = None  # a span-level binding scores the spans of this type

    @property
    def is_numeric(self) -> bool:
        return self.value_type != STRING_VALUE_TYPE

    @property
    def sort_key(self) -> str:
        return f"score:{self.id}"

    @property
    def label(self) -> str:
        """The metric's name, or "name (vN) · agent" when the run binds that name twice."""
        return self.unique_label or self.metric_name

    def metric_dict(self) -> dict:
        return {
            "binding_id": str(self.id),
            "label": self.label,
            "metric_id": str(self.metric_id),
            "metric_name": self.metric_name,
            "metric_version_id": str(self.metric_version_id),
            "metric_version": self.metric_version_number,
        }


@dataclass
class RunColumns:
    dataset_columns: list[str]
    entries: list[EntryColumn]
    bindings: list[BindingColumn]

    @property
    def several_agents(self) -> bool:
        return len(self.entries) > 1

    def cache_labels(self) -> tuple:
        """What a cached results page names that can change after the run finished: metric
        and agent names (``runs.results_cache``)."""
        return (
            tuple((str(b.id), b.label, b.metric_name, b.value_type) for b in self.bindings),
            tuple((str(e.id), e.workflow_id, e.workflow_name) for e in self.entries),
        )

    def entry(self, entry_id) -> EntryColumn | None:
        return next((e for e in self.entries if e.id == entry_id), None)

    def binding(self, binding_id) -> BindingColumn | None:
        return next((b for b in self.bindings if str(b.id) == str(binding_id)), None)

    def bindings_by_entry(self) -> list[tuple[EntryColumn, list[BindingColumn]]]:
        return [(e, [b for b in self.bindings if b.entry_id == e.id]) for e in self.entries]


def unique_labels(bindings: list[tuple]) -> dict[str, str]:
    """{binding id: label} for ``(id, metric name, version number, agent label)`` tuples.

    A metric name bound once is its own label; names that repeat (the same metric on two
    agents, or bound twice) read "name (vN) · agent", and "#k" (the column's 1-based place)
    tells apart whatever is still equal.
    """
    by_name: dict[str, int] = {}
    for _, name, _, _ in bindings:
        by_name[name] = by_name.get(name, 0) + 1
    labels: dict[str, str] = {}
    for binding_id, name, version, agent in bindings:
        label = name
        if by_name[name] > 1:
            label = f"{name} (v{version})" + (f" · {agent}" if agent else "")
        labels[str(binding_id)] = label
    seen: dict[str, int] = {}
    for label in labels.values():
        seen[label] = seen.get(label, 0) + 1
    for index, (binding_id, label) in enumerate(list(labels.items()), start=1):
        if seen[label] > 1:
            labels[binding_id] = f"{label} #{index}"
    return labels


def binding_labels(run: EvaluationRun) -> dict[str, str]:
    """{binding id: label} of the run's metric columns (see ``unique_labels``)."""
    return {str(b.id): b.label for b in run_columns(run).bindings}


def run_columns(run: EvaluationRun) -> RunColumns:
    entries = [
        EntryColumn(
            id=entry.id,
            position=entry.position,
            workflow_id=entry.workflow_version.workflow_id if entry.workflow_version else None,
            workflow_name=entry.workflow_version.workflow.name if entry.workflow_version else None,
            workflow_version_id=entry.workflow_version_id,
            workflow_version_number=(
                entry.workflow_version.number if entry.workflow_version else None
            ),
            output_names=entry.workflow_version.output_names() if entry.workflow_version else [],
        )
        for entry in RunEntry.objects.filter(run=run)
        .select_related("workflow_version__workflow")
        .order_by("position")
    ]
    labels = {e.id: e for e in entries}
    bindings = []
    for binding in (
        MetricBinding.objects.filter(run=run)
        .select_related("metric_version__metric")
        .order_by("position")
    ):
        metric = binding.metric_version.metric
        entry = labels.get(binding.entry_id)
        is_star = binding.id == run.star_binding_id
        bindings.append(
            BindingColumn(
                id=binding.id,
                position=binding.position,
                entry_id=binding.entry_id,
                entry_position=entry.position if entry else 0,
                metric_id=metric.id,
                metric_name=metric.name,
                metric_version_id=binding.metric_version_id,
                metric_version_number=binding.metric_version.number,
                value_type=metric.value_type,
                inverted=metric.inverted,
                range_min=metric.range_min,
                range_max=metric.range_max,
                is_star=is_star,
                threshold=run.star_threshold if is_star else None,
                agent_label=entry.label if entry else "",
                span_type=binding.span_type or None,
            )
        )
    agents = {e.id: e.label if e.workflow_name else "" for e in entries}
    labels = unique_labels(
        [
            (b.id, b.metric_name, b.metric_version_number, agents.get(b.entry_id, ""))
            for b in bindings
        ]
    )
    for column in bindings:
        column.unique_label = labels[str(column.id)]
    return RunColumns(
        dataset_columns=run.dataset_version.column_names(), entries=entries, bindings=bindings
    )


def combined_status(statuses: list[str]) -> str:
    """One status for a row from the statuses of its tasks (one per agent)."""
    if not statuses:
        return TaskStatus.PENDING
    if TaskStatus.FAILED in statuses:
        return TaskStatus.FAILED
    if TaskStatus.CLAIMED in statuses:
        return TaskStatus.CLAIMED
    if TaskStatus.PENDING in statuses:
        return TaskStatus.PENDING
    if all(s == TaskStatus.CANCELED for s in statuses):
        return TaskStatus.CANCELED
    return TaskStatus.SUCCEEDED
