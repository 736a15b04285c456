"""Workflow executor throughput and overhead.

1. 1,000 calls to a local HTTP agent answering in 200 ms, max concurrency 50:
   ideal = 1000 / 50 * 0.2 s = 4 s; goal <= 1.2 x ideal.
2. Executor overhead per call against an agent that answers at once (sequential calls,
   executor.run vs. a bare httpx request to the same server).
3. CPU per call on the event loop's thread (``time.thread_time``; the fake agent's threads
   are not counted) for the concurrent run of 1: what the drainer pays per agent call.

Run: .venv/bin/python benchmarks/bench_workflows.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")
# The fake agents and judges listen on 127.0.0.1, which production refuses.
os.environ.setdefault("EVALSITE_ALLOW_LOOPBACK", "1")

import django  # noqa: E402

django.setup()

from tests.workflows.fake_servers import FakeServer, Reply  # noqa: E402
from workflows.executors import build_executor, shared_async_client  # noqa: E402
from workflows.models import Workflow, WorkflowVersion  # noqa: E402

CALLS, CONCURRENCY, LATENCY = 1000, 50, 0.2


def version_for(url: str, concurrency: int) -> WorkflowVersion:
    workflow = Workflow(name="bench", kind="http")
    return WorkflowVersion(
        workflow=workflow,
        number=1,
        config={
            "url": url,
            "method": "POST",
            "body_template": {"question": "{{question}}"},
            "output_paths": {"answer": "$.answer"},
            "input_tokens_path": "$.usage.input_tokens",
            "timeout_s": 10,
            "max_retries": 2,
            "max_concurrency": concurrency,
        },
        inputs=[{"name": "question", "description": "", "required": True}],
        outputs=[{"name": "answer", "description": ""}],
    )


def reply(delay: float):
    answer = Reply(json={"answer": "ok", "usage": {"input_tokens": 5}}, delay=delay)
    return lambda request: answer


async def throughput(url: str) -> tuple[float, float]:
    executor = build_executor(version_for(url, CONCURRENCY))
    client = shared_async_client()
    await executor.run({"question": "warm-up"}, client=client)
    started = time.perf_counter()
    cpu_started = time.thread_time()
    results = await asyncio.gather(
        *(executor.run({"question": f"q{i}"}, client=client) for i in range(CALLS))
    )
    cpu = time.thread_time() - cpu_started
    elapsed = time.perf_counter() - started
    errors = sum(1 for r in results if r.error)
    await client.aclose()
    if errors:
        print(f"  errors: {errors}")
    return elapsed, cpu / CALLS * 1000


async def overhead(url: str, n: int = 500) -> tuple[float, float]:
    executor = build_executor(version_for(url, 1))
    client = shared_async_client()
    bare, wrapped = [], []
    for i in range(n):
        t = time.perf_counter()
        response = await client.post(url, json={"question": f"q{i}"})
        response.json()
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        await executor.run({"question": f"q{i}"}, client=client)
        wrapped.append(time.perf_counter() - t)
    await client.aclose()
    return statistics.median(bare) * 1000, statistics.median(wrapped) * 1000


def main() -> None:
    ideal = CALLS / CONCURRENCY * LATENCY
    with FakeServer(reply(LATENCY)) as server:
        elapsed, cpu_ms = asyncio.run(throughput(server.url))
    print(f"{CALLS} calls, {LATENCY * 1000:.0f} ms agent, max concurrency {CONCURRENCY}:")
    print(
        f"  elapsed {elapsed:.2f} s; ideal {ideal:.2f} s; ratio {elapsed / ideal:.3f} (goal <= 1.2)"
    )
    print(f"  throughput {CALLS / elapsed:.0f} calls/s")
    print(f"  CPU per call on the event loop's thread: {cpu_ms:.3f} ms (goal well under 1 ms)")
    with FakeServer(reply(0)) as server:
        bare_ms, wrapped_ms = asyncio.run(overhead(server.url))
    print("Instant agent, sequential, median per call:")
    print(f"  bare httpx {bare_ms:.3f} ms; executor.run {wrapped_ms:.3f} ms;")
    print(f"  executor overhead {wrapped_ms - bare_ms:.3f} ms per call")


if __name__ == "__main__":
    main()
