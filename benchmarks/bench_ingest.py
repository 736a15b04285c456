"""Trace ingestion benchmark: 100,000 spans (10,000 traces of 10 spans) sent as OTLP/JSON.

Run:  .venv/bin/python benchmarks/bench_ingest.py [--traces 10000] [--batch 1000]
      [--only inprocess|http|split]
Uses a throwaway database: a temporary SQLite file, or, when DATABASE_URL points at
PostgreSQL, a temporary database created next to it and dropped at the end.

Each trace is an agent span with a retriever (three documents), a tool call and LLM calls
with GenAI messages and token counts, ~0.7 KB of OTLP/JSON a span. Three measurements:

- ``inprocess``: the receiver's decoding and ``traces_ingest`` called directly, batch after
  batch (what one web worker spends per span, without HTTP); peak RSS of this process. Also
  with the same batches as protobuf, the exporters' default encoding, for comparison.
- ``http``: ``POST /otlp/v1/traces`` to a real gunicorn (one worker, 8 threads) from one
  client sending batches back to back, as an exporter's batch processor does; spans/s and
  the worker's peak RSS.
- ``split``: the same over HTTP with every trace cut in two halves sent in consecutive
  batches, so half the traces are merges into an existing item.

No goal was set for this figure in the issue; it is reported.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

SPANS_PER_TRACE = 10
BASE = 1_760_000_000_000_000_000


def _attr(key, value):
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def trace_spans(n: int) -> list[dict]:
    tid = f"{n + 1:032x}"
    sid = [f"{n * 16 + i + 1:016x}" for i in range(SPANS_PER_TRACE)]
    start = BASE + n * 10_000_000_000
    question = f"Customer {n} asks: where is order {n % 997} and when will it arrive?"
    answer = f"Order {n % 997} shipped on Monday and arrives within two business days."

    def span(i, name, parent, offset_ms, length_ms, attrs, status=1):
        return {
            "traceId": tid,
            "spanId": sid[i],
            "parentSpanId": sid[parent] if parent is not None else "",
            "name": name,
            "kind": 1,
            "startTimeUnixNano": str(start + offset_ms * 1_000_000),
            "endTimeUnixNano": str(start + (offset_ms + length_ms) * 1_000_000),
            "attributes": [_attr(k, v) for k, v in attrs.items()],
            "status": {"code": status},
        }

    docs = {}
    for d in range(3):
        prefix = f"retrieval.documents.{d}.document"
        docs[f"{prefix}.id"] = f"kb-{(n + d) % 500}"
        docs[f"{prefix}.content"] = f"Shipping policy paragraph {d}: orders leave the warehouse "
        docs[f"{prefix}.content"] += "within one business day and carriers deliver in two days."
        docs[f"{prefix}.score"] = 0.9 - d / 10
    spans = [
        span(
            0,
            "support_agent",
            None,
            0,
            2000,
            {"openinference.span.kind": "AGENT", "input.value": question, "output.value": answer},
        ),
        span(
            1,
            "plan",
            0,
            5,
            40,
            {"openinference.span.kind": "CHAIN", "input.value": question},
        ),
        span(2, "retrieve", 0, 50, 80, {"openinference.span.kind": "RETRIEVER", **docs}),
    ]
    for t in range(3):
        spans.append(
            span(
                3 + t,
                f"execute_tool tool_{t}",
                0,
                140 + 60 * t,
                50,
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": f"tool_{t}",
                    "gen_ai.tool.call.id": f"call_{n}_{t}",
                    "gen_ai.tool.call.arguments": json.dumps({"order": n % 997, "step": t}),
                    "gen_ai.tool.call.result": json.dumps({"ok": True, "step": t}),
                },
            )
        )
    for m in range(4):
        spans.append(
            span(
                6 + m,
                "chat mini",
                0,
                330 + 400 * m,
                380,
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "mini",
                    "gen_ai.usage.input_tokens": 200 + m,
                    "gen_ai.usage.output_tokens": 20 + m,
                    "gen_ai.input.messages": json.dumps(
                        [
                            {"role": "system", "content": "You are Acme's support agent."},
                            {"role": "user", "content": question},
                        ]
                    ),
                    "gen_ai.output.messages": json.dumps(
                        [{"role": "assistant", "content": answer}]
                    ),
                },
            )
        )
    return spans


def body(spans: list[dict], dataset: str) -> bytes:
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [
                            _attr("service.name", "bench-agent"),
                            _attr("evalsite.dataset", dataset),
                        ]
                    },
                    "scopeSpans": [{"scope": {"name": "bench"}, "spans": spans}],
                }
            ]
        }
    ).encode()


def batches(traces: int, batch: int, *, split: bool):
    """Lists of ``batch`` spans; with ``split`` each trace's second half comes one batch
    after its first half."""
    per = batch // SPANS_PER_TRACE
    half = SPANS_PER_TRACE // 2
    carry: list[dict] = []
    for first in range(0, traces, per):
        spans = [s for n in range(first, min(first + per, traces)) for s in trace_spans(n)]
        if not split:
            yield spans
            continue
        heads = [s for i, s in enumerate(spans) if i % SPANS_PER_TRACE < half]
        tails = [s for i, s in enumerate(spans) if i % SPANS_PER_TRACE >= half]
        yield carry + heads
        carry = tails
    if carry:
        yield carry


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def proc_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def check(dataset: str, traces: int) -> None:
    from datasets.models import Dataset, DatasetItem

    version = Dataset.objects.get(name=dataset).versions.get()
    items = DatasetItem.objects.filter(version=version)
    sample = items.order_by("position").values_list("data", flat=True).first()
    assert version.row_count == traces == items.count(), (version.row_count, items.count())
    assert len(sample["trace"]["spans"]) == SPANS_PER_TRACE, len(sample["trace"]["spans"])


def run_inprocess(user, project, traces: int, batch: int, *, protobuf: bool = False) -> None:
    from traces import otlp, services

    dataset = "bench in-process protobuf" if protobuf else "bench in-process"
    kind = otlp.PROTOBUF if protobuf else otlp.JSON
    rss_before = rss_mb()
    sent = 0
    decoding = elapsed = 0.0
    for spans in batches(traces, batch, split=False):
        payload = body(spans, dataset)
        if protobuf:  # the same request as an exporter's protobuf body (not timed)
            payload = otlp.parse(payload, otlp.JSON).SerializeToString()
        started = time.perf_counter()
        request = otlp.parse(payload, kind)
        decoded = time.perf_counter()
        report = services.traces_ingest(user=user, request=request, project_hint=project.slug)
        elapsed += time.perf_counter() - started
        decoding += decoded - started
        assert report.rejected == 0, report.messages
        sent += len(spans)
    check(dataset, traces)
    print(
        f"in-process, {'protobuf' if protobuf else 'JSON'} (decode + ingest): {sent:,} spans / "
        f"{traces:,} traces in {elapsed:.1f} s = {sent / elapsed:,.0f} spans/s "
        f"(decoding {decoding:.1f} s of it); peak RSS {rss_mb():.0f} MB "
        f"(before {rss_before:.0f} MB)"
    )


def run_http(key: str, traces: int, batch: int, *, split: bool) -> None:
    from bench_api import start_server, worker_pids

    dataset = "bench http split" if split else "bench http"
    proc, base = start_server(1, 8)
    try:
        [worker] = worker_pids(proc.pid)
        rss_start = proc_mb(worker, "VmRSS")
        host, port = base.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        # Bodies are built before the clock starts: the client shares the machine's cores.
        payloads = [
            (len(spans), body(spans, dataset)) for spans in batches(traces, batch, split=split)
        ]
        sent = sum(count for count, _ in payloads)
        requests = len(payloads)
        payload_bytes = sum(len(payload) for _, payload in payloads)
        started = time.perf_counter()
        for _, payload in payloads:
            conn.request("POST", "/otlp/v1/traces", body=payload, headers=headers)
            response = conn.getresponse()
            text = response.read()
            assert response.status == 200 and text == b"{}", (response.status, text[:300])
        elapsed = time.perf_counter() - started
        peak = proc_mb(worker, "VmHWM")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    check(dataset, traces)
    label = "HTTP, traces split over two requests" if split else "HTTP, whole traces"
    print(
        f"{label}: {sent:,} spans in {requests} requests "
        f"({payload_bytes / requests / 1e6:.2f} MB each) in {elapsed:.1f} s "
        f"= {sent / elapsed:,.0f} spans/s ({traces / elapsed:,.0f} traces/s); "
        f"web worker RSS {rss_start:.0f} MB at start, peak {peak:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1000, help="spans per request")
    parser.add_argument("--only", choices=["inprocess", "http", "split"])
    args = parser.parse_args()
    from bench_datasets import setup_database

    with tempfile.TemporaryDirectory() as tmpdir:
        vendor, cleanup = setup_database(Path(tmpdir))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")
        import django

        django.setup()
        try:
            from django.contrib.auth import get_user_model
            from django.core.management import call_command

            from projects.models import Membership, Project, Role
            from projects.services import api_key_create

            call_command("migrate", verbosity=0)
            sample = len(body(trace_spans(0), "x")) / SPANS_PER_TRACE
            print(
                f"database: {vendor}; {args.traces:,} traces x {SPANS_PER_TRACE} spans, "
                f"{args.batch} spans a request, ~{sample:.0f} bytes of OTLP/JSON a span"
            )
            user = get_user_model().objects.create_user("bench", password="bench")
            project = Project.objects.create(name="Bench", slug="bench")
            Membership.objects.create(user=user, project=project, role=Role.EDITOR)
            _, key = api_key_create(user=user, name="bench")
            if args.only in (None, "inprocess"):
                run_inprocess(user, project, args.traces, args.batch)
                run_inprocess(user, project, args.traces, args.batch, protobuf=True)
            if args.only in (None, "http"):
                run_http(key, args.traces, args.batch, split=False)
            if args.only in (None, "split"):
                run_http(key, args.traces, args.batch, split=True)
        finally:
            cleanup()


if __name__ == "__main__":
    main()
