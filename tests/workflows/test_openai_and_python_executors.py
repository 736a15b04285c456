import pytest
from django.core.exceptions import ValidationError

from tests.workflows.conftest import run_once
from tests.workflows.fake_servers import FakeServer, Reply, openai_chat


def _chat_config(base_url, **overrides):
    config = {
        "base_url": base_url,
        "model": "tiny-model",
        "api_key": {"secret": "sk-test-123"},
        "system_prompt": "You answer briefly.",
        "user_prompt": "Question: {{question}}",
        "temperature": 0,
        "max_tokens": 50,
    }
    config.update(overrides)
    return config


def test_openai_chat_sends_the_prompt_and_reads_usage(make_workflow):
    with FakeServer(openai_chat(content="You asked: {user}", prompt_tokens=12)) as server:
        workflow = make_workflow(kind="openai_chat", config=_chat_config(server.url + "v1"))
        result = run_once(workflow.latest_version(), {"question": "Why?"})
        request = server.requests[0]
    assert result.error is None
    assert result.outputs == {"answer": "You asked: Question: Why?"}
    assert (result.input_tokens, result.output_tokens) == (12, 2)
    assert result.spans[0]["type"] == "TRACE_SPAN_TYPE_LLM"
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-test-123"
    assert request.json["model"] == "tiny-model"
    assert request.json["messages"][0] == {"role": "system", "content": "You answer briefly."}
    assert request.json["max_tokens"] == 50


def test_openai_chat_reads_the_key_from_an_environment_variable(make_workflow, monkeypatch):
    monkeypatch.setenv("EVALSITE_SECRET_FAKE_LLM_KEY", "sk-from-env")
    with FakeServer(openai_chat()) as server:
        config = _chat_config(server.url + "v1", api_key={"env": "EVALSITE_SECRET_FAKE_LLM_KEY"})
        workflow = make_workflow(kind="openai_chat", config=config)
        ref = {"env": "EVALSITE_SECRET_FAKE_LLM_KEY"}
        assert workflow.latest_version().config["api_key"] == ref
        run_once(workflow.latest_version(), {"question": "x"})
        assert server.requests[0].headers["Authorization"] == "Bearer sk-from-env"


def test_openai_chat_reports_an_unexpected_response_shape(make_workflow):
    with FakeServer(Reply.sequence([Reply(json={"choices": []})])) as server:
        workflow = make_workflow(kind="openai_chat", config=_chat_config(server.url + "v1"))
        result = run_once(workflow.latest_version(), {"question": "x"})
    assert "choices[0].message.content" in result.error


def test_a_secret_echoed_by_the_server_is_masked_in_raw_and_errors(make_workflow):
    def leaky(request):
        return Reply(401, json={"error": "bad key " + request.headers["Authorization"]})

    with FakeServer(leaky) as server:
        workflow = make_workflow(kind="openai_chat", config=_chat_config(server.url + "v1"))
        result = run_once(workflow.latest_version(), {"question": "x"})
    assert "sk-test-123" not in result.error
    assert "********" in result.error


def test_python_workflow_runs_the_demo_agent(make_workflow):
    config = {"callable": "workflows.demo_agent.answer_question"}
    workflow = make_workflow(kind="python", config=config)
    result = run_once(workflow.latest_version(), {"question": "How heavy is the Scout?"})
    assert result.error is None
    assert "3.2 kilograms" in result.outputs["answer"]
    assert result.chunks[0]["source_name"] == "Scout vacuum robot specifications"
    assert [s["type"] for s in result.spans] == [
        "TRACE_SPAN_TYPE_RETRIEVER",
        "TRACE_SPAN_TYPE_LLM",
    ]
    assert result.input_tokens > result.output_tokens > 0


async def async_agent(question: str) -> dict:
    return {"answer": question.upper(), "input_tokens": 1, "output_tokens": 1}


def failing_agent(question: str) -> dict:
    raise RuntimeError("the agent broke")


def test_python_workflow_supports_async_callables(make_workflow, settings):
    settings.EVALSITE_PYTHON_WORKFLOWS = [f"{__name__}.async_agent"]
    workflow = make_workflow(kind="python", config={"callable": f"{__name__}.async_agent"})
    result = run_once(workflow.latest_version(), {"question": "hi"})
    assert result.outputs == {"answer": "HI"}


def test_python_workflow_reports_the_callables_exception(make_workflow, settings):
    settings.EVALSITE_PYTHON_WORKFLOWS = [f"{__name__}.failing_agent"]
    workflow = make_workflow(kind="python", config={"callable": f"{__name__}.failing_agent"})
    result = run_once(workflow.latest_version(), {"question": "hi"})
    assert result.error.endswith("raised RuntimeError: the agent broke")


def test_python_workflow_refuses_a_callable_outside_the_allow_list(make_workflow):
    with pytest.raises(ValidationError) as exc:
        make_workflow(kind="python", config={"callable": "os.system"})
    assert "allow-list" in exc.value.message_dict["callable"][0]
