"""django-q2 entry points: they take ids, call the engine, and return quietly when the run is
gone. Never one task per row: a run is worked by a few drainers."""

from __future__ import annotations

from runs import heartbeat
from runs.engine import drainer, planning, sweeper


def plan_run(run_id: str) -> None:
    # The worker that plans the run goes straight on as its first drainer.
    if planning.plan_run(run_id, inline_drainer=True):
        drainer.drain_run(run_id)


def drain_run(run_id: str) -> None:
    drainer.drain_run(run_id)


def sweep() -> None:
    heartbeat.record_beat(source="sweeper")
    sweeper.sweep()


def worker_ping() -> None:
    heartbeat.ping()
