"""The gate every interactive call ("Try it" on a workflow or a metric, UI and API) passes.

``with interactive_call(user=...):`` refuses the call with ``TryRateLimited`` when the user
has made more than ``EVALSITE_TRY_RATE_LIMIT`` calls in the current window (``"N/seconds"``,
default ``10/60``) or already has ``EVALSITE_TRY_MAX_ACTIVE`` (default 2) running, and caps
every outbound call made inside it at ``EVALSITE_TRY_TIMEOUT_S`` (default 10 s) with no
retries, so tries cannot hold the web server's threads. Counters live in Django's cache
(per process with the default local-memory cache; configure a shared cache to make the limit
global across web workers).
"""

from __future__ import annotations

import contextlib
import time

from django.conf import settings
from django.core.cache import cache

from evalsite.outbound.calls import capped


class TryRateLimited(Exception):
    def __init__(self, message: str, *, wait_s: int):
        super().__init__(message)
        self.message = message
        self.wait_s = wait_s


def _rate() -> tuple[int, int]:
    raw = str(getattr(settings, "EVALSITE_TRY_RATE_LIMIT", "10/60") or "10/60")
    count, _, seconds = raw.partition("/")
    return max(1, int(count)), max(1, int(seconds or 60))


def try_timeout_s() -> float:
    return float(getattr(settings, "EVALSITE_TRY_TIMEOUT_S", 10.0))


def _incr(key: str, ttl: int) -> int:
    cache.add(key, 0, ttl)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, ttl)
        return 1


@contextlib.contextmanager
def interactive_call(*, user):
    limit, period = _rate()
    now = time.time()
    window = int(now // period)
    who = getattr(user, "pk", None) or "anonymous"
    used = _incr(f"evalsite:try:{who}:{window}", period + 1)
    if used > limit:
        wait = max(1, int((window + 1) * period - now))
        raise TryRateLimited(
            f"Too many tries: at most {limit} every {period} s. Try again in {wait} s.",
            wait_s=wait,
        )
    timeout = try_timeout_s()
    active_key = f"evalsite:try-active:{who}"
    active = _incr(active_key, int(timeout * 3) + 5)
    try:
        max_active = int(getattr(settings, "EVALSITE_TRY_MAX_ACTIVE", 2))
        if active > max_active:
            raise TryRateLimited(
                f"You already have {max_active} tries running; wait for them to finish.",
                wait_s=int(timeout),
            )
        with capped(timeout_s=timeout, max_retries=0):
            yield
    finally:
        with contextlib.suppress(ValueError):
            cache.decr(active_key)
