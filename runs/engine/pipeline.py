"""Keeping a drainer's workflow and judge calls busy across batches.

Batch-at-a-time processing leaves the agent idle while a batch's slowest call finishes and
while the batch is written and the next one claimed; with two drainers it also splits the
run's last rows unevenly. Here the calls run on an event loop in a helper thread, and the
drainer's own thread (which alone talks to the database, so the ORM never runs inside the
event loop) keeps a window of claimed rows in flight: it claims a little more whenever
there is room, and writes finished rows in small bulk batches as they complete. The same
thread renews the leases of its claimed rows (``claims.LeaseKeeper``) at least three times per
lease, so a call that outlives the lease is never handed to a second drainer while it runs.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent import futures

WAIT_SLICE_SECONDS = 0.25
STATUS_INTERVAL_SECONDS = 1.0
WRITE_INTERVAL_SECONDS = 1.0


class LoopThread:
    """An asyncio event loop running in its own daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="drainer-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coroutine) -> futures.Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def call(self, coroutine):
        return self.submit(coroutine).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        if not self._thread.is_alive():
            self.loop.close()


class Window:
    """How many rows a drainer keeps claimed-but-unwritten, and how it claims and writes."""

    def __init__(self, concurrency: int, *, calls_workflows: bool):
        self.concurrency = max(1, concurrency)
        # Workflow runs keep a second round of rows ready so calls never wait for a claim.
        self.size = self.concurrency * (2 if calls_workflows else 1)
        self.claim_chunk = self.concurrency
        self.write_chunk = max(self.concurrency, 50)


def drain_pipelined(drainer, *, deadline: float, window: Window) -> bool:
    """Work the run until nothing is left to claim, the run stops, or ``deadline`` passes.
    Returns True when it stopped at the deadline with rows still pending."""
    from runs.engine.drainer import process_row
    from runs.engine.sql import retry_on_deadlock
    from runs.engine.writes import write_batch

    in_flight: dict[futures.Future, int] = {}
    done: list = []
    exhausted = stopping = out_of_time = False
    last_write = time.monotonic()
    last_status = last_write - STATUS_INTERVAL_SECONDS
    try:
        while True:
            # Rows in flight or waiting to be written stay leased while this drainer lives.
            drainer.leases.tick()
            now = time.monotonic()
            if not stopping and now - last_status >= STATUS_INTERVAL_SECONDS:
                last_status = now
                stopping = not drainer.run_is_running()
            if not stopping and now >= deadline:
                stopping = out_of_time = True
            room = window.size - len(in_flight) - len(done)
            if not (stopping or exhausted) and (
                room >= max(1, window.claim_chunk // 2) or not in_flight
            ):
                rows = drainer.claim_rows(max(1, min(window.claim_chunk, room)))
                # A cap with no room for now is not the end: rows in flight give some back.
                exhausted = not rows and not drainer.budget_blocked
                for task_id, entry_id, data in rows:
                    coroutine = process_row(
                        drainer.context, task_id, entry_id, data or {}, drainer.client
                    )
                    in_flight[drainer.loop_thread.submit(coroutine)] = task_id
            if in_flight:
                finished, _ = futures.wait(
                    list(in_flight), timeout=WAIT_SLICE_SECONDS, return_when=futures.FIRST_COMPLETED
                )
                for future in finished:
                    in_flight.pop(future)
                    done.append(future.result())
            elif drainer.budget_blocked and not done:
                time.sleep(WAIT_SLICE_SECONDS)  # other drainers' rows hold the budget
            if done and (
                len(done) >= window.write_chunk
                or not in_flight
                or time.monotonic() - last_write >= WRITE_INTERVAL_SECONDS
            ):
                retry_on_deadlock(write_batch)(
                    drainer.run_id, done, owner=drainer.owner, budget=drainer.budget
                )
                done = []
                last_write = time.monotonic()
            if not in_flight and not done and (exhausted or stopping):
                break
    except BaseException:
        for future in in_flight:
            future.cancel()
        drainer.give_back(list(in_flight.values()) + [outcome.task_id for outcome in done])
        raise
    return out_of_time and drainer.has_pending()
