"""Drainers: claim a batch, call workflows and metrics, write the batch, repeat.

A drainer is one django-q2 task working one run for a bounded time. Executors and scorers are
built once per drainer (all ORM and secret work happens there); inside a batch the workflow
calls and async (LLM-judge) metrics run concurrently on the drainer's event loop and one
shared ``httpx.AsyncClient``; synchronous metrics run inline. No ORM call ever happens inside
the event loop: rows are loaded before and written after.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from datasets.models import DatasetVersion
from runs.engine import claims, conf, sql
from runs.engine.enqueue import enqueue_drainers
from runs.engine.finish import try_finish
from runs.engine.pipeline import LoopThread, Window, drain_pipelined
from runs.engine.writes import TaskOutcome, fail_tasks, write_batch
from runs.mapping import SPECIAL_WORKFLOW_OUTPUTS, Selector, parse_selector
from runs.models import EvaluationRun, MetricBinding, RunEntry, RunStatus, RunTask, TaskStatus

log = logging.getLogger(__name__)


class RunBroken(Exception):
    """The run cannot go on (a workflow or metric version cannot be prepared)."""


@dataclass
class BindingContext:
    binding_id: Any
    name: str
    scorer: Any
    inputs: list[tuple[str, Selector]]


@dataclass
class Rescore:
    """A row pending only to re-score its failed metric results from what is stored."""

    binding_ids: set
    workflow_view: dict | None = None


@dataclass
class EntryContext:
    entry_id: Any
    executor: Any = None
    inputs: list[tuple[str, Selector]] = field(default_factory=list)
    bindings: list[BindingContext] = field(default_factory=list)


def _compile(mapping: dict, columns: list[str]) -> list[tuple[str, Selector]]:
    compiled = []
    for name, text in (mapping or {}).items():
        selector = parse_selector(text, columns=columns)
        if selector is not None:
            compiled.append((name, selector))
    return compiled


class RunContext:
    """Everything a drainer needs to process the run's rows, built once (sync, ORM allowed)."""

    def __init__(self, run: EvaluationRun, *, drainers: int):
        from metrics.scoring import build_scorer
        from workflows.executors import build_executor

        version = DatasetVersion.objects.get(id=run.dataset_version_id)
        columns = version.column_names()
        self.run_id = run.id
        self.entries: dict[Any, EntryContext] = {}
        entries = RunEntry.objects.filter(run=run).select_related("workflow_version__workflow")
        for entry in entries:
            context = EntryContext(entry.id, inputs=_compile(entry.input_selector, columns))
            workflow_version = entry.workflow_version
            if workflow_version is not None:
                try:
                    executor = build_executor(workflow_version)
                except ValidationError as exc:
                    raise RunBroken(
                        f"Workflow '{workflow_version.workflow.name}' v{workflow_version.number} "
                        f"cannot be called: {' '.join(exc.messages)}"
                    ) from exc
                # The workflow's max concurrency holds across the whole run: share it out.
                executor.max_concurrency = max(1, workflow_version.max_concurrency // drainers)
                context.executor = executor
            self.entries[entry.id] = context
        bindings = MetricBinding.objects.filter(run=run).select_related("metric_version__metric")
        for binding in bindings.order_by("position"):
            self.entries[binding.entry_id].bindings.append(
                BindingContext(
                    binding.id,
                    binding.metric_version.metric.name,
                    build_scorer(binding.metric_version),
                    _compile(binding.input_selector, columns),
                )
            )
        self.calls_workflows = any(e.executor is not None for e in self.entries.values())
        self.has_async_metrics = any(
            b.scorer.is_async for e in self.entries.values() for b in e.bindings
        )
        self.needs_loop = self.calls_workflows or self.has_async_metrics
        # task id -> Rescore, filled by the drainer's thread when it claims such rows and
        # taken by the row's processing (on the event loop thread, so no ORM there).
        self.rescore: dict[int, Rescore] = {}

    def load_rescores(self, task_ids: list[int]) -> None:
        """Of the claimed ``task_ids``, note those pending only for re-scoring: which of
        their metric results failed, and the stored workflow outputs the metrics read."""
        from runs.models import MetricResult

        stored = {
            row[0]: row
            for row in RunTask.objects.filter(id__in=task_ids, rescore=True).values_list(
                "id", "entry_id", "outputs", *SPECIAL_WORKFLOW_OUTPUTS
            )
        }
        if not stored:
            return
        failed: dict[int, set] = {task_id: set() for task_id in stored}
        for task_id, binding_id in (
            MetricResult.objects.filter(task_id__in=list(stored))
            .exclude(error_description="")
            .values_list("task_id", "binding_id")
        ):
            failed[task_id].add(binding_id)
        for task_id, (_, entry_id, outputs, *special) in stored.items():
            view = None
            if self.entries[entry_id].executor is not None:
                view = dict(outputs or {})
                for name, value in zip(SPECIAL_WORKFLOW_OUTPUTS, special, strict=True):
                    view.setdefault(name, value)
            self.rescore[task_id] = Rescore(failed[task_id], view)


def _workflow_view(result) -> dict:
    """What ``$.workflow.<name>`` reads: the outputs plus the special fields."""
    view = dict(result.outputs or {})
    for name in SPECIAL_WORKFLOW_OUTPUTS:
        view.setdefault(name, getattr(result, name, None))
    return view


def _metric_inputs(binding: BindingContext, data: dict, workflow: dict | None) -> dict:
    return {name: selector.resolve(data, workflow) for name, selector in binding.inputs}


def _safe_score(binding: BindingContext, inputs: dict):
    from metrics.scoring import MetricOutcome

    try:
        return binding.scorer.score(inputs)
    except Exception as exc:  # a metric must never stop the run
        return MetricOutcome.error(f"{type(exc).__name__}: {exc}")


async def _safe_ascore(binding: BindingContext, inputs: dict, client):
    from metrics.scoring import MetricOutcome

    try:
        return await binding.scorer.ascore(inputs, client=client)
    except Exception as exc:
        return MetricOutcome.error(f"{type(exc).__name__}: {exc}")


def _bindings_to_score(entry: EntryContext, rescore: Rescore | None) -> list[BindingContext]:
    if rescore is None:
        return entry.bindings
    return [b for b in entry.bindings if b.binding_id in rescore.binding_ids]


def score_row_sync(context: RunContext, task_id, entry_id, data: dict) -> TaskOutcome:
    """A dataset-only row: its metrics' outcomes; the row itself always succeeds (a metric
    that cannot compute records its error on its own result)."""
    entry = context.entries[entry_id]
    rescore = context.rescore.pop(task_id, None)
    bindings = _bindings_to_score(entry, rescore)
    workflow = rescore.workflow_view if rescore is not None else None
    scored = [(b, _safe_score(b, _metric_inputs(b, data, workflow))) for b in bindings]
    return TaskOutcome(task_id=task_id, results=[(b.binding_id, o) for b, o in scored])


async def _call_workflow(entry: EntryContext, data: dict, client):
    inputs = {name: selector.resolve(data, None) for name, selector in entry.inputs}
    try:
        return await entry.executor.run(inputs, client=client)
    except Exception as exc:  # executors should not raise; never let one row stop a batch
        from workflows.executors import ExecutionResult

        return ExecutionResult(error=f"{type(exc).__name__}: {exc}")


async def process_row(context: RunContext, task_id, entry_id, data: dict, client) -> TaskOutcome:
    """One row: the agent call (unless only failed metric results are being re-scored from
    the stored outputs), then every metric. The two outcomes are kept apart: the task's
    ``error`` is the agent call's; each metric's error stays on its own result."""
    entry = context.entries[entry_id]
    rescore = context.rescore.pop(task_id, None)
    workflow_result = None
    workflow_view = rescore.workflow_view if rescore is not None else None
    if entry.executor is not None and rescore is None:
        workflow_result = await _call_workflow(entry, data, client)
        if workflow_result.error:
            # Nothing to score: the metrics have no results on this row.
            error = f"Workflow error: {workflow_result.error}"[:2000]
            return TaskOutcome(task_id=task_id, error=error, workflow=workflow_result)
        workflow_view = _workflow_view(workflow_result)
    bindings = _bindings_to_score(entry, rescore)
    scored: list = []
    pending = []
    for binding in bindings:
        inputs = _metric_inputs(binding, data, workflow_view)
        if binding.scorer.is_async:
            pending.append((binding, _safe_ascore(binding, inputs, client)))
        else:
            scored.append((binding, _safe_score(binding, inputs)))
    if pending:
        outcomes = await asyncio.gather(*(coroutine for _, coroutine in pending))
        scored.extend(zip((b for b, _ in pending), outcomes, strict=True))
        order = {b.binding_id: i for i, b in enumerate(entry.bindings)}
        scored.sort(key=lambda pair: order[pair[0].binding_id])
    return TaskOutcome(
        task_id=task_id,
        results=[(b.binding_id, o) for b, o in scored],
        workflow=workflow_result,
    )


def load_rows(task_ids: list[int]) -> list[tuple]:
    """(task id, entry id, item data) for the claimed tasks, in one query."""
    return list(
        RunTask.objects.filter(id__in=task_ids)
        .order_by("id")
        .values_list("id", "entry_id", "item__data")
    )


class Drainer:
    def __init__(self, run: EvaluationRun, *, drainers: int | None = None):
        self.run_id = run.id
        self.owner = claims.new_lease_owner()
        self.context = RunContext(run, drainers=drainers or conf.drainer_count_for(run.mode))
        self.batch_size = conf.batch_size(calls_workflows=self.context.calls_workflows)
        self.lease = conf.lease_seconds()
        self.leases = claims.LeaseKeeper(run.id, owner=self.owner, lease_seconds=self.lease)
        # After a rerun some rows only need failed metric results re-scored (partial index).
        self.rescoring = RunTask.objects.filter(run_id=self.run_id, rescore=True).exists()
        self.loop_thread: LoopThread | None = None
        self.client = None

    def _start_loop(self) -> None:
        """The event loop (in its own thread) and the drainer's one shared HTTP client."""
        from workflows.executors import new_async_client

        if self.loop_thread is None:
            self.loop_thread = LoopThread()

            async def make_client():
                return new_async_client()

            self.client = self.loop_thread.call(make_client())

    def _window(self) -> Window:
        executors = [e.executor for e in self.context.entries.values() if e.executor]
        concurrency = sum(e.max_concurrency for e in executors) or conf.batch_size(
            calls_workflows=True
        )
        return Window(concurrency, calls_workflows=self.context.calls_workflows)

    def process(self, rows: list[tuple]) -> tuple[int, int]:
        """Score a batch of dataset-only rows with synchronous metrics, then write it."""
        outcomes = []
        for task_id, entry_id, data in rows:
            self.leases.tick()  # a slow synchronous metric must not let the batch's lease lapse
            outcomes.append(score_row_sync(self.context, task_id, entry_id, data or {}))
        return sql.retry_on_deadlock(write_batch)(self.run_id, outcomes, owner=self.owner)

    def close(self) -> None:
        if self.loop_thread is not None:
            if self.client is not None:
                self.loop_thread.call(self.client.aclose())
            self.loop_thread.close()
            self.loop_thread = None

    def run_is_running(self) -> bool:
        status = (
            EvaluationRun.objects.filter(id=self.run_id).values_list("status", flat=True).first()
        )
        return status == RunStatus.RUNNING

    def has_pending(self) -> bool:
        return RunTask.objects.filter(run_id=self.run_id, status=TaskStatus.PENDING).exists()

    def claim_rows(self, limit: int) -> list[tuple]:
        """Claim up to ``limit`` pending rows: [(task id, entry id, item data)]."""
        if sql.is_postgresql():
            rows = claims.claim_and_load_pg(
                self.run_id, owner=self.owner, limit=limit, lease_seconds=self.lease
            )
        else:
            task_ids = claims.claim_batch(
                self.run_id, owner=self.owner, limit=limit, lease_seconds=self.lease
            )
            rows = load_rows(task_ids) if task_ids else []
        if rows and self.rescoring:
            self.context.load_rescores([row[0] for row in rows])
        return rows

    def drain(self, *, budget_seconds: float) -> bool:
        """Work until nothing is left to claim, the run stops, or the budget is spent.
        Returns True when it stopped because of the budget with work still pending."""
        deadline = time.monotonic() + budget_seconds
        if self.context.needs_loop:
            self._start_loop()
            return drain_pipelined(self, deadline=deadline, window=self._window())
        while True:
            if not self.run_is_running():
                return False
            if time.monotonic() >= deadline:
                return self.has_pending()
            rows = self.claim_rows(self.batch_size)
            if not rows:
                return False
            task_ids = [row[0] for row in rows]
            try:
                self.process(rows)
            except Exception:
                self.give_back(task_ids)
                raise

    def give_back(self, task_ids: list[int]) -> None:
        """After an unexpected error: rows that used up their attempts fail, others go back."""
        try:
            exhausted = list(
                RunTask.objects.filter(
                    id__in=task_ids, lease_owner=self.owner, attempts__gte=conf.max_task_attempts()
                ).values_list("id", flat=True)
            )
            if exhausted:
                fail_tasks(
                    self.run_id,
                    exhausted,
                    owner=self.owner,
                    error="Gave up after repeated failures while processing this row.",
                )
            claims.release(task_ids, owner=self.owner)
        except Exception:
            log.exception("run %s: could not give back claimed tasks", self.run_id)


def drain_run(run_id, *, budget_seconds: float | None = None) -> None:
    """One drainer's life: work the run, then finish it or hand over to a successor."""
    run = EvaluationRun.objects.filter(id=run_id).first()
    if run is None:
        return
    if run.status != RunStatus.RUNNING:
        try_finish(run_id)
        return
    try:
        drainer = Drainer(run)
    except RunBroken as exc:
        log.warning("run %s: %s", run_id, exc)
        break_run(run_id, str(exc))
        return
    budget = conf.drain_budget_seconds() if budget_seconds is None else budget_seconds
    try:
        more = drainer.drain(budget_seconds=budget)
    except Exception:
        log.exception("run %s: drainer failed; a successor takes over", run_id)
        enqueue_drainers(run_id, 1)
        raise
    finally:
        drainer.close()
    if more:
        enqueue_drainers(run_id, 1)
    else:
        try_finish(run_id)


def break_run(run_id, message: str) -> None:
    """The run itself cannot go on: its remaining rows fail with ``message`` and the run
    finishes (failed, or partially_succeeded when some rows had already succeeded)."""
    EvaluationRun.objects.filter(id=run_id, error_description="").update(
        error_description=message[:2000]
    )
    fail_tasks(run_id, None, error=message[:2000])
    try_finish(run_id)
