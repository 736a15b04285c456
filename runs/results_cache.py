"""A cache of results pages of finished runs (the ``/v2`` prompts, the ``/v1`` result rows).

A finished run's results do not change until something reopens it (a rerun re-scores its
failed rows), deletes it or renames what its pages name (a metric, an agent). So a page is
cached under a key made of:

- the run's id and its project (the caller has already checked the user may read it: a
  user of another project gets the 404 before any cache is consulted, and a key never
  serves another project's run);
- its change stamp: status, ``finished_at`` and ``last_progress_at`` (every finish writes
  both anew, so a rerun that finishes again has a new stamp), the task counters and the
  metric errors;
- the labels the page shows (metric and agent names, which can be renamed);
- the normalised query (validated page, size, cursor, sort, filters).

Active runs are never cached. The store is an in-process LRU bounded by bytes (128 MB a
process by default) with a bounded lifetime; a stale stamp is simply never asked for again
and ages out.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from django.conf import settings

TIMEOUT = 600  # seconds
# Pages larger than this are built every time (a 500-row page with big outputs).
MAX_BYTES = 1024 * 1024


class _ByteBoundedLRU:
    """Pages by key, least recently used dropped first, bounded by their total size (a
    count bound would let 1,000 large pages grow a worker by a gigabyte). Thread-safe: a
    gthread worker serves several requests at once."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.size = 0
        self._pages: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            found = self._pages.get(key)
            if found is None:
                return None
            if found[0] < time.monotonic():
                self._drop(key)
                return None
            self._pages.move_to_end(key)
            return found[1]

    def set(self, key: str, body: bytes, timeout: float) -> None:
        with self._lock:
            if key in self._pages:
                self._drop(key)
            self._pages[key] = (time.monotonic() + timeout, body)
            self.size += len(body)
            while self.size > self.capacity and self._pages:
                self._drop(next(iter(self._pages)))

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
            self.size = 0

    def _drop(self, key: str) -> None:
        _, body = self._pages.pop(key)
        self.size -= len(body)


# Per process (each gunicorn worker has its own); EVALSITE_RESULTS_CACHE_MB sizes it.
pages = _ByteBoundedLRU(getattr(settings, "EVALSITE_RESULTS_CACHE_MB", 128) * 1024 * 1024)


def run_stamp(run) -> str:
    return "|".join(
        str(value)
        for value in (
            run.status,
            run.finished_at.isoformat() if run.finished_at else "",
            run.last_progress_at.isoformat() if run.last_progress_at else "",
            run.total_tasks,
            run.succeeded_tasks,
            run.failed_tasks,
            run.canceled_tasks,
            run.metric_errors,
        )
    )


def page_key(run, kind: str, query: tuple, labels: tuple) -> str:
    raw = repr((kind, str(run.project_id), str(run.id), run_stamp(run), labels, query))
    return "evalsite:results:" + hashlib.sha256(raw.encode()).hexdigest()


def cached_page(run, kind: str, query: tuple, labels: tuple, build: Callable[[], bytes]) -> bytes:
    """``build()`` (the page's JSON bytes), from the cache when the run is finished."""
    if run.is_active:
        return build()
    key = page_key(run, kind, query, labels)
    found = pages.get(key)
    if found is not None:
        return found
    body = build()
    if len(body) <= MAX_BYTES:
        pages.set(key, body, TIMEOUT)
    return body
