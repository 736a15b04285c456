"""Calling workflow versions: one async interface for every kind.

``build_executor(version)`` is synchronous: it reads the version, decrypts its secrets,
compiles its JSONPaths, imports its callable and checks its URL's form, so the returned
``Executor`` never touches the ORM inside an event loop. ``await executor.run(inputs,
client=...)`` never raises for call failures: it returns an ``ExecutionResult`` whose
``error`` says what went wrong. Every HTTP call goes through ``evalsite.outbound``: a client
whose connections are address-checked (``new_async_client`` / ``shared_async_client``),
``send()`` with retries, ``Retry-After`` and limits, and the ``{{var}}`` rendering rule. Every
secret value the version resolves is scrubbed from the whole result before it is returned.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import time
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from django.core.exceptions import ValidationError

from evalsite.outbound import calls, guard
from evalsite.outbound import secrets as secret_store
from evalsite.outbound.calls import MAX_ERROR_BODY, CallFailed
from evalsite.outbound.templating import render_json, render_text
from evalsite.outbound.transport import new_client
from workflows.conf import python_workflow_allow_list
from workflows.models import WorkflowKind, WorkflowVersion
from workflows.templating import compile_path, find_all

SPAN_TYPES = {
    "llm": "TRACE_SPAN_TYPE_LLM",
    "retriever": "TRACE_SPAN_TYPE_RETRIEVER",
    "tool": "TRACE_SPAN_TYPE_TOOL",
}
UNKNOWN_SPAN = "TRACE_SPAN_TYPE_UNKNOWN"


@dataclass
class ExecutionResult:
    outputs: dict[str, Any] = field(default_factory=dict)
    input_tokens: int | None = None
    output_tokens: int | None = None
    chunks: list[dict] = field(default_factory=list)
    spans: list[dict] = field(default_factory=list)
    latency_ms: float = 0.0
    error: str | None = None
    raw: Any = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict:
        return {
            "outputs": self.outputs,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "chunks": self.chunks,
            "spans": self.spans,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "raw": self.raw,
        }


# --- shared client -------------------------------------------------------------------------

_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def new_async_client(*, max_connections: int = 200) -> httpx.AsyncClient:
    """A guarded client (see ``evalsite.outbound.transport``)."""
    return new_client(max_connections=max_connections)


def shared_async_client() -> httpx.AsyncClient:
    """The process's client for the running event loop (one per loop, reused by every call)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = new_async_client()
        _clients[loop] = client
    return client


# --- normalising what agents report --------------------------------------------------------


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _as_int(value) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def normalize_chunks(value) -> list[dict]:
    if not isinstance(value, list):
        return []
    chunks = []
    for item in value:
        if isinstance(item, dict):
            text = item.get("text", item.get("content", item.get("chunk", "")))
            chunks.append(
                {
                    "text": text if isinstance(text, str) else json.dumps(text),
                    "source_name": str(
                        item.get("source_name", item.get("source", item.get("title", ""))) or ""
                    ),
                    "index_uuid": str(item.get("index_uuid", item.get("index_id", "")) or ""),
                }
            )
        else:
            chunks.append({"text": str(item), "source_name": "", "index_uuid": ""})
    return chunks


def normalize_spans(value) -> list[dict]:
    """Spans from a list of spans, or from an object holding one under ``spans``."""
    if isinstance(value, dict):
        value = value.get("spans")
    if not isinstance(value, list):
        return []
    spans = []
    for item in value:
        if not isinstance(item, dict):
            continue
        raw_type = str(item.get("type", "")).strip()
        span_type = raw_type if raw_type.startswith("TRACE_SPAN_TYPE_") else None
        span_type = span_type or SPAN_TYPES.get(raw_type.lower(), UNKNOWN_SPAN)
        spans.append(
            {
                "name": str(item.get("name", "")),
                "type": span_type,
                "input": item.get("input"),
                "output": item.get("output"),
                "created_at": str(item.get("created_at") or _now_iso()),
            }
        )
    return spans


def scrub(value, secrets: list[str]):
    """``value`` with every occurrence of a secret replaced by the mask."""
    return secret_store.scrub(value, secrets)


# --- executors ------------------------------------------------------------------------------


