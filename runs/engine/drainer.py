"""Drainers: claim a batch, call workflows and metrics, write the batch, repeat.

A drainer is one django-q2 task working one run for a bounded time. Executors and scorers are
built once per drainer (all ORM and secret work happens there); inside a batch the workflow
calls and async (LLM-judge) metrics run concurrently on the drainer's event loop and one
shared ``httpx.AsyncClient``; synchronous metrics run inline. No ORM call ever happens inside
the event loop: rows are loaded before and written after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from datasets.models import DatasetVersion
from runs.engine import claims, conf, sql
from runs.engine.budget import Budget, Usage, not_run_error, reset_leaked_reservations
from runs.engine.enqueue import enqueue_drainers
from runs.engine.finish import try_finish
from runs.engine.pipeline import LoopThread, Window, drain_pipelined
from runs.engine.writes import TaskOutcome, fail_tasks, write_batch, write_locked_batch_pg
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
    model: str | None = None  # LLM judges: the model priced for their calls
    is_judge: bool = False
    metric_version_id: Any = None


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
    model: str | None = None  # the workflow version's model, priced for its calls
    workflow_version_id: Any = None

    @property
    def judge_count(self) -> int:
        return sum(1 for b in self.bindings if b.is_judge)


def share_out(executor, drainers: int) -> None:
    """The workflow's max concurrency (and rate limit) hold across the whole run: each of
    the run's ``drainers`` gets its share. The executor's limiters are rebuilt, since they
    were sized for the whole limit when it was built."""
    from evalsite.outbound import calls

    if drainers <= 1:
        return
    executor.max_concurrency = max(1, executor.max_concurrency // drainers)
    executor.concurrency = calls.Limits(max_concurrency=executor.max_concurrency)
    if executor.rps_limit:
        executor.rps_limit = executor.rps_limit / drainers
        executor.rate = calls.Limits(rps_limit=executor.rps_limit)


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
        from runs import pricing
        from traces.span_scoring import wrap_scorer as span_wrap
        from workflows.executors import build_executor

        version = DatasetVersion.objects.get(id=run.dataset_version_id)
        columns = version.column_names()
        self.run_id = run.id
        self.prices = pricing.price_list_for(run.project_id)
        self.cache_agent_calls = run.cache_agent_calls
        self.cache_judge_calls = run.cache_judge_calls
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
                share_out(executor, drainers)
                context.executor = executor
                context.model = pricing.workflow_model(workflow_version)
                context.workflow_version_id = workflow_version.id
            self.entries[entry.id] = context
        bindings = MetricBinding.objects.filter(run=run).select_related("metric_version__metric")
        for binding in bindings.order_by("position"):
            is_judge = binding.metric_version.implementation == "llm_judge"
            self.entries[binding.entry_id].bindings.append(
                BindingContext(
                    binding.id,
                    binding.metric_version.metric.name,
                    span_wrap(binding, build_scorer(binding.metric_version)),
                    _compile(binding.input_selector, columns),
                    model=pricing.metric_model(binding.metric_version) if is_judge else None,
                    is_judge=is_judge,
                    metric_version_id=binding.metric_version_id,
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
        # task id -> (cache key, cached ExecutionResult or None), same hand-over.
        self.agent_cache: dict[int, tuple[str, Any]] = {}
        self.agent_calls_per_row = max(
            (1 for e in self.entries.values() if e.executor is not None), default=0
        )
        self.judge_calls_per_row = max((e.judge_count for e in self.entries.values()), default=0)
        self.metric_versions = {
            b.binding_id: b.metric_version_id for e in self.entries.values() for b in e.bindings
        }
        self.judge_cache = (
            JudgeCache() if self.cache_judge_calls and self.judge_calls_per_row else None
        )

    def judge_key(self, binding: BindingContext, inputs: dict) -> str:
        from runs import call_cache

        return call_cache.judge_key(self.metric_versions[binding.binding_id], inputs)

    def load_agent_cache(self, rows: list[tuple]) -> None:
        """Of the claimed rows, look up the agent calls already answered for the same pinned
        version, inputs and trial (runs.call_cache); the rest will be stored after."""
        from runs import call_cache

        rows = [r for r in rows if self.entries[r[1]].executor is not None]
        if not rows:
            return
        trials = dict(
            RunTask.objects.filter(id__in=[r[0] for r in rows]).values_list("id", "trial")
        )
        keys = {}
        for task_id, entry_id, data in rows:
            entry = self.entries[entry_id]
            inputs = {name: selector.resolve(data or {}, None) for name, selector in entry.inputs}
            keys[task_id] = call_cache.agent_key(
                entry.workflow_version_id, inputs, trials.get(task_id, 0)
            )
        found = call_cache.lookup(set(keys.values()))
        for task_id, key in keys.items():
            hit = found.get(key)
            self.agent_cache[task_id] = (key, hit)

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
    cache_key, cached = context.agent_cache.pop(task_id, (None, None))
    workflow_result = None
    usage = Usage()
    workflow_view = rescore.workflow_view if rescore is not None else None
    agent_cost = None
    if entry.executor is not None and rescore is None:
        if cached is not None:
            from runs import call_cache

            workflow_result = call_cache.agent_result(cached)
            usage.cached_calls += 1
            usage.cached_saved += cached.cost or 0.0
        else:
            workflow_result = await _call_workflow(entry, data, client)
            usage.agent_calls += 1
            usage.tokens += (workflow_result.input_tokens or 0) + (
                workflow_result.output_tokens or 0
            )
            agent_cost = context.prices.cost(
                entry.model, workflow_result.input_tokens, workflow_result.output_tokens
            )
            usage.cost += agent_cost or 0.0
        if workflow_result.error:
            # Nothing to score: the metrics have no results on this row.
            error = f"Workflow error: {workflow_result.error}"[:2000]
            return TaskOutcome(
                task_id=task_id,
                error=error,
                workflow=workflow_result,
                usage=usage,
                agent_cost=agent_cost,
            )
        workflow_view = _workflow_view(workflow_result)
    bindings = _bindings_to_score(entry, rescore)
    scored: list = []
    pending = []
    judge_keys: dict = {}
    for binding in bindings:
        inputs = _metric_inputs(binding, data, workflow_view)
        if binding.scorer.is_async:
            if binding.is_judge and context.judge_cache is not None:
                judge_keys[binding.binding_id] = context.judge_key(binding, inputs)
            pending.append((binding, inputs))
        else:
            scored.append((binding, _safe_score(binding, inputs)))
    if pending:
        hits = await context.judge_cache.lookup(set(judge_keys.values())) if judge_keys else {}
        calls = []
        for binding, inputs in pending:
            key = judge_keys.get(binding.binding_id)
            if key is not None and key in hits:
                calls.append(_cached_outcome(hits[key]))
            else:
                calls.append(_keyed(_safe_ascore(binding, inputs, client), key))
        pending = [(binding, call) for (binding, _), call in zip(pending, calls, strict=True)]
        outcomes = await asyncio.gather(*(coroutine for _, coroutine in pending))
        scored.extend(zip((b for b, _ in pending), outcomes, strict=True))
        order = {b.binding_id: i for i, b in enumerate(entry.bindings)}
        scored.sort(key=lambda pair: order[pair[0].binding_id])
        for binding, outcome in scored:
            if not binding.is_judge:
                continue
            if outcome.cached:
                usage.cached_calls += 1
                usage.cached_saved += outcome.cost or 0.0
                outcome.cost = 0.0
                continue
            # A span judge made one call per span it scored (traces.span_scoring).
            usage.judge_calls += getattr(outcome, "span_calls", 1)
            usage.tokens += (outcome.input_tokens or 0) + (outcome.output_tokens or 0)
            outcome.cost = context.prices.cost(
                binding.model, outcome.input_tokens, outcome.output_tokens
            )
            usage.cost += outcome.cost or 0.0
    return TaskOutcome(
        task_id=task_id,
        results=[(b.binding_id, o) for b, o in scored],
        workflow=workflow_result,
        usage=usage,
        cache_key=cache_key if cached is None else None,
        cached=cached is not None,
        agent_cost=0.0 if cached is not None else agent_cost,
    )


async def _keyed(coroutine, key):
    outcome = await coroutine
    outcome.cache_key = key
    return outcome


async def _cached_outcome(entry):
    from runs import call_cache

    return call_cache.judge_outcome(entry)


class JudgeCache:
    """Judge-cache look-ups for rows on the event loop: the query runs in one helper thread
    with its own database connection (never in the event loop itself)."""

    def __init__(self):
        from concurrent.futures import ThreadPoolExecutor

        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="judge-cache")

    async def lookup(self, keys: set) -> dict:
        from runs import call_cache

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, call_cache.lookup, keys)

    def close(self) -> None:
        self.pool.submit(_close_thread_connection).result(timeout=30)
        self.pool.shutdown(wait=True)


def _close_thread_connection() -> None:
    """Close the helper thread's own database connection (tests on an in-memory SQLite
    database share the main thread's connection instead: leave that one alone)."""
    from django.db import DatabaseError, connection

    with contextlib.suppress(DatabaseError):
        connection.close()


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
        self.context = RunContext(run, drainers=drainers or conf.drainer_count_for(run))
        self.batch_size = conf.batch_size(calls_workflows=self.context.calls_workflows)
        self.lease = conf.lease_seconds()
        self.leases = claims.LeaseKeeper(run.id, owner=self.owner, lease_seconds=self.lease)
        # After a rerun some rows only need failed metric results re-scored (partial index).
        self.rescoring = RunTask.objects.filter(run_id=self.run_id, rescore=True).exists()
        self.loop_thread: LoopThread | None = None
        self.client = None
        self.budget = Budget(
            run,
            agent_calls_per_row=self.context.agent_calls_per_row,
            judge_calls_per_row=self.context.judge_calls_per_row,
        )
        # True while a cap leaves no room for now but rows in flight may give some back.
        self.budget_blocked = False

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
        return sql.retry_on_deadlock(write_batch)(
            self.run_id, outcomes, owner=self.owner, budget=self.budget
        )

    def close(self) -> None:
        if self.context.judge_cache is not None:
            self.context.judge_cache.close()
            self.context.judge_cache = None
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

    @property
    def cap_reached(self) -> str:
        return self.budget.reached

    def claim_rows(self, limit: int) -> list[tuple]:
        """Claim up to ``limit`` pending rows: [(task id, entry id, item data)], reserving
        each row's worst-case budget first when the run has caps (runs.engine.budget)."""
        self.budget_blocked = False
        if not self.budget.active:
            return self._claim(limit)
        if self.budget.reached:
            return []
        # Reserving and claiming happen in one transaction that holds the run row's lock:
        # nobody ever sees budget reserved for rows that are not claimed yet.
        with transaction.atomic():
            reservations = self.budget.reserve(limit)
            nothing_held = not reservations and not self.budget.reached and not self.budget.held
            if nothing_held and not (
                RunTask.objects.filter(run_id=self.run_id, status=TaskStatus.CLAIMED).exists()
            ):
                # Nothing in flight anywhere, yet budget is reserved: a drainer died.
                reset_leaked_reservations(self.run_id)
                reservations = self.budget.reserve(limit)
            if not reservations:
                self.budget_blocked = not self.budget.reached
                return []
            rows = self._claim(len(reservations))
            leftover = self.budget.hold([row[0] for row in rows], reservations)
            self.budget.release_unused(leftover)
        return rows

    def _claim(self, limit: int) -> list[tuple]:
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
        if rows and self.context.cache_agent_calls:
            self.context.load_agent_cache(rows)
        return rows

    def stop_at_cap(self) -> None:
        """The cap is reached and this drainer's rows have settled: the rows nobody claimed
        are not run, and the run records which cap stopped them."""
        cap = self.budget.reached
        limit = self.budget.caps[cap]
        # A cap that every row fitted under stopped nothing: the run records no cap then.
        # One transaction, so a finish never sees the rows not run without the cap.
        with transaction.atomic():
            if fail_tasks(self.run_id, None, error=not_run_error(cap, limit)):
                EvaluationRun.objects.filter(id=self.run_id, cap_reached="").update(cap_reached=cap)

    def drain(self, *, budget_seconds: float) -> bool:
        """Work until nothing is left to claim, the run stops, or the budget is spent.
        Returns True when it stopped because of the budget with work still pending."""
        deadline = time.monotonic() + budget_seconds
        if self.context.needs_loop:
            self._start_loop()
            more = drain_pipelined(self, deadline=deadline, window=self._window())
            if self.budget.reached:
                self.stop_at_cap()
                return False
            return more
        locked = self.locks_rows()
        while True:
            if not self.run_is_running():
                return False
            if time.monotonic() >= deadline:
                return self.has_pending()
            if locked:
                if not sql.retry_on_deadlock(self.lock_and_process)():
                    return False
                continue
            rows = self.claim_rows(self.batch_size)
            if not rows:
                return False
            task_ids = [row[0] for row in rows]
            try:
                self.process(rows)
            except Exception:
                self.give_back(task_ids)
                raise

    def locks_rows(self) -> bool:
        """With ``EVALSITE_RUN_ROW_LOCKS`` (see ``conf.row_locks``), dataset-only rows on
        PostgreSQL are leased by row locks, not by a claim UPDATE: each row is written once.
        Runs with caps keep the claim (their reservations are tied to claimed rows)."""
        return conf.row_locks() and sql.is_postgresql() and not self.budget.active

    def lock_and_process(self) -> int:
        """One batch in one transaction: lock pending rows, score them, write them."""
        with transaction.atomic():
            rows = claims.lock_and_load_pg(self.run_id, owner=self.owner, limit=self.batch_size)
            if not rows:
                return 0
            if self.rescoring:
                self.context.load_rescores([row[0] for row in rows])
            outcomes = []
            for task_id, entry_id, data in rows:
                outcomes.append(score_row_sync(self.context, task_id, entry_id, data or {}))
            write_locked_batch_pg(self.run_id, outcomes)
            self.leases.tick()  # the worker heartbeat (there are no leases to renew)
        return len(rows)

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
            self.budget.release_unused([self.budget.take(task_ids)])
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
