import json

import pytest

from projects.demo import seed_demo
from tests.workflows.conftest import run_once
from workflows.demo import HTTP_NAME, PYTHON_NAME
from workflows.models import Workflow


def test_the_demo_endpoint_answers_from_the_corpus(client):
    response = client.post(
        "/demo-agent/answer",
        json.dumps({"question": "How much does express shipping cost?"}),
        content_type="application/json",
    )
    assert response.status_code == 200
    body = response.json()
    assert "25 euros" in body["answer"]
    assert body["usage"]["input_tokens"] > 0
    assert body["chunks"][0]["index_uuid"]
    assert {s["type"] for s in body["spans"]} == {
        "TRACE_SPAN_TYPE_RETRIEVER",
        "TRACE_SPAN_TYPE_LLM",
    }


@pytest.mark.parametrize("payload", ["{bad", "[]", '{"question": ""}', '{"question": 3}'])
def test_the_demo_endpoint_rejects_bad_requests(client, payload):
    response = client.post("/demo-agent/answer", payload, content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.json()


def test_the_demo_seed_registers_both_agents_once(db):
    project, _ = seed_demo()
    seed_demo()
    names = sorted(Workflow.objects.filter(project=project).values_list("name", flat=True))
    assert names == sorted([HTTP_NAME, PYTHON_NAME])
    assert all(w.versions.count() == 1 for w in Workflow.objects.all())


@pytest.mark.django_db(transaction=True)
def test_the_demo_http_workflow_calls_the_app_itself(live_server, settings):
    settings.EVALSITE_PUBLIC_URL = live_server.url
    project, _ = seed_demo()
    workflow = Workflow.objects.get(project=project, name=HTTP_NAME)
    result = run_once(workflow.latest_version(), {"question": "Which Wi-Fi bands work?"})
    assert result.error is None, result.error
    assert "2.4 GHz" in result.outputs["answer"]
    assert result.input_tokens and result.chunks and len(result.spans) == 2


def test_the_demo_agent_takes_an_optional_context(client):
    passage = "The Acme Orbit ships with a blue charging dock."
    response = client.post(
        "/demo-agent/answer",
        json.dumps({"question": "What colour is the Orbit charging dock?", "context": passage}),
        content_type="application/json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["answer"] == passage
    assert body["chunks"][0]["source_name"] == "Provided context"
    bad = client.post(
        "/demo-agent/answer",
        json.dumps({"question": "Hi?", "context": 3}),
        content_type="application/json",
    )
    assert bad.status_code == 400


def test_the_demo_registrations_declare_context_optional(db):
    project, _ = seed_demo()
    for workflow in Workflow.objects.filter(project=project):
        inputs = {i["name"]: i for i in workflow.latest_version().inputs}
        assert inputs["question"]["required"] is True
        assert inputs["context"]["required"] is False


def test_an_older_demo_seed_gets_a_version_with_context(db):
    from workflows import demo as workflow_demo
    from workflows import services

    project, _ = seed_demo()
    workflow = Workflow.objects.get(project=project, name=PYTHON_NAME)
    user = project.memberships.get().user
    services.workflow_version_create(
        workflow=workflow,
        user=user,
        config=workflow.latest_version().config,
        inputs=[workflow_demo.INPUTS[0]],
        outputs=workflow_demo.OUTPUTS,
    )
    assert "context" not in workflow.latest_version().input_names()
    seed_demo()
    assert "context" in workflow.latest_version().input_names()
