"""OTLP/JSON request bodies for the receiver tests, written the way exporters write them."""

from __future__ import annotations

import itertools
import json

_ids = itertools.count(1)


def trace_id() -> str:
    return f"{next(_ids):032x}"


def span_id() -> str:
    return f"{next(_ids):016x}"


def attr(key: str, value) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def span(tid, sid, name, *, parent="", start=0, end=1_000_000, status=1, message="", **attrs):
    return {
        "traceId": tid,
        "spanId": sid,
        "parentSpanId": parent,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(1_700_000_000_000_000_000 + start),
        "endTimeUnixNano": str(1_700_000_000_000_000_000 + end),
        "attributes": [attr(k.replace("__", "."), v) for k, v in attrs.items()],
        "status": {"code": status, "message": message},
    }


def body(spans, *, service="shop-agent", dataset=None, project=None) -> bytes:
    resource = [attr("service.name", service)]
    if dataset:
        resource.append(attr("evalsite.dataset", dataset))
    if project:
        resource.append(attr("evalsite.project", project))
    return json.dumps(
        {
            "resourceSpans": [
                {"resource": {"attributes": resource}, "scopeSpans": [{"spans": spans}]}
            ]
        }
    ).encode()


def agent_trace(question="Where is order 7?", answer="It ships today.", tid=None):
    """An agent span with a retriever, a tool and an LLM child (OpenInference + GenAI)."""
    tid = tid or trace_id()
    root = span_id()
    return tid, [
        span(
            tid,
            root,
            "agent",
            end=900_000_000,
            openinference__span__kind="AGENT",
            input__value=question,
            output__value=answer,
        ),
        span(
            tid,
            span_id(),
            "retrieve",
            parent=root,
            start=1_000_000,
            end=50_000_000,
            openinference__span__kind="RETRIEVER",
            input__value=question,
            **{
                "retrieval.documents.0.document.content": "Orders ship within a day.",
                "retrieval.documents.0.document.id": "doc-1",
                "retrieval.documents.0.document.score": 0.8,
                "retrieval.documents.0.document.metadata": '{"source": "shipping.md"}',
                "retrieval.documents.1.document.content": "Returns take 30 days.",
                "retrieval.documents.1.document.id": "doc-2",
            },
        ),
        span(
            tid,
            span_id(),
            "execute_tool lookup_order",
            parent=root,
            start=60_000_000,
            end=90_000_000,
            gen_ai__operation__name="execute_tool",
            gen_ai__tool__name="lookup_order",
            gen_ai__tool__call__arguments='{"order": 7}',
            gen_ai__tool__call__result='{"status": "packed"}',
        ),
        span(
            tid,
            span_id(),
            "chat gpt-x",
            parent=root,
            start=100_000_000,
            end=800_000_000,
            gen_ai__operation__name="chat",
            gen_ai__request__model="gpt-x",
            gen_ai__usage__input_tokens=120,
            gen_ai__usage__output_tokens=9,
            gen_ai__input__messages=json.dumps([{"role": "user", "content": question}]),
            gen_ai__output__messages=json.dumps([{"role": "assistant", "content": answer}]),
        ),
    ]
