"""Run caps (agent calls, judge calls, tokens, cost): reserve before a row's calls start,
settle after they end, so concurrent drainers can never spend past a cap together.

The reservation rule
--------------------
A drainer reserves budget for every row *before* claiming it, in one conditional update of
the run (the run row is locked: ``SELECT ... FOR UPDATE`` on PostgreSQL, the write lock on
SQLite), and only claims the rows it could reserve for. A row's reservation is its
worst case:

- **agent calls**: 1 per row of an entry that calls a workflow (exact: never overshot);
- **judge calls**: 1 per LLM-judge metric bound to the row's entry (exact: never overshot);
- **tokens / cost**: the most any settled row of the run has used so far (``row_*_peak``).
  Until one row has settled the peak is unknown, and the row reserves *everything that is
  left*: the first row runs alone.

A row may start only if ``used + reserved + its reservation <= cap`` for every cap. When it
is written its reservation is released and what it really used is added to ``used``, in the
same transaction as its results. Calls and judge calls therefore never exceed their caps;
tokens and cost exceed theirs only when rows in flight use more than the largest row seen
before they were reserved, so:

    final spend <= cap + sum over the rows claimed when the last reservation was granted
                         of (their actual use - their reservation, when positive)
               <= cap + rows claimed x (largest row - first row's use),

where a drainer holds at most twice its concurrency in claimed rows (runs.engine.pipeline's
window: one round calling, one ready).

When no further row fits and nothing is reserved any more, the cap is reached: the run stops
claiming, its remaining pending rows fail with "Not run: <cap> reached" and it finishes
(partially succeeded). Raising the cap and rerunning re-queues exactly those rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

from runs.models import EvaluationRun

# cap field -> (used field, reserved field, peak field or None, label)
CAPS = {
    "max_agent_calls": ("agent_calls", "reserved_agent_calls", None, "agent call cap"),
    "max_judge_calls": ("judge_calls", "reserved_judge_calls", None, "judge call cap"),
    "max_tokens": ("tokens_used", "reserved_tokens", "row_tokens_peak", "token cap"),
    "max_cost": ("cost_used", "reserved_cost", "row_cost_peak", "cost cap"),
}
NOT_RUN_PREFIX = "Not run: "
EPSILON = 1e-9


def cap_label(cap: str, value) -> str:
    """'the cost cap of $5.00', 'the agent call cap of 100'."""
    label = CAPS[cap][3]
    if cap == "max_cost":
        return f"the {label} of ${value:,.2f}"
    return f"the {label} of {int(value):,}"


def not_run_error(cap: str, value) -> str:
    return f"{NOT_RUN_PREFIX}{cap_label(cap, value)} was reached."


@dataclass(slots=True)
class Reservation:
    """What one claimed row holds until it is written or given back."""

    agent_calls: int = 0
    judge_calls: int = 0
    tokens: float = 0
    cost: float = 0.0


@dataclass(slots=True)
class Usage:
    """What one written row really used."""

    agent_calls: int = 0
    judge_calls: int = 0
    tokens: int = 0
    cost: float = 0.0
    cached_calls: int = 0
    cached_saved: float = 0.0

    def add(self, other: Usage) -> None:
        self.agent_calls += other.agent_calls
        self.judge_calls += other.judge_calls
        self.tokens += other.tokens
        self.cost += other.cost
        self.cached_calls += other.cached_calls
        self.cached_saved += other.cached_saved


class Budget:
    """One drainer's view of the run's caps."""

    def __init__(self, run: EvaluationRun, *, agent_calls_per_row: int, judge_calls_per_row: int):
        self.run_id = run.id
        self.caps = {name: getattr(run, name) for name in CAPS if getattr(run, name) is not None}
        if not (agent_calls_per_row or judge_calls_per_row):
            self.caps = {}  # a run that calls no model spends nothing a cap could count
        self.per_row = {
            "max_agent_calls": agent_calls_per_row,
            "max_judge_calls": judge_calls_per_row,
        }
        self.held: dict[int, Reservation] = {}
        self.reached: str = ""

    @property
    def active(self) -> bool:
        return bool(self.caps)

    def reserve(self, wanted: int) -> list[Reservation]:
        """Reserve for up to ``wanted`` rows; the reservations granted (maybe none)."""
        if not self.active:
            return [Reservation() for _ in range(wanted)]
        with transaction.atomic():
            run = (
                EvaluationRun.objects.select_for_update()
                .filter(id=self.run_id)
                .values(*self._fields())
                .first()
            )
            if run is None:
                return []
            count = wanted
            whole: dict[str, float] = {}
            for cap, limit in self.caps.items():
                used, reserved, peak, _ = CAPS[cap]
                room = limit - run[used] - run[reserved]
                if peak is None:
                    per = self.per_row[cap]
                    if per > 0:
                        count = min(count, max(0, math.floor((room + EPSILON) / per)))
                    continue
                if run[peak] is None:
                    # Worst case unknown: one row at a time, holding all that is left.
                    alone = room > EPSILON and run[reserved] <= EPSILON
                    count = min(count, 1 if alone else 0)
                    whole[cap] = room
                elif run[peak] > 0:
                    count = min(count, max(0, math.floor((room + EPSILON) / run[peak])))
            if count <= 0:
                if all(run[CAPS[cap][1]] <= EPSILON for cap in self.caps):
                    self.reached = self._exhausted_cap(run)
                return []
            granted = []
            tokens = cost = 0
            if "max_tokens" in self.caps:
                tokens = whole.get("max_tokens", run["row_tokens_peak"] or 0)
            if "max_cost" in self.caps:
                cost = whole.get("max_cost", run["row_cost_peak"] or 0.0)
            for _ in range(count):
                granted.append(
                    Reservation(
                        agent_calls=self.per_row["max_agent_calls"],
                        judge_calls=self.per_row["max_judge_calls"],
                        tokens=tokens,
                        cost=cost,
                    )
                )
            total = _sum(granted)
            EvaluationRun.objects.filter(id=self.run_id).update(
                reserved_agent_calls=F("reserved_agent_calls") + total.agent_calls,
                reserved_judge_calls=F("reserved_judge_calls") + total.judge_calls,
                reserved_tokens=F("reserved_tokens") + int(math.ceil(total.tokens)),
                reserved_cost=F("reserved_cost") + total.cost,
            )
        return granted

    def _fields(self) -> list[str]:
        fields = []
        for cap in self.caps:
            used, reserved, peak, _ = CAPS[cap]
            fields += [used, reserved] + ([peak] if peak else [])
        return fields

    def _exhausted_cap(self, run: dict) -> str:
        """The cap that leaves no room for another row."""
        for cap, limit in self.caps.items():
            used, _, peak, _ = CAPS[cap]
            per = self.per_row.get(cap) if peak is None else (run[peak] or 0)
            if per and limit - run[used] < per - EPSILON:
                return cap
            if per == 0 and peak is None:
                continue
        return next(iter(self.caps))

    def hold(self, task_ids: list[int], reservations: list[Reservation]) -> list[Reservation]:
        """Attach reservations to the claimed rows; returns the ones left over."""
        for task_id, reservation in zip(task_ids, reservations, strict=False):
            self.held[task_id] = reservation
        return reservations[len(task_ids) :]

    def release_unused(self, reservations: list[Reservation]) -> None:
        if reservations and self.active:
            settle_run(self.run_id, released=_sum(reservations), used=Usage(), peak=None)

    def reserved_for(self, task_ids) -> Reservation:
        """The rows' reservations, still held (a write that is retried releases them once)."""
        return _sum([self.held[t] for t in task_ids if t in self.held])

    def forget(self, task_ids) -> None:
        """The rows' reservations were released by a committed write."""
        for task_id in task_ids:
            self.held.pop(task_id, None)

    def take(self, task_ids) -> Reservation:
        """The rows' reservations, no longer held (they are being given back)."""
        total = self.reserved_for(task_ids)
        self.forget(task_ids)
        return total


