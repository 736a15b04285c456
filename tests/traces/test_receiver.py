"""The OTLP/HTTP receiver through Django's test client: encodings, limits, access, merging."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1 import trace_pb2

from datasets import services as dataset_services
from datasets.models import Dataset, DatasetItem, DatasetVersion
from tests.traces import payloads as p
from traces import otlp
from traces.models import TraceItem

URL = "/otlp/v1/traces"


@pytest.fixture
def send(client, owner, project):
    from projects.services import api_key_create

    _, raw = api_key_create(user=owner, name="otel")

    def post(body, *, content_type="application/json", key=raw, **headers):
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        if key:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        return client.post(URL, data=body, content_type=content_type, **extra)

    return post


def items(dataset_name="shop-agent"):
    dataset = Dataset.objects.get(name=dataset_name)
    return [item.data for item in DatasetItem.objects.filter(version__dataset=dataset)]


def test_a_json_trace_becomes_one_trace_shaped_item_in_a_new_dataset_draft(send, project):
    tid, spans = p.agent_trace()
    response = send(p.body(spans))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == {}
    dataset = Dataset.objects.get(project=project, name="shop-agent")
    version = dataset.versions.get()
    assert version.is_draft and version.row_count == 1
    [row] = items()
    assert row["trace_id"] == tid
    assert row["input"] == "Where is order 7?"
    assert row["output"] == "It ships today."
    assert row["status"] == "ok"
    trace = row["trace"]
    assert [s["type"] for s in trace["spans"]] == [
        "TRACE_SPAN_TYPE_UNKNOWN",
        "TRACE_SPAN_TYPE_RETRIEVER",
        "TRACE_SPAN_TYPE_TOOL",
        "TRACE_SPAN_TYPE_LLM",
    ]
    assert [s["kind"] for s in trace["spans"]] == ["AGENT", "RETRIEVER", "TOOL", "LLM"]
    agent, retriever, tool, llm = trace["spans"]
    assert retriever["retriever_chunks"][0] == {
        "text": "Orders ship within a day.",
        "source_name": "shipping.md",
        "index_uuid": "",
        "document_id": "doc-1",
        "score": 0.8,
        "metadata": {"source": "shipping.md"},
    }
    assert retriever["retriever_chunks"][1]["source_name"] == "doc-2"
    assert retriever["input"] == {"query": "Where is order 7?"}
    assert tool["tool"] == {"name": "lookup_order", "arguments": '{"order": 7}'}
    assert tool["input"] == {"order": 7} and tool["output"] == {"status": "packed"}
    assert llm["model"] == "gpt-x"
    assert (llm["input_tokens"], llm["output_tokens"]) == (120, 9)
    assert llm["input"] == {"messages": [{"role": "user", "content": "Where is order 7?"}]}
    assert llm["output"]["text"] == "It ships today."
    assert llm["parent_span_id"] == agent["span_id"] and agent["parent_span_id"] == ""
    assert llm["latency_ms"] == 700.0
    assert trace["input_tokens"] == 120 and trace["output_tokens"] == 9
    assert trace["latency_ms"] == 900.0
    assert len(trace["chunks"]) == 2
    assert trace["root_span_id"] == agent["span_id"]
    assert "gen_ai.input.messages" not in llm["attributes"]
    assert llm["attributes"]["gen_ai.request.model"] == "gpt-x"
    assert TraceItem.objects.get(trace_id=tid).span_count == 4


def test_protobuf_and_the_response_in_protobuf(send, project):
    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    kv = resource.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "proto-agent"
    span = resource.scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "chat"
    span.start_time_unix_nano, span.end_time_unix_nano = 10**18, 10**18 + 5 * 10**6
    for key, value in (("gen_ai.operation.name", "chat"), ("gen_ai.request.model", "m")):
        a = span.attributes.add()
        a.key, a.value.string_value = key, value
    a = span.attributes.add()
    a.key, a.value.int_value = "gen_ai.usage.input_tokens", 33
    span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
    span.status.message = "rate limited"
    response = send(request.SerializeToString(), content_type="application/x-protobuf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-protobuf"
    parsed = ExportTraceServiceResponse.FromString(response.content)
    assert not parsed.HasField("partial_success")
    [row] = items("proto-agent")
    assert row["trace_id"] == "01" * 16 and row["status"] == "error"
    [stored] = row["trace"]["spans"]
    assert stored["type"] == "TRACE_SPAN_TYPE_LLM" and stored["input_tokens"] == 33
    assert stored["error"] == "rate limited" and row["trace"]["error"] == "rate limited"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_bodies(send, project, encoding):
    tid, spans = p.agent_trace()
    raw = p.body(spans)
    data = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)
    response = send(data, content_encoding=encoding)
    assert response.status_code == 200, response.content
    assert [row["trace_id"] for row in items()] == [tid]


def test_a_gzip_bomb_is_refused_before_it_is_inflated(send, project, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    bomb = gzip.compress(b"{" + b" " * 50_000_000 + b"}")
    assert len(bomb) < 100_000
    response = send(bomb, content_encoding="gzip")
    assert response.status_code == 413
    assert "once decompressed" in response.json()["message"]
    assert not Dataset.objects.exists()


def test_a_body_over_the_limit_is_413(send, project, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    _, spans = p.agent_trace()
    response = send(p.body(spans))
    assert response.status_code == 413
    assert "1000 bytes" in response.json()["message"]
    assert not Dataset.objects.exists()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"[1, 2]", "application/json", 400, "must be an object"),
        (b'{"resourceSpans": 7}', "application/json", 400, "not a valid OTLP"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
            "application/json",
            400,
            "not a hex string",
        ),
        (b"\xff\xff\xff\xff", "application/x-protobuf", 400, "not a valid protobuf"),
        (b"hello", "text/plain", 415, "Unsupported Content-Type"),
    ],
)
def test_bad_payloads_are_4xx_and_change_nothing(send, project, body, content_type, status, words):
    response = send(body, content_type=content_type)
    assert response.status_code == status
    if content_type == "application/x-protobuf":
        message = status_pb2.Status.FromString(response.content).message
    else:
        message = response.json()["message"]
    assert words in message
    assert not Dataset.objects.exists()


def test_unknown_content_encoding_is_415(send, project):
    _, spans = p.agent_trace()
    response = send(p.body(spans), content_encoding="br")
    assert response.status_code == 415
    truncated = gzip.compress(p.body(spans))[:-20]
    assert send(truncated, content_encoding="gzip").status_code == 400
    assert not Dataset.objects.exists()


def test_get_is_405(send, client, project):
    assert client.get(URL).status_code == 405


def test_no_key_bad_key_revoked_key_are_401(send, project, owner):
    _, spans = p.agent_trace()
    response = send(p.body(spans), key=None)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert send(p.body(spans), key="es_nope_nope").status_code == 401
    from django.utils import timezone

    from projects.models import ApiKey

    ApiKey.objects.filter(user=owner).update(revoked_at=timezone.now())
    assert send(p.body(spans)).status_code == 401
    assert not Dataset.objects.exists()


def test_a_viewer_gets_403_and_an_outsider_404(client, project, viewer, outsider, other_project):
    from projects.services import api_key_create

    _, spans = p.agent_trace()
    for user, status in ((viewer, 403), (outsider, 404)):
        _, raw = api_key_create(user=user, name="k")
        response = client.post(
            URL,
            data=p.body(spans, project="acme"),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {raw}",
        )
        assert response.status_code == status, response.content
    assert not Dataset.objects.filter(project=project).exists()


def test_another_projects_dataset_is_not_writable(send, project, other_project):
    """The owner of acme names project other (not a member): nothing is written anywhere."""
    _, mine = p.agent_trace()
    _, theirs = p.agent_trace()
    request = json.loads(p.body(mine))
    request["resourceSpans"] += json.loads(p.body(theirs, project="other"))["resourceSpans"]
    response = send(json.dumps(request).encode())
    assert response.status_code == 404
    assert "other" in response.json()["message"]
    assert not Dataset.objects.exists()


def test_project_by_header_when_the_user_has_several(send, project, owner):
    from projects.models import Membership, Project, Role

    second = Project.objects.create(name="Second", slug="second")
    Membership.objects.create(user=owner, project=second, role=Role.EDITOR)
    _, spans = p.agent_trace()
    response = send(p.body(spans))
    assert response.status_code == 400
    assert "several projects" in response.json()["message"]
    assert send(p.body(spans), x_evalsite_project="second").status_code == 200
    assert Dataset.objects.get().project == second


def test_a_span_sent_twice_is_stored_once_and_a_split_trace_is_one_item(send, project):
    tid, spans = p.agent_trace()
    assert send(p.body(spans[:2])).status_code == 200
    [first] = items()
    assert first["trace"]["span_count"] == 2
    assert first["output"] == "It ships today."  # the root came first
    assert send(p.body(spans[1:])).status_code == 200  # spans[1] again
    assert send(p.body(spans)).status_code == 200  # everything again
    [row] = items()
    assert row["trace_id"] == tid
    assert len(row["trace"]["spans"]) == 4
    assert len({s["span_id"] for s in row["trace"]["spans"]}) == 4
    assert DatasetVersion.objects.get().row_count == 1
    assert TraceItem.objects.get().span_count == 4


def test_children_before_the_root(send, project):
    tid, spans = p.agent_trace(question="Q?", answer="A.")
    assert send(p.body(spans[1:])).status_code == 200
    [row] = items()
    assert row["trace"]["root_span_id"] == ""
    assert row["input"] == "Q?"  # from the LLM span while the root is missing
    send(p.body(spans[:1]))
    [row] = items()
    assert row["trace"]["root_span_id"] == spans[0]["spanId"]
    assert row["trace"]["spans"][0]["name"] == "agent"


def test_evalsite_dataset_attribute_and_released_versions(send, project, owner):
    tid, spans = p.agent_trace()
    send(p.body(spans[:3], dataset="Checkout traces"))
    dataset = Dataset.objects.get(name="Checkout traces")
    draft = dataset.versions.get()
    dataset_services.version_release(version=draft, user=owner)
    assert draft.row_count == 1
    # a late span of a released trace, and a new trace: a new draft holding both
    tid2, more = p.agent_trace()
    send(p.body(spans[3:] + more, dataset="Checkout traces"))
    v2 = dataset.versions.get(number=2)
    assert v2.is_draft and v2.row_count == 2
    rows = {i.data["trace_id"]: i.data for i in DatasetItem.objects.filter(version=v2)}
    assert len(rows[tid]["trace"]["spans"]) == 4
    assert len(rows[tid2]["trace"]["spans"]) == 4
    released = DatasetItem.objects.get(version=draft).data
    assert len(released["trace"]["spans"]) == 3  # the release did not change


def test_invalid_ids_and_oversized_traces_are_partial_success(send, project, settings):
    settings.DATASET_MAX_ROW_BYTES = 6000
    tid, spans = p.agent_trace()
    bad = p.span("0" * 32, p.span_id(), "no trace id")
    big_tid = p.trace_id()
    big = p.span(big_tid, p.span_id(), "huge", input__value="x" * 10_000)
    response = send(p.body([*spans, bad, big]))
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert "no valid trace id" in partial["errorMessage"]
    assert "row limit" in partial["errorMessage"]
    assert [row["trace_id"] for row in items()] == [tid]


def test_nul_characters_and_non_finite_numbers_are_stored_safely(send, project):
    tid = p.trace_id()
    span = p.span(tid, p.span_id(), "odd\u0000name", input__value="a\u0000b")
    span["attributes"].append({"key": "score", "value": {"doubleValue": "NaN"}})
    assert send(p.body([span])).status_code == 200
    [row] = items()
    stored = row["trace"]["spans"][0]
    assert stored["name"] == "oddname" and row["input"] == "ab"
    assert stored["attributes"]["score"] == "nan"


def test_openinference_llm_messages_and_genai_events(send, project):
    tid = p.trace_id()
    llm = p.span(
        tid,
        p.span_id(),
        "llm",
        openinference__span__kind="LLM",
        llm__model_name="m-1",
        llm__token_count__prompt=10,
        llm__token_count__completion=4,
        **{
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "Be brief.",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.content": "Hi?",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "Hello.",
        },
    )
    evented = p.span(
        tid,
        p.span_id(),
        "chat",
        start=5,
        gen_ai__operation__name="chat",
        gen_ai__request__model="m-2",
    )
    evented["events"] = [
        {"name": "gen_ai.user.message", "attributes": [p.attr("content", "Ping?")]},
        {
            "name": "gen_ai.choice",
            "attributes": [
                p.attr("message", '{"role": "assistant", "content": "Pong."}'),
                p.attr("finish_reason", "stop"),
            ],
        },
        {"name": "note", "attributes": [p.attr("x", 1)]},
    ]
    assert send(p.body([llm, evented])).status_code == 200
    [row] = items()
    first, second = row["trace"]["spans"]
    assert first["input"]["messages"][1] == {"role": "user", "content": "Hi?"}
    assert first["output"]["text"] == "Hello."
    assert (first["model"], first["input_tokens"], first["output_tokens"]) == ("m-1", 10, 4)
    assert second["input"] == {"messages": [{"role": "user", "content": "Ping?"}]}
    assert second["output"]["messages"][0]["finish_reason"] == "stop"
    assert second["output"]["text"] == "Pong."
    assert [e["name"] for e in second["events"]] == ["note"]


def test_mutated_payloads_never_cause_a_server_error(send, project):
    """Random byte flips, cuts and splices of valid bodies: every answer is 200 or a 4xx."""
    import random

    rng = random.Random(17)
    _, spans = p.agent_trace()
    json_body = p.body(spans)
    proto_body = otlp.parse(json_body, otlp.JSON).SerializeToString()
    statuses = set()
    for n in range(150):
        original, kind = (
            (proto_body, "application/x-protobuf") if n % 2 else (json_body, "application/json")
        )
        data = bytearray(original)
        for _ in range(rng.randint(1, 6)):
            choice = rng.random()
            where = rng.randrange(len(data))
            if choice < 0.6:
                data[where] = rng.randrange(256)
            elif choice < 0.8:
                del data[where : where + rng.randint(1, 40)]
            else:
                data[where:where] = data[rng.randrange(len(data)) :][: rng.randint(1, 40)]
        response = send(bytes(data), content_type=kind)
        statuses.add(response.status_code)
        assert response.status_code == 200 or 400 <= response.status_code < 500, (
            n,
            response.status_code,
            response.content[:200],
        )
    assert 400 in statuses and 200 in statuses


def test_escaped_nul_and_lone_surrogates_inside_json_attributes(send, project):
    """JSON held in attributes is decoded; what it decodes to must still be storable."""
    tid = p.trace_id()
    span = p.span(
        tid,
        p.span_id(),
        "chat",
        gen_ai__operation__name="chat",
        gen_ai__input__messages='[{"role": "user", "content": "a\\u0000b"}]',
        gen_ai__output__messages='[{"role": "assistant", "content": "x\\ud800y"}]',
        input__value='{"q": "\\u0000"}',
        input__mime_type="application/json",
    )
    response = send(p.body([span]))
    assert response.status_code == 200, response.content
    [row] = items()
    [stored] = row["trace"]["spans"]
    assert stored["input"]["messages"][0]["content"] == "ab"
    assert stored["output"]["text"] == "x\ufffdy"


@pytest.mark.parametrize(
    "attributes",
    [
        {"input.value": "[" * 100_000 + "]" * 100_000},
        {"input.value": "[" * 950 + "]" * 950},
        {"input.value": "NaN", "input.mime_type": "application/json"},
        {"input.value": '{"x": Infinity}', "input.mime_type": "application/json"},
        {"llm.input_messages." + ".".join(["0"] * 5000): "deep"},
        {"gen_ai.input.messages": '[{"contents": [{"message_content": "flat"}]}, 7, "x"]'},
        {"retrieval.documents.0": "not an object", "retrieval.documents.1.document": 5},
        {"input.value": '{"n": 123456789012345678901234567890}'},
        {"input.value": '{"n": 1e400, "m": -1e999}'},
    ],
)
def test_odd_attribute_values_are_stored_not_500(send, project, attributes):
    tid = p.trace_id()
    span = p.span(tid, p.span_id(), "odd", gen_ai__operation__name="chat")
    span["attributes"] += [p.attr(key, value) for key, value in attributes.items()]
    response = send(p.body([span]))
    assert response.status_code == 200, response.content
    [row] = items()
    assert row["trace"]["spans"][0]["name"] == "odd"


def test_a_full_dataset_refuses_the_whole_group_and_counts_each_span_once(send, project, settings):
    settings.DATASET_MAX_ROWS = 1
    settings.DATASET_MAX_ROW_BYTES = 6000
    _, first = p.agent_trace()
    _, second = p.agent_trace()
    big = p.span(p.trace_id(), p.span_id(), "huge", input__value="x" * 10_000)
    response = send(p.body([*first, *second, big]))
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "9"
    assert "at most 1 rows" in partial["errorMessage"]
    assert not DatasetItem.objects.exists()


def test_the_path_with_a_trailing_slash_works_too(client, owner, project):
    from projects.services import api_key_create

    _, raw = api_key_create(user=owner, name="k")
    _, spans = p.agent_trace()
    response = client.post(
        URL + "/",
        data=p.body(spans),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 200
    assert len(items()) == 1
