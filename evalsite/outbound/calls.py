"""Sending one call: retries with backoff and ``Retry-After``, rate and concurrency limits,
and the caps an interactive "Try it" runs under.

``await send(client, ...)`` returns a 2xx ``httpx.Response`` or raises ``CallFailed`` with a
message that is safe to show (secrets scrubbed by the caller's ``scrub``). Transient failures
-- timeouts, connection errors, 429 and 5xx -- are retried up to ``max_retries`` times with
exponential backoff and jitter; a 429/503 ``Retry-After`` (seconds or HTTP date) is honoured
up to ``MAX_RETRY_AFTER_S``. Redirects are never followed; a refused address
(``OutboundRefused``) and other 4xx answers are not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import email.utils
import random
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from evalsite.outbound.transport import OutboundRefused

MAX_BACKOFF_S = 30.0
MAX_RETRY_AFTER_S = 60.0
MAX_ERROR_BODY = 500
BACKOFF_BASE_S = 0.25


class CallFailed(Exception):
    """A call failed for good (after any retries); the message is safe to show."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Caps:
    """Upper bounds applied to every call made while they are in force."""

    timeout_s: float
    max_retries: int


_caps: contextvars.ContextVar[Caps | None] = contextvars.ContextVar("outbound_caps", default=None)


@contextlib.contextmanager
def capped(*, timeout_s: float, max_retries: int = 0):
    """Calls made inside (in this thread, or in tasks/threads started from it) use at most
    ``timeout_s`` and ``max_retries``: what "Try it" runs under."""
    token = _caps.set(Caps(timeout_s=timeout_s, max_retries=max_retries))
    try:
        yield
    finally:
        _caps.reset(token)


def effective(timeout_s: float, max_retries: int) -> tuple[float, int]:
    caps = _caps.get()
    if caps is None:
        return float(timeout_s), max(0, int(max_retries))
    return min(float(timeout_s), caps.timeout_s), min(max(0, int(max_retries)), caps.max_retries)


# --- limits ---------------------------------------------------------------------------------


class RateLimiter:
    """Spaces calls at least ``1 / rps`` seconds apart (one per event loop)."""

    def __init__(self, rps: float):
        self.interval = 1.0 / rps
        self.next_slot = 0.0

    async def wait(self) -> None:
        now = asyncio.get_running_loop().time()
        slot = max(now, self.next_slot)
        self.next_slot = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class Limits:
    """A concurrency bound and an optional rate limit for one destination, per event loop
    (asyncio primitives belong to one loop)."""

    def __init__(self, *, max_concurrency: int | None = None, rps_limit: float | None = None):
        self.max_concurrency = max(1, int(max_concurrency)) if max_concurrency else None
        self.rps_limit = float(rps_limit) if rps_limit else None
        self._per_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def for_loop(self) -> tuple[asyncio.Semaphore | None, RateLimiter | None]:
        loop = asyncio.get_running_loop()
        found = self._per_loop.get(loop)
        if found is None:
            semaphore = asyncio.Semaphore(self.max_concurrency) if self.max_concurrency else None
            limiter = RateLimiter(self.rps_limit) if self.rps_limit else None
            found = self._per_loop[loop] = (semaphore, limiter)
        return found


# --- retries --------------------------------------------------------------------------------


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def backoff(attempt: int, base: float = BACKOFF_BASE_S) -> float:
    delay = min(MAX_BACKOFF_S, base * (2**attempt))
    return delay / 2 + random.uniform(0, delay / 2)


def _snippet(response: httpx.Response) -> str:
    try:
        return response.text[:MAX_ERROR_BODY]
    except Exception:  # undecodable body
        return ""


async def send(
    client: httpx.AsyncClient,
    *,
    method: str,
    url: str,
    headers: dict | None = None,
    json=None,
    params=None,
    timeout_s: float = 30.0,
    max_retries: int = 2,
    limits: Limits | None = None,
    backoff_base: float = BACKOFF_BASE_S,
) -> httpx.Response:
    """One call with retries (see the module docstring)."""
    timeout_s, max_retries = effective(timeout_s, max_retries)
    semaphore, limiter = limits.for_loop() if limits else (None, None)
    if semaphore is None:
        return await _attempts(
            client,
            method,
            url,
            headers,
            json,
            params,
            timeout_s,
            max_retries,
            limiter,
            backoff_base,
        )
    async with semaphore:
        return await _attempts(
            client,
            method,
            url,
            headers,
            json,
            params,
            timeout_s,
            max_retries,
            limiter,
            backoff_base,
        )


async def _attempts(
    client, method, url, headers, json, params, timeout_s, max_retries, limiter, backoff_base
) -> httpx.Response:
    last_problem = ""
    for attempt in range(max_retries + 1):
        if limiter:
            await limiter.wait()
        delay = None
        try:
            response = await client.request(
                method, url, headers=headers, json=json, params=params, timeout=timeout_s
            )
        except OutboundRefused as exc:
            raise CallFailed(str(exc)) from None
        except httpx.TimeoutException:
            last_problem = f"timed out after {timeout_s:g}s"
        except httpx.TransportError as exc:
            last_problem = f"connection failed ({type(exc).__name__}: {exc})"
        else:
            status = response.status_code
            if status < 300:
                return response
            if status < 400:
                where = response.headers.get("Location", "")
                message = f"HTTP {status} redirect to {where} (not followed)."
                raise CallFailed(message, status=status)
            snippet = _snippet(response)
            if status == 429:
                last_problem = f"rate limited (429) {snippet}".strip()
                delay = retry_after_seconds(response)
            elif status >= 500:
                last_problem = f"HTTP {status}: {snippet}".strip()
                delay = retry_after_seconds(response) if status == 503 else None
            else:
                raise CallFailed(f"HTTP {status}: {snippet}".strip(), status=status)
        if attempt < max_retries:
            if delay is None:
                delay = backoff(attempt, backoff_base)
            await asyncio.sleep(min(delay, MAX_RETRY_AFTER_S))
    tries = max_retries + 1
    raise CallFailed(
        f"The call failed after {tries} attempt{'s' if tries > 1 else ''}: {last_problem}"
    )
