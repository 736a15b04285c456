"""A thin HTTP client for the server's ``/v1`` and ``/v2/gen-ai`` APIs.

Every error the server answers comes back as :class:`ApiError` whose ``str()`` is one line:
the status, the server's ``message`` and the request it answered. Reads are retried on
connection errors and 502/503/504 (a deploy or a restarting proxy must not fail a long CI
job); writes are sent once, and made safe to repeat by an ``Idempotency-Key``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx

RETRY_STATUSES = {502, 503, 504}
READ_ATTEMPTS = 5


class ApiError(Exception):
    """The server refused a request (``status`` set) or could not be reached (``status`` 0)."""

    def __init__(
        self, message: str, *, status: int = 0, errors: dict | None = None, request: str = ""
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.errors = errors or {}
        self.request = request

    def __str__(self) -> str:
        where = f" ({self.request})" if self.request else ""
        if self.status:
            return f"server answered {self.status}: {self.message}{where}"
        return f"{self.message}{where}"


def _error_from(response: httpx.Response, request: str) -> ApiError:
    message, errors = "", {}
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = str(body.get("message") or body.get("detail") or body.get("id") or "")
        if isinstance(body.get("errors"), dict):
            errors = body["errors"]
    if not message:
        text = " ".join(response.text.split())[:200]
        message = text or response.reason_phrase or "error"
    return ApiError(message, status=response.status_code, errors=errors, request=request)


class Client:
    def __init__(self, server: str, api_key: str, *, timeout: float = 60.0, transport=None):
        self.server = server.rstrip("/")
        self._http = httpx.Client(
            base_url=self.server,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": "evalsite-client",
            },
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _send(self, method: str, path: str, *, attempts: int = 1, **kwargs) -> httpx.Response:
        label = f"{method} {path}"
        for attempt in range(1, attempts + 1):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                if attempt == attempts:
                    raise ApiError(
                        f"could not reach {self.server}: {exc.__class__.__name__}: {exc}",
                        request=label,
                    ) from exc
            else:
                if response.status_code not in RETRY_STATUSES or attempt == attempts:
                    if response.status_code >= 400:
                        raise _error_from(response, label)
                    return response
            time.sleep(min(2 ** (attempt - 1), 10))
        raise AssertionError("unreachable")

    def get(self, path: str, **params) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self._send("GET", path, attempts=READ_ATTEMPTS, params=clean).json()

    def post(self, path: str, body: dict | None = None, *, idempotency_key: str | None = None):
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._send("POST", path, json=body or {}, headers=headers).json()

    def list_all(self, path: str, **params) -> list[dict]:
        """Every item of a ``{"data": [...]}`` list, following ``next_cursor`` when paged."""
        items: list[dict] = []
        cursor = None
        while True:
            body = self.get(path, **params, cursor=cursor)
            items += body.get("data") or []
            cursor = (body.get("pagination") or {}).get("next_cursor")
            if not cursor:
                return items

    def stream(self, path: str, **params) -> Iterator[bytes]:
        label = f"GET {path}"
        try:
            with self._http.stream("GET", path, params=params) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error_from(response, label)
                yield from response.iter_bytes()
        except httpx.HTTPError as exc:
            raise ApiError(f"download interrupted: {exc}", request=label) from exc

    # --- the calls the commands make ----------------------------------------------------------

    def run(self, run_id: str) -> dict:
        return self.get(f"/v1/evaluations/{run_id}")

    def run_metrics(self, run_id: str) -> list[dict]:
        return self.get(f"/v1/evaluations/{run_id}/metrics").get("data") or []

    def compare(self, run_id: str, baseline_id: str) -> dict:
        return self.get(f"/v1/evaluations/{run_id}/compare", baseline=baseline_id)

    def result_rows(self, run_id: str) -> Iterator[dict]:
        """Every result row (the JSONL download), one dict per row and agent."""
        import json

        buffer = b""
        for chunk in self.stream(f"/v1/evaluations/{run_id}/results/download", format="jsonl"):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    yield json.loads(line)
        if buffer.strip():
            yield json.loads(buffer)
