"""The results table: keyset pages of a run's rows (one per dataset item), fast at 100,000
rows.

- In position order it walks the ``(run, position, id)`` index of the tasks of one entry;
- sorted by a metric it walks the ``(binding, number_value)`` index of that metric's results
  (then the results without a number, then the tasks without a result);
- only the page's rows are then loaded with their items, the tasks of every entry and scores.

Sorting by a dataset column or by latency has no index to walk; those pages use OFFSET.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Exists, F, OuterRef, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from datasets.models import DatasetItem
from metrics.aggregation import passes
from runs.columns import BindingColumn, EntryColumn, RunColumns, combined_status, run_columns
from runs.models import EvaluationRun, MetricResult, RunTask, TaskStatus
from runs.selectors import RESULT_FIELDS
from traces.span_scoring import span_results_by_task

PAGE_LIMIT_MAX = 500


@dataclass
class ResultCell:
    number_value: float | None
    string_value: str | None
    error_description: str
    passed: bool | None = None
    # Runs with repetitions: the value above is the mean over the row's trials, with their
    # spread (sample stddev, min, max) and each trial's value (None: no value).
    stddev: float | None = None
    min: float | None = None
    max: float | None = None
    trials: list | None = None
    pass_at_k: bool | None = None
    pass_all_k: bool | None = None

    @property
    def value(self):
        return self.number_value if self.number_value is not None else self.string_value

    def trial_dict(self) -> dict:
        return {
            "trials": self.trials,
            "stddev": self.stddev,
            "min": self.min,
            "max": self.max,
            "pass_at_k": self.pass_at_k,
            "pass_all_k": self.pass_all_k,
        }


def trial_cell(results: list[dict], *, trials: int, binding: BindingColumn | None) -> ResultCell:
    """One row's cell over its trials: the mean of the trials' values and their spread."""
    from runs.trials import row_stats

    values: list = [None] * trials
    errors = []
    for result in results:
        index = result.get("trial", 0)
        if result["error_description"]:
            errors.append(result["error_description"])
        elif 0 <= index < trials:
            number = result["number_value"]
            values[index] = number if number is not None else result["string_value"]
    thresholded = binding is not None and binding.is_star and binding.threshold is not None
    stats = row_stats(
        values,
        threshold=binding.threshold if thresholded else None,
        inverted=bool(binding and binding.inverted),
    )
    strings = [v for v in values if isinstance(v, str)]
    cell = ResultCell(
        number_value=stats["mean"],
        string_value=strings[0] if strings and stats["mean"] is None else None,
        error_description=errors[0] if errors and stats["scored"] == 0 and not strings else "",
        stddev=stats["stddev"],
        min=stats["min"],
        max=stats["max"],
        trials=values,
        pass_at_k=stats.get("pass_at_k"),
        pass_all_k=stats.get("pass_all_k"),
    )
    if thresholded and stats["mean"] is not None:
        cell.passed = passes(stats["mean"], threshold=binding.threshold, inverted=binding.inverted)
    return cell


@dataclass
class ResultRow:
    position: int
    item_id: uuid.UUID
    data: dict
    status: str
    tasks: list[dict]  # one per entry: status, error, outputs, latency_ms, tokens
    scores: dict[str, ResultCell | None] = field(default_factory=dict)  # binding id -> cell
    spans: dict[str, list] = field(default_factory=dict)  # binding id -> its span results

    @property
    def trials_done(self) -> str:
        """With repetitions, "k of n trials" when some of the row's trials did not succeed
        (the row's status is then failed, but its scores are the trials that ran)."""
        if not any(t.get("trial") for t in self.tasks):  # one trial per agent
            return ""
        done = sum(1 for t in self.tasks if t["status"] == TaskStatus.SUCCEEDED)
        return "" if done == len(self.tasks) else f"{done} of {len(self.tasks)} trials"

    def score(self, binding_id) -> ResultCell | None:
        return self.scores.get(str(binding_id))

    def as_dict(self, columns: RunColumns) -> dict:
        return {
            "position": self.position,
            "item_id": str(self.item_id),
            "status": self.status,
            "data": self.data,
            "tasks": self.tasks,
            "metrics": [
                {
                    **binding.metric_dict(),
                    "number_value": cell.number_value if cell else None,
                    "string_value": cell.string_value if cell else None,
                    "error_description": cell.error_description if cell else "",
                    "passed": cell.passed if cell else None,
                    **(cell.trial_dict() if cell and cell.trials is not None else {}),
                    **(
                        {"span_results": self.spans[str(binding.id)]}
                        if str(binding.id) in self.spans
                        else {}
                    ),
                }
                for binding in columns.bindings
                for cell in [self.score(binding.id)]
            ],
        }


@dataclass
class ResultsPage:
    rows: list[ResultRow]
    columns: RunColumns
    sort: str
    filters: dict
    after: str | None
    next_after: str | None
    limit: int
    total: int | None = None  # rows matching the filters (with ``count=True``)
    offset: int | None = None  # where an OFFSET page started (a jump to page N)

    @property
    def page_count(self) -> int | None:
        if self.total is None:
            return None
        return max(1, math.ceil(self.total / self.limit))

    @property
    def has_more(self) -> bool:
        return self.next_after is not None

    @property
    def is_first(self) -> bool:
        return not self.after


@dataclass
class ResultFilters:
    """``status``: "failed" (rows with a failed task) or a task status; ``binding`` with
    ``below`` / ``above``: a metric's number_value range (exclusive); ``text``: any field."""

    status: str = ""
    binding: BindingColumn | None = None
    below: float | None = None
    above: float | None = None
    text: str = ""
    # Set by ``results_table_page``: with one entry a row is one task, so a status filter is
    # a plain condition on that task (a join the planner can drive from the claim index on
    # (run, status, id)) rather than "any task at this position" (a semi-join it can only
    # apply while walking every scored row).
    single_entry: bool = False

    def as_dict(self) -> dict:
        return {
            "status": self.status,
            "binding": str(self.binding.id) if self.binding else "",
            "below": self.below,
            "above": self.above,
            "text": self.text,
        }


def _float_or_error(value: Any, name: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise ValidationError({name: ["Enter a number."]})
    return number


def parse_result_filters(columns: RunColumns, filters: dict | None) -> ResultFilters:
    filters = filters or {}
    parsed = ResultFilters()
    status = (filters.get("status") or "").strip()
    if status:
        if status not in TaskStatus.values:
            raise ValidationError({"status": [f"Unknown row status '{status}'."]})
        parsed.status = status
    parsed.below = _float_or_error(filters.get("below"), "below")
    parsed.above = _float_or_error(filters.get("above"), "above")
    binding_id = filters.get("binding") or filters.get("metric")
    if binding_id:
        parsed.binding = columns.binding(binding_id)
        if parsed.binding is None:
            raise ValidationError({"binding": ["Not a metric of this run."]})
    elif parsed.below is not None or parsed.above is not None:
        numeric = [b for b in columns.bindings if b.is_numeric]
        if not numeric:
            raise ValidationError({"binding": ["This run has no numeric metric to filter on."]})
        parsed.binding = next((b for b in numeric if b.is_star), numeric[0])
    parsed.text = (filters.get("text") or filters.get("q") or "").strip()[:200]
    return parsed


def _parse_sort(columns: RunColumns, sort: str | None) -> tuple[str, bool, Any]:
    """(kind, descending, argument) for ``position``, ``score:<binding>``, ``latency``,
    ``column:<name>``; a leading ``-`` means descending."""
    sort = (sort or "position").strip()
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key == "position":
        return "position", descending, None
    if key == "latency":
        return "latency", descending, None
    if key.startswith("score:"):
        binding = columns.binding(key.split(":", 1)[1])
        if binding is None:
            raise ValidationError({"sort": ["Not a metric of this run."]})
        return "score", descending, binding
    if key.startswith("column:"):
        name = key.split(":", 1)[1]
        if name not in columns.dataset_columns:
            raise ValidationError({"sort": [f"Unknown column '{name}'."]})
        return "column", descending, name
    raise ValidationError({"sort": [f"Cannot sort by '{sort}'."]})


def _filter_tasks(run, tasks: QuerySet, filters: ResultFilters, *, prefix: str = "") -> QuerySet:
    """Narrow a queryset of tasks (or, with ``prefix="task__"``, of results) to the rows
    matching ``filters``. Rows are dataset positions: a row matches when any of its tasks
    does."""
    position = f"{prefix}position"
    if filters.status and filters.single_entry:
        tasks = tasks.filter(**{f"{prefix}status": filters.status})
    elif filters.status:
        wanted = RunTask.objects.filter(run=run, status=filters.status).values("position")
        tasks = tasks.filter(**{f"{position}__in": wanted})
    if filters.binding is not None and (filters.below is not None or filters.above is not None):
        scored = MetricResult.objects.filter(binding_id=filters.binding.id)
        if filters.below is not None:
            scored = scored.filter(number_value__lt=filters.below)
        if filters.above is not None:
            scored = scored.filter(number_value__gt=filters.above)
        tasks = tasks.filter(**{f"{position}__in": scored.values("task__position")})
    if filters.text:
        matching = DatasetItem.objects.filter(version_id=run.dataset_version_id).annotate(
            text=Cast("data", TextField())
        )
        escaped = _json_escaped(filters.text)
        matching = matching.filter(Q(text__icontains=filters.text) | Q(text__icontains=escaped))
        tasks = tasks.filter(**{f"{prefix}item_id__in": matching.values("id")})
    return tasks


def _json_escaped(text: str) -> str:
    return json.dumps(text)[1:-1]


def _cursor_error() -> ValidationError:
    return ValidationError({"after": ["Not a valid page cursor; start from the first page."]})


def _page_by_position(run, entry_id, filters, descending, after, limit, offset=0):
    # One task per row: with repetitions every row has a trial 0.
    first = RunTask.objects.filter(run=run, entry_id=entry_id)
    if run.repetitions > 1:
        first = first.filter(trial=0)
    tasks = _filter_tasks(run, first, filters)
    if offset and not after:
        order = "-position" if descending else "position"
        positions = list(
            tasks.order_by(order).values_list("position", flat=True)[offset : offset + limit + 1]
        )
        has_more = len(positions) > limit
        positions = positions[:limit]
        return positions, (f"p.{positions[-1]}" if has_more else None)
    if after:
        try:
            kind, value = after.split(".", 1)
            last = int(value)
        except ValueError as exc:
            raise _cursor_error() from exc
        if kind != "p":
            raise _cursor_error()
        tasks = tasks.filter(position__lt=last) if descending else tasks.filter(position__gt=last)
    order = "-position" if descending else "position"
    positions = list(tasks.order_by(order).values_list("position", flat=True)[: limit + 1])
    has_more = len(positions) > limit
    positions = positions[:limit]
    next_after = f"p.{positions[-1]}" if has_more else None
    return positions, next_after


# Up to this many rows kept by a status filter, a score-sorted page sorts their results.
FEW_ROWS = 5000


def _page_by_score(run, binding: BindingColumn, filters, descending, after, limit, offset=0):
    """Results with a number (by value), then results without one, then tasks without a
    result for this metric — each phase keyset-paginated on its own index. ``offset``
    (a jump to page N) skips whole phases by their counts, then OFFSETs into one."""
    phase, value, last_id = "v", None, None
    skip = 0 if after else offset
    if after:
        try:
            parts = after.split(".", 1)
            phase = parts[0]
            if phase == "v":
                raw_value, raw_id = parts[1].rsplit("_", 1)
                value, last_id = float(raw_value), int(raw_id)
            elif phase in ("n", "m"):
                last_id = int(parts[1])
            else:
                raise ValueError(phase)
        except (ValueError, IndexError) as exc:
            raise _cursor_error() from exc
    positions: list[int] = []
    results = MetricResult.objects.filter(binding_id=binding.id)
    if run.repetitions > 1:
        # One result per row: rows sort by their first trial's value.
        results = results.filter(task__trial=0)
    ranged = filters.binding is not None and filters.binding.id == binding.id
    ranged = ranged and (filters.below is not None or filters.above is not None)
    if ranged:
        # The score range is on the sorted metric itself: walk its index inside the range.
        if filters.below is not None:
            results = results.filter(number_value__lt=filters.below)
        if filters.above is not None:
            results = results.filter(number_value__gt=filters.above)
        filters = replace(filters, binding=None, below=None, above=None)
    if filters.status and filters.single_entry:
        # A status filter on a big run usually keeps few rows (failed ones): sorting their
        # results beats walking the whole score index until enough of them turn up, which
        # is the plan PostgreSQL picks for the semi-join (1 s on 100,000 rows).
        few = list(
            RunTask.objects.filter(run=run, entry_id=binding.entry_id, status=filters.status)
            .order_by()
            .values_list("id", flat=True)[: FEW_ROWS + 1]
        )
        if len(few) <= FEW_ROWS:
            results = results.filter(task_id__in=few)
            filters = replace(filters, status="")
    results = _filter_tasks(run, results, filters, prefix="task__")
    if phase == "v":
        numbered = results.filter(number_value__isnull=False)
        if value is not None:
            # A range on the index plus one excluded tie-break, not an OR the planner
            # cannot walk.
            if descending:
                numbered = numbered.filter(number_value__lte=value).exclude(
                    number_value=value, id__gte=last_id
                )
            else:
                numbered = numbered.filter(number_value__gte=value).exclude(
                    number_value=value, id__lte=last_id
                )
        order = ("-number_value", "-id") if descending else ("number_value", "id")
        if skip:
            counted = numbered.count()
            if skip >= counted:
                skip -= counted
                numbered = numbered.none()
        rows = list(
            numbered.order_by(*order).values_list("number_value", "id", "task__position")[
                skip : skip + limit + 1
            ]
        )
        if rows:
            skip = 0
        positions = [row[2] for row in rows[:limit]]
        if len(rows) > limit:
            return positions, f"v.{rows[limit - 1][0]!r}_{rows[limit - 1][1]}"
        if ranged:
            return positions, None  # rows without a score are outside any score range
        phase, last_id = "n", None
    if phase == "n":
        nulls = results.filter(number_value__isnull=True)
        if last_id is not None:
            nulls = nulls.filter(id__gt=last_id)
        if skip:
            counted = nulls.count()
            if skip >= counted:
                skip -= counted
                nulls = nulls.none()
        want = limit - len(positions)
        rows = list(
            nulls.order_by("id").values_list("id", "task__position")[skip : skip + want + 1]
        )
        if rows:
            skip = 0
        positions += [row[1] for row in rows[:want]]
        if len(rows) > want:
            return positions, f"n.{rows[want - 1][0]}" if want else "n.0"
        phase, last_id = "m", None
    if phase == "m":
        missing = _filter_tasks(
            run,
            RunTask.objects.filter(run=run, entry_id=binding.entry_id, trial=0)
            .exclude(status=TaskStatus.SUCCEEDED)
            .filter(
                ~Exists(MetricResult.objects.filter(task_id=OuterRef("pk"), binding_id=binding.id))
            ),
            filters,
        )
        if last_id is not None:
            missing = missing.filter(id__gt=last_id)
        want = limit - len(positions)
        rows = list(missing.order_by("id").values_list("id", "position")[skip : skip + want + 1])
        positions += [row[1] for row in rows[:want]]
        if len(rows) > want:
            return positions, f"m.{rows[want - 1][0]}" if want else "m.0"
    return positions, None


def _page_by_offset(run, entry_id, kind, arg, filters, descending, after, limit):
    offset = 0
    if after:
        try:
            tag, value = after.split(".", 1)
            offset = int(value)
        except ValueError as exc:
            raise _cursor_error() from exc
        if tag != "o" or offset < 0:
            raise _cursor_error()
    first = RunTask.objects.filter(run=run, entry_id=entry_id)
    if run.repetitions > 1:
        first = first.filter(trial=0)  # one task per row
    tasks = _filter_tasks(run, first, filters)
    if kind == "latency":
        key = F("latency_ms")
    else:
        tasks = tasks.annotate(sort_value=KeyTextTransform(arg, "item__data"))
        key = F("sort_value")
    order = key.desc(nulls_last=True) if descending else key.asc(nulls_last=True)
    tiebreak = "-position" if descending else "position"
    positions = list(
        tasks.order_by(order, tiebreak).values_list("position", flat=True)[
            offset : offset + limit + 1
        ]
    )
    has_more = len(positions) > limit
    return positions[:limit], (f"o.{offset + limit}" if has_more else None)


def tasks_for_positions(run, positions: list[int], *, full: bool = False) -> list[RunTask]:
    fields = [
        "id",
        "entry_id",
        "item_id",
        "position",
        "status",
        "error",
        "latency_ms",
        "input_tokens",
        "output_tokens",
        "outputs",
        "attempts",
        "finished_at",
        "trial",
        "cost",
        "cached",
    ]
    if full:
        fields += ["chunks", "spans"]
    return list(RunTask.objects.filter(run=run, position__in=positions).only(*fields))


def cell_for(result: dict, binding: BindingColumn | None) -> ResultCell:
    cell = ResultCell(
        number_value=result["number_value"],
        string_value=result["string_value"],
        error_description=result["error_description"] or "",
    )
    if binding is not None and binding.is_star and binding.threshold is not None:
        cell.passed = passes(
            cell.number_value, threshold=binding.threshold, inverted=binding.inverted
        )
    return cell


def _task_summary(task: RunTask, entry: EntryColumn | None) -> dict:
    return {
        "entry": entry.position if entry else 0,
        "workflow": entry.as_dict() if entry else None,
        "status": task.status,
        "error": task.error,
        "outputs": task.outputs,
        "latency_ms": task.latency_ms,
        "input_tokens": task.input_tokens,
        "output_tokens": task.output_tokens,
        "trial": task.trial,
        "cost": task.cost,
        "cached": task.cached,
    }


def _rows_for_positions(run, columns: RunColumns, positions: list[int]) -> list[ResultRow]:
    if not positions:
        return []
    tasks = tasks_for_positions(run, positions)
    items = dict(
        DatasetItem.objects.filter(id__in={t.item_id for t in tasks}).values_list("id", "data")
    )
    results = MetricResult.objects.filter(task_id__in=[t.id for t in tasks]).values(
        "task_id", "binding_id", "number_value", "string_value", "error_description"
    )
    by_task: dict[int, list[dict]] = {}
    for result in results:
        by_task.setdefault(result["task_id"], []).append(result)
    span_results = span_results_by_task([t.id for t in tasks])  # span-level metrics
    entry_order = {e.id: e.position for e in columns.entries}
    grouped: dict[int, list[RunTask]] = {}
    for task in tasks:
        grouped.setdefault(task.position, []).append(task)
    rows = []
    for position in positions:
        row_tasks = sorted(grouped.get(position, []), key=lambda t: entry_order.get(t.entry_id, 0))
        if not row_tasks:
            continue
        row = ResultRow(
            position=position,
            item_id=row_tasks[0].item_id,
            data=items.get(row_tasks[0].item_id) or {},
            status=combined_status([t.status for t in row_tasks]),
            tasks=[_task_summary(t, columns.entry(t.entry_id)) for t in row_tasks],
        )
        if run.repetitions > 1:
            per_binding: dict[str, list[dict]] = {}
            for task in row_tasks:
                for result in by_task.get(task.id, []):
                    per_binding.setdefault(str(result["binding_id"]), []).append(
                        {**result, "trial": task.trial}
                    )
            for binding_id, trial_results in per_binding.items():
                row.scores[binding_id] = trial_cell(
                    trial_results, trials=run.repetitions, binding=columns.binding(binding_id)
                )
        else:
            for task in row_tasks:
                for result in by_task.get(task.id, []):
                    binding = columns.binding(result["binding_id"])
                    row.scores[str(result["binding_id"])] = cell_for(result, binding)
        for task in row_tasks:
            for span in span_results.get(task.id, []):
                span_out = {k: v for k, v in span.items() if k not in ("task_id", "binding_id")}
                if run.repetitions > 1:
                    span_out["trial"] = task.trial
                row.spans.setdefault(str(span["binding_id"]), []).append(span_out)
        rows.append(row)
    return rows


def results_table_page(
    run: EvaluationRun,
    *,
    after: str | None = None,
    limit: int = 50,
    sort: str | None = None,
    filters: dict | None = None,
    columns: RunColumns | None = None,
    offset: int | None = None,
    count: bool = False,
) -> ResultsPage:
    """One page of the results table: one row per dataset item.

    ``sort``: ``position`` (default), ``score:<binding id>``, ``latency`` or
    ``column:<name>``, ``-`` in front for descending. ``filters``: see ``ResultFilters``.
    ``after`` is the ``next_after`` of the previous page (keyset); ``offset`` instead starts
    the page at that row (the UI's jumps to page N, previous and last), and its
    ``next_after`` continues by keyset. ``count`` also counts the matching rows (``total``).
    Raises ValidationError for a bad sort, filter or cursor.
    """
    columns = columns or run_columns(run)
    limit = max(1, min(int(limit or 50), PAGE_LIMIT_MAX))
    parsed = replace(parse_result_filters(columns, filters), single_entry=len(columns.entries) == 1)
    kind, descending, arg = _parse_sort(columns, sort)
    entry_id = columns.entries[0].id if columns.entries else None
    offset = max(0, int(offset or 0)) if not after else 0
    if kind == "position":
        positions, next_after = _page_by_position(
            run, entry_id, parsed, descending, after, limit, offset
        )
    elif kind == "score":
        positions, next_after = _page_by_score(run, arg, parsed, descending, after, limit, offset)
    else:
        positions, next_after = _page_by_offset(
            run, entry_id, kind, arg, parsed, descending, after or (offset and f"o.{offset}"), limit
        )
    total = None
    if count:
        tasks = RunTask.objects.filter(run=run, entry_id=entry_id)
        if run.repetitions > 1:
            tasks = tasks.filter(trial=0)  # rows, not trials
        total = _filter_tasks(run, tasks, parsed).count()
    return ResultsPage(
        rows=_rows_for_positions(run, columns, positions),
        columns=columns,
        sort=("-" if descending else "") + (kind if arg is None else f"{kind}:{_sort_arg(arg)}"),
        filters=parsed.as_dict(),
        after=after or None,
        next_after=next_after,
        limit=limit,
        total=total,
        offset=offset or None,
    )


def _sort_arg(arg) -> str:
    return str(arg.id) if isinstance(arg, BindingColumn) else str(arg)


# --- one row in full (the drawer) ----------------------------------------------------------


def _task_dict(task: RunTask, data: dict, columns: RunColumns, results: list[dict]) -> dict:
    entry = columns.entry(task.entry_id)
    by_binding = {str(r["binding_id"]): r for r in results}
    metrics = []
    for binding in columns.bindings:
        if binding.entry_id != task.entry_id:
            continue
        result = by_binding.get(str(binding.id))
        cell = cell_for(result, binding) if result else None
        metrics.append(
            {
                **binding.metric_dict(),
                "number_value": result["number_value"] if result else None,
                "string_value": result["string_value"] if result else None,
                "reasoning": result["reasoning"] if result else "",
                "error_description": result["error_description"] if result else "",
                "details": result["details"] if result else {},
                "passed": cell.passed if cell else None,
            }
        )
    return {
        "position": task.position,
        "trial": task.trial,
        "cost": task.cost,
        "cached": task.cached,
        "item_id": str(task.item_id),
        "entry": entry.position if entry else 0,
        "workflow": entry.as_dict() if entry else None,
        "status": task.status,
        "error": task.error,
        "attempts": task.attempts,
        "data": data,
        "outputs": task.outputs,
        "input_tokens": task.input_tokens,
        "output_tokens": task.output_tokens,
        "latency_ms": task.latency_ms,
        "chunks": task.chunks,
        "spans": task.spans,
        "finished_at": task.finished_at.isoformat() if task.finished_at else None,
        "metrics": metrics,
    }


def run_result_row(run: EvaluationRun, task_or_position, *, columns=None) -> dict | None:
    """Everything about one dataset row of the run: the item and, per agent, its task with
    outputs, tokens, chunks, spans, error and each metric's value, reasoning and error.
    None when the run has no such row."""
    position = task_or_position.position if isinstance(task_or_position, RunTask) else None
    if position is None:
        try:
            position = int(task_or_position)
        except (TypeError, ValueError):
            return None
    columns = columns or run_columns(run)
    tasks = tasks_for_positions(run, [position], full=True)
    if not tasks:
        return None
    entry_order = {e.id: e.position for e in columns.entries}
    tasks.sort(key=lambda t: entry_order.get(t.entry_id, 0))
    data = DatasetItem.objects.filter(id=tasks[0].item_id).values_list("data", flat=True).first()
    results: dict[int, list[dict]] = {}
    for result in MetricResult.objects.filter(task_id__in=[t.id for t in tasks]).values(
        *RESULT_FIELDS
    ):
        results.setdefault(result["task_id"], []).append(result)
    task_dicts = [_task_dict(t, data or {}, columns, results.get(t.id, [])) for t in tasks]
    return {
        "position": position,
        "item_id": str(tasks[0].item_id),
        "data": data or {},
        "status": combined_status([t.status for t in tasks]),
        "tasks": task_dicts,
    }
