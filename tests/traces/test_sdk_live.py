"""A real OpenTelemetry SDK with its OTLP/HTTP exporter, configured only through the standard
environment variables, delivering a small instrumented agent's traces to a live gunicorn."""

from __future__ import annotations

import threading

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from datasets.models import Dataset, DatasetItem
from projects.models import Membership, Project, Role
from projects.services import api_key_create
from tests.support.processes import web_server

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CORPUS = {
    "warranty": "Every product has a two-year warranty.",
    "shipping": "Orders ship within one business day.",
}


class FakeAgent:
    """A tiny RAG agent with a tool, instrumented the way OpenInference and the GenAI
    conventions instrument real ones."""

    def __init__(self, tracer):
        self.tracer = tracer

    def answer(self, question: str, *, fail_tool: bool = False) -> str:
        with self.tracer.start_as_current_span("support_agent") as agent:
            agent.set_attribute("openinference.span.kind", "AGENT")
            agent.set_attribute("input.value", question)
            with self.tracer.start_as_current_span("retrieve") as retrieve:
                retrieve.set_attribute("openinference.span.kind", "RETRIEVER")
                retrieve.set_attribute("input.value", question)
                hits = [k for k in CORPUS if k in question.lower()] or list(CORPUS)
                for n, key in enumerate(hits):
                    prefix = f"retrieval.documents.{n}.document"
                    retrieve.set_attribute(f"{prefix}.id", key)
                    retrieve.set_attribute(f"{prefix}.content", CORPUS[key])
                    retrieve.set_attribute(f"{prefix}.score", 1.0 - n / 10)
            with self.tracer.start_as_current_span("execute_tool crm_lookup") as tool:
                tool.set_attribute("gen_ai.operation.name", "execute_tool")
                tool.set_attribute("gen_ai.tool.name", "crm_lookup")
                tool.set_attribute("gen_ai.tool.call.arguments", '{"customer": "c-1"}')
                if fail_tool:
                    tool.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, "CRM down"))
                else:
                    tool.set_attribute("gen_ai.tool.call.result", '{"tier": "gold"}')
            answer = CORPUS[hits[0]]
            with self.tracer.start_as_current_span("chat mini") as llm:
                llm.set_attribute("gen_ai.operation.name", "chat")
                llm.set_attribute("gen_ai.request.model", "mini")
                llm.set_attribute("gen_ai.usage.input_tokens", 50 + len(question))
                llm.set_attribute("gen_ai.usage.output_tokens", len(answer.split()))
                llm.add_event("gen_ai.user.message", {"content": question})
                llm.add_event("gen_ai.choice", {"message": f'{{"content": "{answer}"}}'})
            agent.set_attribute("output.value", answer)
            return answer


@pytest.fixture
def live(owner, project):
    _, key = api_key_create(user=owner, name="otel")
    with web_server() as base:
        yield base, key


@pytest.fixture
def otel_env(live, monkeypatch):
    base, key = live

    def configure(*, key=key, compression=None):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"{base}/otlp")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer {key}")
        if compression:
            monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", compression)
        else:
            monkeypatch.delenv("OTEL_EXPORTER_OTLP_COMPRESSION", raising=False)
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
        return OTLPSpanExporter()

    return configure


def _provider(processor, **resource) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "faq-bot", **resource}))
    provider.add_span_processor(processor)
    return provider


def _rows(name="faq-bot") -> list[dict]:
    dataset = Dataset.objects.get(name=name)
    return [
        i.data for i in DatasetItem.objects.filter(version__dataset=dataset).order_by("position")
    ]


