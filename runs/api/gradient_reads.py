"""The Gradient results read: prompts by number, lean enough for 100 prompts per page in a
few milliseconds at any depth (``values_list`` rows, no model instances).

Gradient pages are numbered (``page``/``per_page``) and a prompt is a dataset item, so a page
is a range of item positions: it walks the ``(run, position, id)`` index of the run's tasks
and costs the same on page 1 and on page 1,000. It reads the same tables as
``runs.selectors.run_prompt_tasks`` and returns plain dicts for ``gradient_shapes``.
"""

from __future__ import annotations

from runs.models import EvaluationRun, MetricResult, RunTask

TASK_FIELDS = (
    "id",
    "entry_id",
    "position",
    "outputs",
    "input_tokens",
    "output_tokens",
    "chunks",
    "spans",
    "item__data",
)
RESULT_FIELDS = (
    "task_id",
    "binding_id",
    "number_value",
    "string_value",
    "reasoning",
    "error_description",
    "details",
)


def prompt_total(run: EvaluationRun, entry_count: int) -> int:
    """Prompts of one entry: every entry has one task per item once the run is planned."""
    return run.total_tasks // entry_count if entry_count else 0


def run_prompt_rows(run: EvaluationRun, *, entry_id, start: int, stop: int) -> list[tuple]:
    """``(task, results)`` dicts for the tasks of ``entry_id`` at positions [start, stop)."""
    tasks = []
    for values in (
        RunTask.objects.filter(run=run, position__gte=max(0, start), position__lt=stop)
        .order_by("position", "id")
        .values_list(*TASK_FIELDS)
    ):
        task = dict(zip(TASK_FIELDS, values, strict=True))
        if task["entry_id"] == entry_id:
            task["data"] = task.pop("item__data")
            tasks.append(task)
    results: dict[int, list[dict]] = {task["id"]: [] for task in tasks}
    if results:
        for values in (
            MetricResult.objects.filter(task_id__in=list(results))
            .order_by()
            .values_list(*RESULT_FIELDS)
        ):
            results[values[0]].append(dict(zip(RESULT_FIELDS, values, strict=True)))
    return [(task, results[task["id"]]) for task in tasks]