class Executor:
    """Runs one workflow version. Subclasses implement ``_call``."""

    def __init__(self, *, version_id, max_concurrency: int, rps_limit: float | None = None):
        self.version_id = version_id
        self.max_concurrency = max(1, int(max_concurrency))
        self.rps_limit = rps_limit
        # The concurrency bound covers a whole call (retries included); the rate limit
        # spaces individual attempts (``calls.send``).
        self.concurrency = calls.Limits(max_concurrency=self.max_concurrency)
        self.rate = calls.Limits(rps_limit=rps_limit) if rps_limit else None
        self.secrets: list[str] = []
        self.required_inputs: list[str] = []

    def _secret(self, reference) -> str:
        clear = secret_store.resolve(reference)
        if secret_store.is_secret_ref(reference) and clear:
            self.secrets.extend(secret_store.values_to_scrub(clear))
        return clear

    async def run(self, inputs: dict, *, client: httpx.AsyncClient) -> ExecutionResult:
        started = time.perf_counter()
        result = ExecutionResult()
        try:
            missing = [n for n in self.required_inputs if (inputs or {}).get(n) is None]
            if missing:
                raise CallFailed("Missing required input: " + ", ".join(missing) + ".")
            async with self.concurrency.for_loop()[0]:
                await self._call(dict(inputs or {}), client, result)
        except CallFailed as exc:
            result.error = str(exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an agent's failure must never escape as an exception
            result.error = f"{type(exc).__name__}: {exc}"
        result.latency_ms = round((time.perf_counter() - started) * 1000, 3)
        if self.secrets:
            # An agent may echo its Authorization header anywhere in its reply.
            values = self.secrets
            result.error = scrub(result.error, values)
            result.raw = scrub(result.raw, values)
            result.outputs = scrub(result.outputs, values)
            result.chunks = scrub(result.chunks, values)
            result.spans = scrub(result.spans, values)
        return result

    async def _call(self, inputs, client, result) -> None:  # pragma: no cover
        raise NotImplementedError


class _HttpCaller(Executor):
    """Shared HTTP call for the kinds that speak HTTP."""

    def __init__(self, *, url: str, timeout_s: float, max_retries: int, **kwargs):
        super().__init__(**kwargs)
        self.url = url
        self.timeout_s = float(timeout_s)
        self.max_retries = max(0, int(max_retries))
        self.backoff_base = calls.BACKOFF_BASE_S
        # The form of the URL is checked here; its addresses on every connection.
        self.refusal = guard.url_problem(url, resolve_host=False)

    async def _request(self, client, *, method: str, headers: dict, body) -> httpx.Response:
        if self.refusal:
            raise CallFailed(self.refusal)
        as_query = method in ("GET", "DELETE")
        return await calls.send(
            client,
            method=method,
            url=self.url,
            headers=headers,
            json=None if as_query else body,
            params=body if as_query and body else None,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            limits=self.rate,
            backoff_base=self.backoff_base,
        )

    @staticmethod
    def _json(response: httpx.Response, result: ExecutionResult):
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            result.raw = response.text[: MAX_ERROR_BODY * 20]
            raise CallFailed(f"The response is not valid JSON ({exc}).") from exc
        result.raw = data
        return data


class HttpExecutor(_HttpCaller):
    def __init__(self, *, config: dict, input_names: list[str], output_paths: dict, **kwargs):
        super().__init__(
            url=config["url"],
            timeout_s=config.get("timeout_s", 30),
            max_retries=config.get("max_retries", 2),
            rps_limit=config.get("rps_limit") or None,
            **kwargs,
        )
        self.method = config.get("method", "POST").upper()
        self.headers = {"Accept": "application/json"}
        for name, value in (config.get("headers") or {}).items():
            self.headers[name] = self._secret(value)
        template = config.get("body_template")
        self.body_template = (
            template if template is not None else {n: "{{" + n + "}}" for n in input_names}
        )
        self.output_paths = {name: compile_path(path) for name, path in output_paths.items()}
        self.extra_paths = {
            key: compile_path(config[key])
            for key in ("input_tokens_path", "output_tokens_path", "chunks_path", "spans_path")
            if config.get(key)
        }

    async def _call(self, inputs, client, result) -> None:
        body = render_json(self.body_template, inputs)
        response = await self._request(client, method=self.method, headers=self.headers, body=body)
        data = self._json(response, result)
        missing = []
        for name, path in self.output_paths.items():
            found, value = find_all(path, data)
            if not found:
                missing.append(f"{name} ({path})")
            result.outputs[name] = value
        extra = {key: find_all(path, data)[1] for key, path in self.extra_paths.items()}
        result.input_tokens = _as_int(extra.get("input_tokens_path"))
        result.output_tokens = _as_int(extra.get("output_tokens_path"))
        result.chunks = normalize_chunks(extra.get("chunks_path"))
        result.spans = normalize_spans(extra.get("spans_path"))
        if missing:
            raise CallFailed("The response has no value for output " + ", ".join(missing) + ".")


class OpenAIChatExecutor(_HttpCaller):
    def __init__(self, *, config: dict, output_names: list[str], **kwargs):
        base_url = config["base_url"].rstrip("/")
        super().__init__(
            url=f"{base_url}/chat/completions",
            timeout_s=config.get("timeout_s", 60),
            max_retries=config.get("max_retries", 2),
            rps_limit=config.get("rps_limit") or None,
            **kwargs,
        )
        self.headers = {"Accept": "application/json"}
        if config.get("api_key"):
            self.headers["Authorization"] = f"Bearer {self._secret(config['api_key'])}"
        self.model = config["model"]
        self.system_prompt = config.get("system_prompt") or ""
        self.user_prompt = config.get("user_prompt") or ""
        self.temperature = config.get("temperature")
        self.max_tokens = config.get("max_tokens")
        self.stop = config.get("stop") or None
        self.output_name = output_names[0] if output_names else "answer"

    async def _call(self, inputs, client, result) -> None:
        messages = []
        if self.system_prompt:
            messages.append({"role": "system", "content": render_text(self.system_prompt, inputs)})
        messages.append({"role": "user", "content": render_text(self.user_prompt, inputs)})
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens:
            body["max_tokens"] = self.max_tokens
        if self.stop:
            body["stop"] = self.stop
        started_at = _now_iso()
        response = await self._request(client, method="POST", headers=self.headers, body=body)
        data = self._json(response, result)
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise CallFailed("The response has no choices[0].message.content.") from exc
        usage = data.get("usage") if isinstance(data, dict) else None
        usage = usage if isinstance(usage, dict) else {}
        result.outputs[self.output_name] = content
        result.input_tokens = _as_int(usage.get("prompt_tokens"))
        result.output_tokens = _as_int(usage.get("completion_tokens"))
        result.spans = [
            {
                "name": self.model,
                "type": "TRACE_SPAN_TYPE_LLM",
                "input": {"messages": messages},
                "output": {"content": content},
                "created_at": started_at,
            }
        ]


class PythonExecutor(Executor):
    def __init__(self, *, config: dict, output_names: list[str], **kwargs):
        super().__init__(**kwargs)
        self.callable_path = config["callable"]
        self.func = import_callable(self.callable_path)
        self.is_async = inspect.iscoroutinefunction(self.func)
        self.timeout_s = float(config.get("timeout_s") or 60)
        self.output_names = output_names

    async def _call(self, inputs, client, result) -> None:
        timeout_s, _ = calls.effective(self.timeout_s, 0)
        try:
            if self.is_async:
                value = await asyncio.wait_for(self.func(**inputs), timeout_s)
            else:
                value = await asyncio.wait_for(asyncio.to_thread(self.func, **inputs), timeout_s)
        except TimeoutError as exc:
            raise CallFailed(f"{self.callable_path} timed out after {timeout_s:g}s.") from exc
        except TypeError as exc:
            raise CallFailed(f"{self.callable_path} rejected its inputs: {exc}") from exc
        except Exception as exc:
            raise CallFailed(f"{self.callable_path} raised {type(exc).__name__}: {exc}") from exc
        try:
            result.raw = json.loads(json.dumps(value, default=str))
        except (TypeError, ValueError):
            result.raw = repr(value)
        if not isinstance(value, dict):
            name = self.output_names[0] if self.output_names else "output"
            result.outputs = {name: value}
            return
        reported = dict(value)
        result.input_tokens = _as_int(reported.pop("input_tokens", None))
        result.output_tokens = _as_int(reported.pop("output_tokens", None))
        result.chunks = normalize_chunks(reported.pop("chunks", None))
        result.spans = normalize_spans(reported.pop("spans", None))
        outputs = reported.pop("outputs", None)
        result.outputs = outputs if isinstance(outputs, dict) else reported
        missing = [name for name in self.output_names if name not in result.outputs]
        if missing:
            raise CallFailed(f"{self.callable_path} returned no {', '.join(missing)}.")


def import_callable(path: str):
    if path not in python_workflow_allow_list():
        raise ValidationError(
            {"callable": [f"{path} is not in the allow-list (EVALSITE_PYTHON_WORKFLOWS)."]}
        )
    module_name, _, attr = path.rpartition(".")
    try:
        func = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValidationError({"callable": [f"Cannot import {path}: {exc}"]}) from exc
    if not callable(func):
        raise ValidationError({"callable": [f"{path} is not callable."]})
    return func


def build_executor(version: WorkflowVersion) -> Executor:
    """An executor for ``version``; secrets are decrypted and the callable imported here."""
    kind = version.workflow.kind
    config = version.config or {}
    common = {"version_id": version.id, "max_concurrency": version.max_concurrency}
    if kind == WorkflowKind.HTTP:
        executor: Executor = HttpExecutor(
            config=config,
            input_names=version.input_names(),
            output_paths=config.get("output_paths") or {},
            **common,
        )
    elif kind == WorkflowKind.OPENAI_CHAT:
        executor = OpenAIChatExecutor(config=config, output_names=version.output_names(), **common)
    elif kind == WorkflowKind.PYTHON:
        executor = PythonExecutor(config=config, output_names=version.output_names(), **common)
    else:
        raise ValidationError(f"Unknown workflow kind {kind!r}.")
    executor.required_inputs = version.required_input_names()
    return executor
