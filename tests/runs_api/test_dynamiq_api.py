"""``/v1/evaluations`` contract: paths, fields, enums, pagination, status codes and errors."""

from __future__ import annotations

import json
import uuid

import pytest

from runs.models import EvaluationRun, RunStatus
from tests.runs_api.conftest import builtin, exact_match_entry

pytestmark = pytest.mark.django_db

RUN_FIELDS = {
    "id",
    "name",
    "project_id",
    "dataset_id",
    "dataset_version_id",
    "dataset_version",
    "mode",
    "status",
    "status_detail",
    "phase",
    "pass_status",
    "star_metric",
    "started_by",
    "queued_at",
    "started_at",
    "finished_at",
    "error_description",
    "progress",
    "config",
    "test_case_id",
    "test_case_version",
    "repetitions",
    "caps",
    "usage",
}


def create_body(project, version, agent, **extra) -> dict:
    body = {
        "name": "rag-v2-vs-regression-set",
        "project_id": str(project.id),
        "dataset_id": str(version.dataset_id),
        "dataset_version_id": str(version.id),
        "config": [exact_match_entry(agent)],
    }
    body.update(extra)
    return body


def test_it_starts_a_run_and_answers_201_with_the_pinned_config(api, project, qa_version, agent):
    response = api.post("/v1/evaluations", create_body(project, qa_version, agent), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == RUN_FIELDS
    assert body["status"] == "pending" and body["mode"] == "with_workflow"
    assert body["dataset_id"] == str(qa_version.dataset_id)
    workflow = body["config"][0]["workflow"]
    assert workflow["id"] == str(agent.id) and workflow["version_id"]
    assert body["config"][0]["metrics"][0]["version_id"]
    assert body["started_by"]["username"] == "owner"
    assert EvaluationRun.objects.filter(pk=body["id"], project=project).exists()


def test_it_starts_a_dataset_only_run_when_workflow_is_omitted(api, project, make_dataset):
    from tests.runs_api.conftest import trace_rows

    version = make_dataset(trace_rows(4), name="Traces")
    entry = exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")
    entry.pop("workflow")
    body = {
        "name": "traces",
        "project_id": str(project.id),
        "dataset_version_id": str(version.id),
        "config": [entry],
    }
    response = api.post("/v1/evaluations", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["mode"] == "dataset_only"


def test_an_idempotency_key_returns_the_first_run(api, project, qa_version, agent):
    body = create_body(project, qa_version, agent)
    first = api.post("/v1/evaluations", body, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    second = api.post("/v1/evaluations", body, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    assert first.status_code == 201 and second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert EvaluationRun.objects.count() == 1


def test_a_bad_selector_is_a_400_naming_the_field_and_changes_nothing(
    api, project, qa_version, agent
):
    body = create_body(project, qa_version, agent)
    body["config"][0]["workflow"]["input_transformer"]["selector"]["question"] = "$.dataset.nope"
    response = api.post("/v1/evaluations", body, format="json")

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "config[0].workflow.input_transformer.selector.question" in errors
    assert response.json()["message"]
    assert EvaluationRun.objects.count() == 0


@pytest.mark.parametrize(
    "change, field",
    [
        ({"project_id": None}, "project_id"),
        ({"project_id": "not-a-uuid"}, "project_id"),
        ({"name": ""}, "name"),
        ({"dataset_version_id": "x"}, "dataset_version_id"),
        ({"config": []}, "config"),
        ({"config": "nope"}, "config"),
        ({"config": [{"workflow": 5, "metrics": "x"}]}, "config[0].workflow"),
        ({"star_metric": {"metric_id": str(uuid.uuid4())}}, "star_metric.metric_id"),
    ],
)
def test_bad_input_is_a_400_with_field_errors(api, project, qa_version, agent, change, field):
    body = create_body(project, qa_version, agent)
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = api.post("/v1/evaluations", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert EvaluationRun.objects.count() == 0


def test_a_version_of_another_dataset_is_refused(api, project, qa_version, agent, make_dataset):
    other = make_dataset([{"question": "x", "ground_truth_answer": "y"}], name="Other")
    body = create_body(project, qa_version, agent, dataset_id=str(other.dataset_id))
    response = api.post("/v1/evaluations", body, format="json")
    assert response.status_code == 400
    assert "dataset_version_id" in response.json()["errors"]


def test_malformed_json_is_a_400(api):
    response = api.post("/v1/evaluations", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"]


def test_a_viewer_cannot_start_runs(viewer_api, project, qa_version, agent):
    response = viewer_api.post(
        "/v1/evaluations", create_body(project, qa_version, agent), format="json"
    )
    assert response.status_code == 403
    assert EvaluationRun.objects.count() == 0


def test_an_outsider_gets_404_for_the_project(outsider_api, project, qa_version, agent):
    response = outsider_api.post(
        "/v1/evaluations", create_body(project, qa_version, agent), format="json"
    )
    assert response.status_code == 404


def test_it_requires_an_api_key(anon_api, project, finished_run):
    for path in (
        f"/v1/evaluations?project_id={project.id}",
        f"/v1/evaluations/{finished_run.id}",
        f"/v1/evaluations/{finished_run.id}/results",
    ):
        response = anon_api.get(path)
        assert response.status_code == 401
        assert response.json()["message"]


def test_it_lists_a_projects_runs(api, viewer_api, project, finished_run, pending_run):
    response = viewer_api.get(f"/v1/evaluations?project_id={project.id}")
    assert response.status_code == 200
    data = response.json()["data"]
    assert [run["id"] for run in data] == [str(pending_run.id), str(finished_run.id)]
    assert all(set(run) == RUN_FIELDS for run in data)
    only = api.get(f"/v1/evaluations?project_id={project.id}&status=succeeded").json()["data"]
    assert [run["id"] for run in only] == [str(finished_run.id)]


def test_listing_needs_a_project_id(api):
    response = api.get("/v1/evaluations")
    assert response.status_code == 400
    assert response.json()["errors"] == {"project_id": ["This field is required."]}


def test_it_gets_one_run_with_progress_and_star_metric(viewer_api, finished_run):
    response = viewer_api.get(f"/v1/evaluations/{finished_run.id}")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == RunStatus.SUCCEEDED and body["phase"] == "finished"
    assert body["progress"] == {
        "total": 5,
        "succeeded": 5,
        "failed": 0,
        "canceled": 0,
        "done": 5,
        "fraction": 1.0,
    }
    assert body["star_metric"] == {"metric_id": str(builtin("exact_match").id), "threshold": 0.5}
    assert body["pass_status"] is True


def test_another_projects_run_is_not_found(outsider_api, finished_run):
    base = f"/v1/evaluations/{finished_run.id}"
    assert outsider_api.get(base).status_code == 404
    assert outsider_api.get(f"{base}/results").status_code == 404
    assert outsider_api.get(f"{base}/metrics").status_code == 404
    assert outsider_api.get(f"{base}/results/download").status_code == 404
    assert outsider_api.post(f"{base}/rerun").status_code == 404
    assert outsider_api.delete(base).status_code == 404
    assert EvaluationRun.objects.filter(pk=finished_run.pk).exists()


def test_a_malformed_id_is_a_404(api):
    response = api.get("/v1/evaluations/not-a-uuid")
    assert response.status_code == 404
    assert response.json()["message"]


def test_results_are_paginated_with_a_cursor(api, finished_run):
    seen, cursor = [], None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = api.get(f"/v1/evaluations/{finished_run.id}/results?{query}")
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"data", "pagination"}
        assert set(body["pagination"]) == {"limit", "next_cursor", "has_more"}
        seen += body["data"]
        cursor = body["pagination"]["next_cursor"]
        assert body["pagination"]["has_more"] is (cursor is not None)
        if not cursor:
            break
    assert [row["position"] for row in seen] == [0, 1, 2, 3, 4]
    row = seen[0]
    assert row["data"]["question"] == "q0"
    assert row["tasks"][0]["outputs"] == {"answer": "echo: q0"}
    assert row["metrics"][0]["metric_name"] == "Exact match"
    assert row["metrics"][0]["number_value"] == 1.0


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "cursor=%%%", "sort=nope"])
def test_bad_result_parameters_are_a_400(api, finished_run, query):
    response = api.get(f"/v1/evaluations/{finished_run.id}/results?{query}")
    assert response.status_code == 400
    assert response.json()["message"]


def test_metric_summaries(api, finished_run):
    response = api.get(f"/v1/evaluations/{finished_run.id}/metrics")
    assert response.status_code == 200
    (summary,) = response.json()["data"]
    assert summary["metric_name"] == "Exact match"
    assert summary["mean"] == 1.0 and summary["count"] == 5 and summary["errors"] == 0
    assert summary["is_star"] is True


def test_download_is_a_json_attachment(api, finished_run):
    response = api.get(f"/v1/evaluations/{finished_run.id}/results/download")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == 'attachment; filename="finished-results.json"'
    body = json.loads(b"".join(response.streaming_content))
    assert body["id"] == str(finished_run.id)
    assert len(body["results"]) == 5


def test_download_is_refused_while_the_run_is_in_progress(api, pending_run):
    response = api.get(f"/v1/evaluations/{pending_run.id}/results/download")
    assert response.status_code == 409
    assert "in progress" in response.json()["message"]


def test_rerun_with_nothing_failed_is_a_409(api, finished_run):
    response = api.post(f"/v1/evaluations/{finished_run.id}/rerun")
    assert response.status_code == 409
    assert response.json()["message"] == "No failed tasks to rerun."


def test_rerun_with_bad_caps_is_a_400_with_field_errors(api, finished_run):
    body = {"max_agent_calls": "lots", "max_cost": -1, "max_tokens": 1.5}
    response = api.post(f"/v1/evaluations/{finished_run.id}/rerun", body, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"max_agent_calls", "max_cost", "max_tokens"}
    finished_run.refresh_from_db()
    assert finished_run.max_agent_calls is None and finished_run.max_cost is None


def test_a_viewer_cannot_rerun_cancel_or_delete(viewer_api, finished_run):
    base = f"/v1/evaluations/{finished_run.id}"
    assert viewer_api.post(f"{base}/rerun").status_code == 403
    assert viewer_api.post(f"{base}/cancel").status_code == 403
    assert viewer_api.delete(base).status_code == 403


def test_cancel_a_pending_run(editor_api, pending_run):
    response = editor_api.post(f"/v1/evaluations/{pending_run.id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    again = editor_api.post(f"/v1/evaluations/{pending_run.id}/cancel")
    assert again.status_code == 409


def test_delete_removes_the_run(editor_api, finished_run):
    response = editor_api.delete(f"/v1/evaluations/{finished_run.id}")
    assert response.status_code == 204
    assert editor_api.get(f"/v1/evaluations/{finished_run.id}").status_code == 404
