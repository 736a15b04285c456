import threading
import time

from tests.workflows.conftest import http_config, run_many, run_once
from tests.workflows.fake_servers import FakeServer, Reply, echo_agent
from workflows.executors import build_executor


def test_it_maps_outputs_tokens_chunks_and_spans_from_the_response(make_workflow):
    with FakeServer(echo_agent(latency=0.05)) as server:
        version = make_workflow(config=http_config(server.url + "agent")).latest_version()
        result = run_once(version, {"question": "Where is it?"})
    assert result.error is None
    assert result.outputs == {"answer": "echo: Where is it?"}
    assert (result.input_tokens, result.output_tokens) == (7, 3)
    assert result.chunks == [{"text": "chunk text", "source_name": "doc.txt", "index_uuid": "i-1"}]
    assert result.spans[0]["type"] == "TRACE_SPAN_TYPE_LLM"
    assert result.spans[0]["created_at"]
    assert result.latency_ms > 0
    assert server.requests[0].path == "/agent"


def test_it_encodes_input_values_as_json_not_by_string_concatenation(make_workflow):
    config = http_config(
        "http://127.0.0.1:1/",
        body_template={"q": "{{question}}", "meta": {"text": "Q: {{question}}", "n": "{{n}}"}},
    )
    inputs = [{"name": "question", "required": True}, {"name": "n", "required": False}]
    with FakeServer(Reply.sequence([Reply(json={"answer": "ok"})])) as server:
        config["url"] = server.url
        version = make_workflow(config=config, inputs=inputs).latest_version()
        tricky = 'He said "hi"\n}, {"injected": true'
        result = run_once(version, {"question": tricky, "n": 3})
        body = server.requests[0].json
    assert result.error is None
    assert body == {"q": tricky, "meta": {"text": f"Q: {tricky}", "n": 3}}


def test_it_retries_5xx_then_succeeds(make_workflow):
    replies = [Reply(500, body="boom"), Reply(502, body="bad"), Reply(json={"answer": "ok"})]
    with FakeServer(Reply.sequence(replies)) as server:
        version = make_workflow(config=http_config(server.url, max_retries=3)).latest_version()
        result = run_once(version, {"question": "q"})
        attempts = len(server.requests)
    assert result.error is None
    assert result.outputs == {"answer": "ok"}
    assert attempts == 3


def test_it_honours_retry_after_on_429(make_workflow):
    replies = [Reply(429, json={"error": "slow down"}, headers={"Retry-After": "1"})]
    replies.append(Reply(json={"answer": "ok"}))
    with FakeServer(Reply.sequence(replies)) as server:
        version = make_workflow(config=http_config(server.url)).latest_version()
        result = run_once(version, {"question": "q"})
        gap = _arrival_gap(server)
    assert result.error is None
    assert len(server.requests) == 2
    # The second attempt waited for the server's Retry-After (not a speed assertion).
    assert gap >= 0.9


def _arrival_gap(server):
    stamps = [r.received_at for r in server.requests]
    return stamps[1] - stamps[0]


def test_it_gives_up_after_max_retries_with_the_last_problem(make_workflow):
    with FakeServer(Reply.sequence([Reply(503, body="down")])) as server:
        version = make_workflow(config=http_config(server.url, max_retries=1)).latest_version()
        result = run_once(version, {"question": "q"})
        attempts = len(server.requests)
    assert attempts == 2
    assert "after 2 attempts" in result.error
    assert "HTTP 503" in result.error


def test_it_does_not_retry_a_client_error(make_workflow):
    with FakeServer(Reply.sequence([Reply(400, json={"error": "bad question"})])) as server:
        version = make_workflow(config=http_config(server.url, max_retries=3)).latest_version()
        result = run_once(version, {"question": "q"})
        attempts = len(server.requests)
    assert attempts == 1
    assert result.error.startswith("HTTP 400")


def test_it_reports_malformed_json(make_workflow):
    with FakeServer(Reply.sequence([Reply(body="{not json")])) as server:
        version = make_workflow(config=http_config(server.url)).latest_version()
        result = run_once(version, {"question": "q"})
    assert "not valid JSON" in result.error
    assert result.raw == "{not json"


def test_it_reports_a_missing_output(make_workflow):
    with FakeServer(Reply.sequence([Reply(json={"text": "no answer key"})])) as server:
        version = make_workflow(config=http_config(server.url)).latest_version()
        result = run_once(version, {"question": "q"})
    assert "answer ($.answer)" in result.error


def test_it_times_out_and_retries(make_workflow):
    with FakeServer(Reply.sequence([Reply(json={"answer": "late"}, delay=2)])) as server:
        config = http_config(server.url, timeout_s=0.2, max_retries=1)
        version = make_workflow(config=config).latest_version()
        result = run_once(version, {"question": "q"})
        attempts = len(server.requests)
    assert attempts == 2
    assert "timed out after 0.2s" in result.error


def test_it_reports_a_refused_connection_without_raising(make_workflow):
    from tests.support.processes import free_port

    config = http_config(f"http://127.0.0.1:{free_port()}/", max_retries=0)
    version = make_workflow(config=config).latest_version()
    result = run_once(version, {"question": "q"})
    assert "connection failed" in result.error


def test_it_refuses_a_missing_required_input_without_calling(make_workflow):
    with FakeServer(echo_agent()) as server:
        version = make_workflow(config=http_config(server.url)).latest_version()
        result = run_once(version, {})
        assert server.requests == []
    assert result.error == "Missing required input: question."


def test_it_never_has_more_calls_in_flight_than_max_concurrency(make_workflow):
    lock, state = threading.Lock(), {"now": 0, "peak": 0}

    def handler(request):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return Reply(json={"answer": "ok"})

    with FakeServer(handler) as server:
        version = make_workflow(config=http_config(server.url, max_concurrency=3)).latest_version()
        results = run_many(version, [{"question": str(i)} for i in range(20)])
    assert all(r.error is None for r in results)
    assert state["peak"] <= 3


def test_one_executor_serves_several_event_loops(make_workflow):
    with FakeServer(echo_agent()) as server:
        version = make_workflow(config=http_config(server.url)).latest_version()
        executor = build_executor(version)
        first = run_once(version, {"question": "a"}, executor=executor)
        second = run_once(version, {"question": "b"}, executor=executor)
    assert (first.error, second.error) == (None, None)
