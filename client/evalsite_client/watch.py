"""Following runs until they finish: a live progress bar on a terminal (rows done, failed,
rate, time left), and on a CI log (not a terminal) one plain line every few seconds."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from evalsite_client.api import Client
from evalsite_client.gate import FINISHED

LOG_EVERY = 10.0


class RunTimeout(Exception):
    pass


class _Rate:
    """Rows per second since the first observation that had rows done."""

    def __init__(self):
        self.start: tuple[float, int] | None = None

    def update(self, done: int) -> float | None:
        now = time.monotonic()
        if self.start is None:
            self.start = (now, done)
            return None
        elapsed = now - self.start[0]
        return (done - self.start[1]) / elapsed if elapsed > 0.5 else None


def _progress(run: dict) -> tuple[int, int, int]:
    p = run.get("progress") or {}
    return int(p.get("done") or 0), int(p.get("total") or 0), int(p.get("failed") or 0)


def _eta(done: int, total: int, rate: float | None) -> str:
    if not rate or total <= done:
        return "-"
    seconds = int((total - done) / rate)
    return f"{seconds // 60}:{seconds % 60:02d}"


def follow(
    client: Client,
    run_ids: list[str],
    *,
    console: Console,
    interval: float = 1.0,
    timeout: float = 0,
) -> list[dict]:
    """Poll each run until all are finished; returns their final state."""
    deadline = time.monotonic() + timeout if timeout else None
    runs = {run_id: client.run(run_id) for run_id in run_ids}
    if console.is_terminal:
        return _follow_live(client, runs, console=console, interval=interval, deadline=deadline)
    return _follow_log(client, runs, console=console, interval=interval, deadline=deadline)


def _all_done(runs: dict) -> bool:
    return all(run.get("status") in FINISHED for run in runs.values())


def _check_deadline(deadline: float | None, runs: dict) -> None:
    if deadline is not None and time.monotonic() > deadline:
        active = ", ".join(
            r.get("name") or r["id"] for r in runs.values() if r.get("status") not in FINISHED
        )
        raise RunTimeout(f"gave up waiting for {active} (--timeout)")


def _follow_live(client, runs, *, console, interval, deadline) -> list[dict]:
    columns = (
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.fields[status]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows, [red]{task.fields[failed]} failed"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("elapsed,"),
        TimeRemainingColumn(),
        TextColumn("left"),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        tasks = {}
        for run_id, run in runs.items():
            done, total, failed = _progress(run)
            tasks[run_id] = bar.add_task(
                run.get("name") or run_id,
                total=total or None,
                completed=done,
                failed=failed,
                status=run.get("status"),
                rate="",
            )
        rates = {run_id: _Rate() for run_id in runs}
        while True:
            for run_id, run in runs.items():
                done, total, failed = _progress(run)
                rate = rates[run_id].update(done)
                bar.update(
                    tasks[run_id],
                    total=total or None,
                    completed=done,
                    failed=failed,
                    status=run.get("status"),
                    rate=f"{rate:.1f} rows/s" if rate else "",
                )
            if _all_done(runs):
                return list(runs.values())
            _check_deadline(deadline, runs)
            time.sleep(interval)
            for run_id in runs:
                if runs[run_id].get("status") not in FINISHED:
                    runs[run_id] = client.run(run_id)


def _follow_log(client, runs, *, console, interval, deadline) -> list[dict]:
    rates = {run_id: _Rate() for run_id in runs}
    last_line: dict[str, tuple[float, tuple]] = {}
    while True:
        for run_id, run in runs.items():
            done, total, failed = _progress(run)
            rate = rates[run_id].update(done)
            state = (run.get("status"), done, failed)
            previous = last_line.get(run_id)
            finished = run.get("status") in FINISHED
            due = previous is None or time.monotonic() - previous[0] >= LOG_EVERY
            if (due and (previous is None or previous[1] != state)) or (
                finished and (previous is None or previous[1] != state)
            ):
                percent = f"{100 * done / total:.0f}%" if total else "-"
                rate_text = f"{rate:.1f} rows/s" if rate else "- rows/s"
                console.print(
                    f"{run.get('name') or run_id}: {run.get('status')} {done}/{total} rows "
                    f"({percent}), {failed} failed, {rate_text}, "
                    f"{_eta(done, total, rate)} left",
                    highlight=False,
                    markup=False,
                )
                last_line[run_id] = (time.monotonic(), state)
        if _all_done(runs):
            return list(runs.values())
        _check_deadline(deadline, runs)
        time.sleep(interval)
        for run_id in runs:
            if runs[run_id].get("status") not in FINISHED:
                runs[run_id] = client.run(run_id)
