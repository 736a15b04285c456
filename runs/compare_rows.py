"""The comparison page's rows side by side: per dataset row, its input and expected answer,
each run's output (with a word-level diff against the baseline's) and the scores of the
matched metrics with their deltas — optionally only the rows where a run regressed.

This is presentation over ``runs.compare.runs_compare`` (which owns the statistics): it reads
the matched bindings from the comparison and loads one page of rows.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field

from datasets.models import DatasetItem
from runs.columns import EXPECTED_COLUMNS, QUESTION_COLUMNS, run_columns
from runs.compare import Comparison
from runs.models import MetricResult, RunTask
from runs.results_table import tasks_for_positions

MAX_DIFF_CHARS = 5_000
ROWS_PER_PAGE = 20


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """``[(op, text)]`` with op ``equal``, ``delete`` (only in ``before``) or ``insert``
    (only in ``after``), comparing words (difflib on whitespace-separated tokens)."""
    a = (before or "")[:MAX_DIFF_CHARS].split()
    b = (after or "")[:MAX_DIFF_CHARS].split()
    segments: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            segments.append(("equal", " ".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            segments.append(("delete", " ".join(a[i1:i2])))
        if op in ("insert", "replace"):
            segments.append(("insert", " ".join(b[j1:j2])))
    return segments


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


@dataclass
class RunOutput:
    run_id: str
    run_name: str
    is_baseline: bool
    text: str
    status: str
    error: str
    diff: list[tuple[str, str]] | None = None  # against the baseline; None for the baseline


@dataclass
class ScoreCell:
    value: float | str | None
    delta: float | None = None
    worse: bool = False
    better: bool = False


@dataclass
class MetricRow:
    name: str
    baseline: ScoreCell
    others: list[ScoreCell]


@dataclass
class CompareRow:
    position: int
    input: str
    expected: str
    outputs: list[RunOutput]
    metrics: list[MetricRow]
    regressed: bool = False


@dataclass
class CompareRowsPage:
    rows: list[CompareRow]
    input_column: str | None
    expected_column: str | None
    has_outputs: bool
    next_after: int | None
    regressions_only: bool
    regressed_count: int
    metric_names: list[str] = field(default_factory=list)


def _first_output(columns) -> tuple[object, str] | None:
    for entry in columns.entries:
        if entry.workflow_name and entry.output_names:
            return entry.id, entry.output_names[0]
    return None


def _values(binding_id) -> dict[int, float]:
    return dict(
        MetricResult.objects.filter(
            binding_id=binding_id, number_value__isnull=False, error_description=""
        ).values_list("task__position", "number_value")
    )


def _regressed_positions(comparison: Comparison) -> set[int]:
    """Rows where any run scored worse than the baseline on any matched metric."""
    regressed: set[int] = set()
    for pair in comparison.pairs:
        for metric in pair.metrics:
            base = _values(metric.baseline_binding.id)
            other = _values(metric.other_binding.id)
            for position, value in other.items():
                before = base.get(position)
                if before is None:
                    continue
                change = (before - value) if metric.inverted else (value - before)
                if change < 0:
                    regressed.add(position)
    return regressed


def compare_rows(
    comparison: Comparison,
    *,
    regressions_only: bool = False,
    after: int | None = None,
    limit: int = ROWS_PER_PAGE,
) -> CompareRowsPage:
    runs = comparison.runs
    baseline = runs[0]
    columns = [run_columns(run) for run in runs]
    dataset_columns = columns[0].dataset_columns
    input_column = next((c for c in QUESTION_COLUMNS if c in dataset_columns), None)
    expected_column = next((c for c in EXPECTED_COLUMNS if c in dataset_columns), None)
    if input_column is None:
        input_column = next((c for c in dataset_columns if c != expected_column), None)
    outputs = [_first_output(c) for c in columns]

    regressed = _regressed_positions(comparison)
    if regressions_only:
        ordered = sorted(p for p in regressed if after is None or p > after)
        positions = ordered[: limit + 1]
    else:
        first_entry = columns[0].entries[0].id if columns[0].entries else None
        tasks = RunTask.objects.filter(run=baseline, entry_id=first_entry)
        if after is not None:
            tasks = tasks.filter(position__gt=after)
        positions = list(tasks.order_by("position").values_list("position", flat=True)[: limit + 1])
    next_after = positions[limit - 1] if len(positions) > limit else None
    positions = positions[:limit]

    tasks_by_run = {
        run.id: {(t.entry_id, t.position): t for t in tasks_for_positions(run, positions)}
        for run in runs
    }
    item_ids = {t.position: t.item_id for t in tasks_by_run[baseline.id].values()}
    items = dict(DatasetItem.objects.filter(id__in=item_ids.values()).values_list("id", "data"))

    metric_pairs = []  # per metric name of the first pair: the binding of each run
    if comparison.pairs:
        for index, metric in enumerate(comparison.pairs[0].metrics):
            bindings = [metric.baseline_binding.id]
            for pair in comparison.pairs:
                match = pair.metrics[index] if index < len(pair.metrics) else None
                bindings.append(match.other_binding.id if match else None)
            metric_pairs.append((metric, bindings))
    binding_ids = [b for _, bindings in metric_pairs for b in bindings if b]
    scores: dict[tuple, object] = {}
    for result in MetricResult.objects.filter(
        binding_id__in=binding_ids, task__position__in=positions
    ).values("binding_id", "task__position", "number_value", "string_value", "error_description"):
        value = result["number_value"]
        if value is None:
            value = "error" if result["error_description"] else result["string_value"]
        scores[(result["binding_id"], result["task__position"])] = value

    rows = []
    for position in positions:
        data = items.get(item_ids.get(position)) or {}
        run_outputs = []
        baseline_text = None
        for run, output in zip(runs, outputs, strict=True):
            if output is None:
                continue
            entry_id, name = output
            task = tasks_by_run[run.id].get((entry_id, position))
            text = _text((task.outputs or {}).get(name)) if task else ""
            cell = RunOutput(
                run_id=str(run.id),
                run_name=run.name,
                is_baseline=run.id == baseline.id,
                text=text,
                status=task.status if task else "",
                error=(task.error or "") if task else "",
            )
            if cell.is_baseline:
                baseline_text = text
            elif baseline_text is not None:  # a dataset-only baseline has no output to diff
                cell.diff = word_diff(baseline_text, text)
            run_outputs.append(cell)
        metric_rows = []
        for metric, bindings in metric_pairs:
            base_value = scores.get((bindings[0], position))
            others = []
            for binding in bindings[1:]:
                value = scores.get((binding, position)) if binding else None
                cell = ScoreCell(value)
                if isinstance(value, float) and isinstance(base_value, float):
                    cell.delta = value - base_value
                    signed = -cell.delta if metric.inverted else cell.delta
                    cell.worse, cell.better = signed < 0, signed > 0
                others.append(cell)
            metric_rows.append(MetricRow(metric.name, ScoreCell(base_value), others))
        rows.append(
            CompareRow(
                position=position,
                input=_text(data.get(input_column)) if input_column else "",
                expected=_text(data.get(expected_column)) if expected_column else "",
                outputs=run_outputs,
                metrics=metric_rows,
                regressed=position in regressed,
            )
        )
    return CompareRowsPage(
        rows=rows,
        input_column=input_column,
        expected_column=expected_column,
        has_outputs=any(o is not None for o in outputs),
        next_after=next_after,
        regressions_only=regressions_only,
        regressed_count=len(regressed),
        metric_names=[m.name for m, _ in metric_pairs],
    )