def _sum(reservations: list[Reservation]) -> Reservation:
    total = Reservation()
    for r in reservations:
        total.agent_calls += r.agent_calls
        total.judge_calls += r.judge_calls
        total.tokens += r.tokens
        total.cost += r.cost
    return total


def settle_run(
    run_id, *, released: Reservation, used: Usage, peak: Usage | None, extra=None
) -> None:
    """Release reservations and add what was used, in one update of the run (the caller's
    transaction). ``peak`` is the largest single row of the batch."""
    from django.db.models.functions import Greatest

    fields = dict(extra or {})
    if released.agent_calls:
        fields["reserved_agent_calls"] = F("reserved_agent_calls") - released.agent_calls
    if released.judge_calls:
        fields["reserved_judge_calls"] = F("reserved_judge_calls") - released.judge_calls
    if released.tokens:
        fields["reserved_tokens"] = Greatest(
            F("reserved_tokens") - int(math.ceil(released.tokens)), 0
        )
    if released.cost:
        fields["reserved_cost"] = Greatest(F("reserved_cost") - released.cost, 0.0)
    if used.agent_calls:
        fields["agent_calls"] = F("agent_calls") + used.agent_calls
    if used.judge_calls:
        fields["judge_calls"] = F("judge_calls") + used.judge_calls
    if used.tokens:
        fields["tokens_used"] = F("tokens_used") + used.tokens
    if used.cost:
        fields["cost_used"] = F("cost_used") + used.cost
    if used.cached_calls:
        fields["cached_calls"] = F("cached_calls") + used.cached_calls
    if used.cached_saved:
        fields["cached_cost_saved"] = F("cached_cost_saved") + used.cached_saved
    if not fields:
        return
    EvaluationRun.objects.filter(id=run_id).update(**fields)
    if peak is not None:
        # Peaks only grow: one conditional update each (NULL counts as lower). Only rows
        # whose calls were made set them (a failed agent call says nothing of the worst case).
        from django.db.models import Q

        EvaluationRun.objects.filter(id=run_id).filter(
            Q(row_tokens_peak__isnull=True) | Q(row_tokens_peak__lt=peak.tokens)
        ).update(row_tokens_peak=peak.tokens)
        EvaluationRun.objects.filter(id=run_id).filter(
            Q(row_cost_peak__isnull=True) | Q(row_cost_peak__lt=peak.cost)
        ).update(row_cost_peak=peak.cost)


def reset_leaked_reservations(run_id) -> None:
    """Nothing is claimed any more: whatever is still reserved belonged to a drainer that
    died mid-batch. Called with the run locked (``try_finish``) or before a rerun."""
    EvaluationRun.objects.filter(id=run_id).update(
        reserved_agent_calls=0, reserved_judge_calls=0, reserved_tokens=0, reserved_cost=0.0
    )
