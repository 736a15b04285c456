"""django-q2 entry points of continuous evaluation: they call ``traces.monitors``."""

from __future__ import annotations

from traces import monitors


def monitors_tick() -> int:
    """The scheduled tick: works every due monitor; returns how many it worked."""
    return len(monitors.monitors_tick())


def monitor_run_finished(run_id: str) -> None:
    monitors.monitor_run_finished(run_id=run_id)
