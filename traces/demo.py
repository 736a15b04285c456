"""Demo traces: a few recorded runs of a support agent, sent through the same ingestion code
an OpenTelemetry exporter reaches (OTLP/JSON payloads built here, parsed by ``traces.otlp``,
stored by ``traces.services``). Idempotent: a trace already stored is not stored again.

The payloads use the OpenTelemetry GenAI conventions for the model calls and OpenInference
for the agent, retriever and tool spans, as instrumented agents send them.
"""

from __future__ import annotations

import hashlib

import orjson

from datasets import services as dataset_services
from datasets.models import Dataset, VersionStatus
from traces import otlp, services

DATASET_NAME = "Production traces (OpenTelemetry)"
SERVICE_NAME = "acme-support-agent"
BASE_NANOS = 1_735_725_600_000_000_000  # 2025-01-01T10:00:00Z

_CHATS = [
    (
        "How long is the warranty?",
        "Every Acme product has a two-year limited warranty.",
        [("warranty.md", "All Acme Robotics products carry a two-year limited warranty.")],
        None,
    ),
    (
        "Where is my order 1042?",
        "Order 1042 shipped yesterday and arrives on Friday.",
        [("shipping.md", "Orders ship within one business day from Rotterdam.")],
        ("lookup_order", '{"order_id": "1042"}', '{"status": "shipped", "eta": "Friday"}'),
    ),
    (
        "Does the Rover need a boundary wire?",
        "",
        [("rover.md", "The Rover mows without a boundary wire using RTK positioning.")],
        None,
    ),
    (
        "Can I pause Acme Care?",
        "Yes, you can pause Acme Care once a year for up to three months.",
        [("care.md", "Acme Care can be paused once per year for up to three months.")],
        ("get_plan", '{"customer_id": "C-77"', None),
    ),
]


def _hex(seed: str, size: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[: size * 2]


def _attr(key: str, value) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _span(trace_id, span_id, parent, name, start_ms, end_ms, attrs, *, error="", events=()):
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(BASE_NANOS + start_ms * 1_000_000),
        "endTimeUnixNano": str(BASE_NANOS + end_ms * 1_000_000),
        "attributes": [_attr(k, v) for k, v in attrs.items()],
        "status": {"code": 2, "message": error} if error else {"code": 1},
    }
    if events:
        span["events"] = list(events)
    return span


def chat_spans(index: int, question: str, answer: str, documents, tool) -> list[dict]:
    """The spans of one recorded chat: agent -> retriever, (tool), LLM."""
    trace_id = _hex(f"demo-trace-{index}", 16)
    offset = index * 60_000

    def sid(name):
        return _hex(f"{trace_id}-{name}", 8)

    failed = not answer
    spans = [
        _span(
            trace_id,
            sid("agent"),
            "",
            "support_agent",
            offset,
            offset + 900 + 40 * index,
            {
                "openinference.span.kind": "AGENT",
                "input.value": question,
                "output.value": answer,
            },
            error="The model call timed out." if failed else "",
        ),
        _span(
            trace_id,
            sid("retrieve"),
            sid("agent"),
            "retrieve_docs",
            offset + 5,
            offset + 60,
            {
                "openinference.span.kind": "RETRIEVER",
                "input.value": question,
                **{
                    f"retrieval.documents.{n}.document.{field}": value
                    for n, (source, text) in enumerate(documents)
                    for field, value in (
                        ("id", f"{source}#0"),
                        ("content", text),
                        ("score", 0.9 - 0.1 * n),
                        ("metadata", orjson.dumps({"source": source}).decode()),
                    )
                },
            },
        ),
    ]
    start = 70
    if tool is not None:
        name, arguments, result = tool
        spans.append(
            _span(
                trace_id,
                sid("tool"),
                sid("agent"),
                f"execute_tool {name}",
                offset + start,
                offset + start + 120,
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": name,
                    "gen_ai.tool.call.id": f"call_{index}",
                    "gen_ai.tool.call.arguments": arguments,
                    **({"gen_ai.tool.call.result": result} if result else {}),
                },
                error="" if result else "The tool arguments are not valid JSON.",
            )
        )
        start += 130
    context = "\n".join(text for _, text in documents)
    spans.append(
        _span(
            trace_id,
            sid("llm"),
            sid("agent"),
            "chat acme-mini",
            offset + start,
            offset + start + 600,
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "acme",
                "gen_ai.request.model": "acme-mini",
                "gen_ai.usage.input_tokens": 180 + 11 * index,
                "gen_ai.usage.output_tokens": 0 if failed else 24 + 3 * index,
                "gen_ai.input.messages": orjson.dumps(
                    [
                        {"role": "system", "content": f"Answer from the context.\n{context}"},
                        {"role": "user", "content": question},
                    ]
                ).decode(),
                **(
                    {}
                    if failed
                    else {
                        "gen_ai.output.messages": orjson.dumps(
                            [{"role": "assistant", "content": answer}]
                        ).decode()
                    }
                ),
            },
            error="Timed out after 30 s." if failed else "",
        )
    )
    return spans


def otlp_json(spans: list[dict], *, service: str = SERVICE_NAME, dataset: str = "") -> bytes:
    """An OTLP/JSON ``ExportTraceServiceRequest`` carrying ``spans`` from one resource."""
    resource = [_attr("service.name", service)]
    if dataset:
        resource.append(_attr("evalsite.dataset", dataset))
    return orjson.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": resource},
                    "scopeSpans": [{"scope": {"name": "acme.agent"}, "spans": spans}],
                }
            ]
        }
    )


def seed(*, project, user) -> list[str]:
    """Ingest the demo chats once and release them as version 1, ready for runs."""
    if Dataset.objects.filter(project=project, name=DATASET_NAME).exists():
        return []
    spans = [
        span
        for index, (question, answer, documents, tool) in enumerate(_CHATS, start=1)
        for span in chat_spans(index, question, answer, documents, tool)
    ]
    body = otlp_json(spans, dataset=DATASET_NAME)
    request = otlp.parse(body, otlp.JSON)
    report = services.traces_ingest(user=user, request=request, project_hint=project.slug)
    dataset = Dataset.objects.get(project=project, name=DATASET_NAME)
    draft = dataset.versions.get(status=VersionStatus.DRAFT)
    dataset_services.version_release(version=draft, user=user)
    return [
        f"ingested {report.traces_created} OpenTelemetry traces ({report.accepted} spans) "
        f"into dataset {DATASET_NAME} (version 1 released)"
    ]
