import json
import logging

import pytest

from evalsite.errors import ConflictError
from tests.workflows.conftest import ANSWER_OUT, QUESTION_IN, http_config
from tests.workflows.fake_servers import FakeServer, echo_agent
from workflows.models import Workflow, WorkflowVersion

SECRET = "Bearer top-secret-value-42"


def _create_body(url="http://127.0.0.1:9/agent", **config):
    return {
        "name": "Support bot",
        "description": "answers",
        "kind": "http",
        "config": http_config(url, headers={"Authorization": {"secret": SECRET}}, **config),
        "inputs": QUESTION_IN,
        "outputs": ANSWER_OUT,
    }


def _create(api, project, **kwargs):
    response = api.post(
        f"/v1/workflows?project_id={project.id}", _create_body(**kwargs), format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def test_it_creates_and_lists_workflows_with_declared_inputs_and_outputs(api, project):
    created = _create(api, project)
    assert created["latest_version"]["number"] == 1
    assert created["latest_version"]["inputs"] == QUESTION_IN
    assert created["latest_version"]["outputs"] == ANSWER_OUT
    assert len(created["latest_version"]["content_hash"]) == 64
    listed = api.get(f"/v1/workflows?project_id={project.id}").json()["data"]
    assert [w["id"] for w in listed] == [created["id"]]


def test_it_never_returns_a_secret_value(api, project, caplog):
    caplog.set_level(logging.DEBUG)
    created = _create(api, project)
    wid, vid = created["id"], created["latest_version"]["id"]
    bodies = [
        json.dumps(created),
        api.get(f"/v1/workflows?project_id={project.id}").content.decode(),
        api.get(f"/v1/workflows/{wid}").content.decode(),
        api.get(f"/v1/workflows/{wid}/versions").content.decode(),
        api.get(f"/v1/workflows/{wid}/versions/{vid}").content.decode(),
    ]
    for body in bodies:
        assert "top-secret-value-42" not in body
    header = created["latest_version"]["config"]["headers"]["Authorization"]
    assert header == {"secret": True, "value": "********"}
    stored = WorkflowVersion.objects.get(pk=vid).config["headers"]["Authorization"]
    assert "top-secret" not in json.dumps(stored)
    assert "top-secret-value-42" not in caplog.text


def test_it_rejects_bad_configs_with_field_errors_and_creates_nothing(api, project):
    body = _create_body(url="http://169.254.169.254/")
    body["config"].update(
        {"method": "TRACE", "timeout_s": "soon", "output_paths": {"answer": "answer["}}
    )
    body["config"]["surprise"] = 1
    response = api.post(f"/v1/workflows?project_id={project.id}", body, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {"url", "method", "timeout_s", "output_paths", "surprise"} <= set(errors)
    assert "metadata" in errors["url"][0]
    assert not Workflow.objects.exists()


def test_it_rejects_a_placeholder_that_is_not_a_declared_input(api, project):
    body = _create_body(body_template={"q": "{{query}}"})
    response = api.post(f"/v1/workflows?project_id={project.id}", body, format="json")
    assert response.status_code == 400
    assert "{{query}} is not a declared input." in response.json()["errors"]["body_template"]


def test_project_id_is_required_and_scoped(api, outsider_api, viewer_api, project):
    assert api.get("/v1/workflows").status_code == 400
    assert api.get("/v1/workflows?project_id=nope").json()["errors"]["project_id"]
    assert outsider_api.get(f"/v1/workflows?project_id={project.id}").status_code == 404
    response = viewer_api.post(
        f"/v1/workflows?project_id={project.id}", _create_body(), format="json"
    )
    assert response.status_code == 403


def test_another_projects_workflow_is_not_found(api, outsider_api, project):
    created = _create(api, project)
    wid, vid = created["id"], created["latest_version"]["id"]
    assert outsider_api.get(f"/v1/workflows/{wid}").status_code == 404
    assert outsider_api.get(f"/v1/workflows/{wid}/versions/{vid}").status_code == 404
    assert outsider_api.delete(f"/v1/workflows/{wid}").status_code == 404


def test_a_changed_config_makes_a_new_version_and_keeps_the_secret(api, project):
    created = _create(api, project)
    wid = created["id"]
    config = http_config("http://127.0.0.1:9/agent", timeout_s=9)
    config["headers"] = {"Authorization": {"keep": True}}
    response = api.post(f"/v1/workflows/{wid}/versions", {"config": config}, format="json")
    assert response.status_code == 201
    v2 = response.json()
    assert v2["number"] == 2
    assert v2["inputs"] == QUESTION_IN
    assert v2["content_hash"] != created["latest_version"]["content_hash"]
    stored = WorkflowVersion.objects.get(pk=v2["id"]).config["headers"]["Authorization"]
    original = WorkflowVersion.objects.get(number=1).config["headers"]["Authorization"]
    assert stored == original
    again = api.post(f"/v1/workflows/{wid}/versions", {"config": config}, format="json")
    assert again.status_code == 200
    assert again.json()["id"] == v2["id"]
    versions = api.get(f"/v1/workflows/{wid}/versions").json()["data"]
    assert [v["number"] for v in versions] == [2, 1]


def test_the_content_hash_is_stable_for_the_same_content(api, project):
    first = _create(api, project)["latest_version"]["content_hash"]
    second = _create(api, project)["latest_version"]["content_hash"]
    assert first == second


def test_a_version_is_immutable(api, project):
    created = _create(api, project)
    version = WorkflowVersion.objects.get(pk=created["latest_version"]["id"])
    version.config = {"url": "http://example.com"}
    with pytest.raises(ConflictError):
        version.save()
    assert WorkflowVersion.objects.get(pk=version.pk).config["url"] != "http://example.com"


def test_delete_marks_the_workflow_deleted_and_keeps_its_versions(api, project):
    created = _create(api, project)
    wid = created["id"]
    response = api.delete(f"/v1/workflows/{wid}")
    assert response.status_code == 200
    assert response.json()["is_deleted"] is True
    assert api.get(f"/v1/workflows?project_id={project.id}").json()["data"] == []
    assert api.get(f"/v1/workflows/{wid}/versions").json()["data"]
    assert api.delete(f"/v1/workflows/{wid}").status_code == 409
    new = api.post(
        f"/v1/workflows/{wid}/versions",
        {"config": http_config("http://127.0.0.1:9/")},
        format="json",
    )
    assert new.status_code == 409


def test_try_runs_one_input_through_a_version(api, project):
    with FakeServer(echo_agent()) as server:
        created = _create(api, project, url=server.url)
        wid, vid = created["id"], created["latest_version"]["id"]
        response = api.post(
            f"/v1/workflows/{wid}/versions/{vid}/try", {"inputs": {"question": "hi"}}, format="json"
        )
        sent = server.requests[0].headers["Authorization"]
    assert response.status_code == 200
    body = response.json()
    assert body["outputs"] == {"answer": "echo: hi"}
    assert body["input_tokens"] == 7
    assert body["error"] is None
    assert sent == SECRET
    bad = api.post(
        f"/v1/workflows/{wid}/versions/{vid}/try", {"inputs": {"nope": 1}}, format="json"
    )
    assert bad.status_code == 400
    assert bad.json()["errors"]["inputs"]


def test_viewers_can_read_but_not_try_or_delete(api, viewer_api, project):
    created = _create(api, project)
    wid, vid = created["id"], created["latest_version"]["id"]
    assert viewer_api.get(f"/v1/workflows/{wid}").status_code == 200
    assert viewer_api.delete(f"/v1/workflows/{wid}").status_code == 403
    try_url = f"/v1/workflows/{wid}/versions/{vid}/try"
    assert viewer_api.post(try_url, {"inputs": {}}, format="json").status_code == 403


def test_anonymous_requests_are_refused(anon_api, project):
    assert anon_api.get(f"/v1/workflows?project_id={project.id}").status_code in (401, 403)