def test_the_sdk_exports_one_item_per_trace_with_types_tokens_and_chunks(otel_env):
    exporter = otel_env(compression="gzip")
    provider = _provider(BatchSpanProcessor(exporter, max_export_batch_size=3))
    agent = FakeAgent(provider.get_tracer("faq"))
    questions = ["What is the warranty?", "How fast is shipping?", "Anything else?"]
    for n, question in enumerate(questions):
        agent.answer(question, fail_tool=n == 2)
    assert provider.force_flush(30_000)
    provider.shutdown()
    rows = _rows()
    assert [r["input"] for r in rows] == questions  # 12 spans in batches of 3: merged
    assert len({r["trace_id"] for r in rows}) == 3
    first = rows[0]
    assert first["output"] == CORPUS["warranty"] and first["status"] == "ok"
    types = [s["type"] for s in first["trace"]["spans"]]
    assert types == [
        "TRACE_SPAN_TYPE_UNKNOWN",
        "TRACE_SPAN_TYPE_RETRIEVER",
        "TRACE_SPAN_TYPE_TOOL",
        "TRACE_SPAN_TYPE_LLM",
    ]
    agent_span, retriever, tool, llm = first["trace"]["spans"]
    assert [c["text"] for c in retriever["retriever_chunks"]] == [CORPUS["warranty"]]
    assert retriever["retriever_chunks"][0]["source_name"] == "warranty"
    assert llm["input_tokens"] == 50 + len(questions[0]) and llm["output_tokens"] == 6
    assert llm["model"] == "mini" and llm["output"]["text"] == CORPUS["warranty"]
    assert first["trace"]["input_tokens"] == llm["input_tokens"]
    assert {s["parent_span_id"] for s in (retriever, tool, llm)} == {agent_span["span_id"]}
    assert tool["tool"]["arguments"] == '{"customer": "c-1"}'
    failed_tool = rows[2]["trace"]["spans"][2]
    assert failed_tool["status"] == "error" and failed_tool["error"] == "CRM down"
    assert rows[2]["status"] == "ok"  # the agent itself answered


def test_duplicate_exports_are_stored_once(otel_env):
    memory = InMemorySpanExporter()
    provider = _provider(SimpleSpanProcessor(memory))
    FakeAgent(provider.get_tracer("faq")).answer("What is the warranty?")
    spans = memory.get_finished_spans()
    exporter = otel_env()
    assert exporter.export(spans[:2]) == SpanExportResult.SUCCESS
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    [row] = _rows()
    assert len(row["trace"]["spans"]) == 4


def test_two_requests_for_one_trace_at_once_make_one_item(otel_env):
    memory = InMemorySpanExporter()
    provider = _provider(SimpleSpanProcessor(memory))
    agent = FakeAgent(provider.get_tracer("faq"))
    for n in range(6):
        agent.answer(f"Question {n} about shipping?")
    by_trace: dict[int, list] = {}
    for span in memory.get_finished_spans():
        by_trace.setdefault(span.context.trace_id, []).append(span)
    exporters = [otel_env(), otel_env()]
    results = []
    for spans in by_trace.values():
        halves = [spans[:2], spans[2:]]
        barrier = threading.Barrier(2)

        def send(index, halves=halves, barrier=barrier):
            barrier.wait()
            results.append(exporters[index].export(halves[index]))

        threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == [SpanExportResult.SUCCESS] * 12
    rows = _rows()
    assert len(rows) == 6
    assert all(len(r["trace"]["spans"]) == 4 for r in rows)


def test_refused_exports(otel_env, viewer, other_project):
    memory = InMemorySpanExporter()
    provider = _provider(SimpleSpanProcessor(memory))
    FakeAgent(provider.get_tracer("faq")).answer("What is the warranty?")
    spans = memory.get_finished_spans()
    assert otel_env(key="es_bad_key").export(spans) == SpanExportResult.FAILURE
    _, viewer_key = api_key_create(user=viewer, name="v")
    assert otel_env(key=viewer_key).export(spans) == SpanExportResult.FAILURE
    # the owner names a project they are not a member of
    other = _provider(SimpleSpanProcessor(memory), **{"evalsite.project": "other"})
    FakeAgent(other.get_tracer("faq")).answer("What is the warranty?")
    foreign = memory.get_finished_spans()[len(spans) :]
    assert otel_env().export(foreign) == SpanExportResult.FAILURE
    assert not Dataset.objects.exists()
    assert Project.objects.get(slug="other").datasets.count() == 0
    assert Membership.objects.get(user=viewer).role == Role.VIEWER


def test_a_chunked_json_body_and_its_limit(live):
    """Bodies without Content-Length (chunked) are read too, bounded by the same limit."""
    import httpx

    from tests.traces import payloads as p

    base, key = live
    tid, spans = p.agent_trace()
    data = p.body(spans, service="chunked")

    def pieces(blob):
        for start in range(0, len(blob), 1000):
            yield blob[start : start + 1000]

    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    response = httpx.post(f"{base}/otlp/v1/traces", content=pieces(data), headers=headers)
    assert response.status_code == 200, response.text
    assert [r["trace_id"] for r in _rows("chunked")] == [tid]
    huge = b'{"resourceSpans": [], "x": "' + b"a" * 11 * 1024 * 1024 + b'"}'
    response = httpx.post(f"{base}/otlp/v1/traces", content=pieces(huge), headers=headers)
    assert response.status_code == 413
