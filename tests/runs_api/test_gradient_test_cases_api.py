"""``/v2/gen-ai/evaluation_test_cases`` and running them through ``/v2/gen-ai/evaluation_runs``."""

from __future__ import annotations

import uuid

import pytest

from runs.models import EvaluationRun, EvaluationTestCase
from tests.runs_api.conftest import builtin, execute

pytestmark = pytest.mark.django_db

CASE_FIELDS = {
    "archived_at",
    "created_at",
    "created_by_user_email",
    "created_by_user_id",
    "dataset",
    "dataset_name",
    "dataset_uuid",
    "description",
    "latest_version_number_of_runs",
    "metrics",
    "name",
    "star_metric",
    "test_case_uuid",
    "total_runs",
    "updated_at",
    "updated_by_user_email",
    "updated_by_user_id",
    "version",
    "workspace_uuid",
}


def create_case(client, qa_version, **extra):
    metric = builtin("exact_match")
    body = {
        "name": "Regression",
        "description": "Nightly set",
        "dataset_uuid": str(qa_version.dataset_id),
        "metrics": [str(metric.id)],
        "star_metric": {"metric_uuid": str(metric.id), "success_threshold": 0.8},
    }
    body.update(extra)
    return client.post("/v2/gen-ai/evaluation_test_cases", body, format="json")


def test_it_creates_and_retrieves_a_test_case(api, project, qa_version, owner):
    response = create_case(api, qa_version, workspace_uuid=str(project.id))
    assert response.status_code == 200, response.json()
    uuid = response.json()["test_case_uuid"]

    body = api.get(f"/v2/gen-ai/evaluation_test_cases/{uuid}").json()["evaluation_test_case"]
    # Never archived: archived_at has no value and is omitted, not null; run_options is an
    # evalsite extra (README).
    assert set(body) == (CASE_FIELDS - {"archived_at"}) | {"run_options"}
    assert None not in body.values()
    assert body["name"] == "Regression" and body["version"] == 1 and body["total_runs"] == 0
    assert body["dataset_uuid"] == str(qa_version.dataset_id)
    assert body["dataset"]["row_count"] == 5 and body["dataset"]["has_ground_truth"] is True
    assert body["metrics"][0]["metric_name"] == "Exact match"
    assert body["star_metric"] == {
        "metric_uuid": str(builtin("exact_match").id),
        "name": "Exact match",
        "success_threshold": 0.8,
        # success_threshold_pct: no value, omitted
    }
    assert body["workspace_uuid"] == str(project.id)
    assert body["created_by_user_email"] == owner.email


def test_it_lists_the_test_cases_a_user_can_see(api, outsider_api, qa_version):
    create_case(api, qa_version)
    listed = api.get("/v2/gen-ai/evaluation_test_cases").json()["evaluation_test_cases"]
    assert [case["name"] for case in listed] == ["Regression"]
    assert outsider_api.get("/v2/gen-ai/evaluation_test_cases").json() == {
        "evaluation_test_cases": []
    }


def test_update_makes_a_new_version_and_old_versions_stay_readable(api, qa_version):
    uuid = create_case(api, qa_version).json()["test_case_uuid"]
    f1 = builtin("squad_f1")
    response = api.put(
        f"/v2/gen-ai/evaluation_test_cases/{uuid}",
        {"name": "Regression v2", "metrics": {"metric_uuids": [str(f1.id)]}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json() == {"test_case_uuid": uuid, "version": 2}

    current = api.get(f"/v2/gen-ai/evaluation_test_cases/{uuid}").json()["evaluation_test_case"]
    assert current["name"] == "Regression v2" and current["version"] == 2
    assert {m["metric_name"] for m in current["metrics"]} == {"Token F1 (SQuAD)", "Exact match"}
    old = api.get(f"/v2/gen-ai/evaluation_test_cases/{uuid}?evaluation_test_case_version=1").json()[
        "evaluation_test_case"
    ]
    assert old["name"] == "Regression" and old["version"] == 1
    missing = api.get(f"/v2/gen-ai/evaluation_test_cases/{uuid}?evaluation_test_case_version=9")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "change, field",
    [
        ({"name": ""}, "name"),
        ({"dataset_uuid": "00000000-0000-0000-0000-000000000000"}, "dataset_uuid"),
        ({"dataset_uuid": "nope"}, "dataset_uuid"),
        ({"metrics": ["00000000-0000-0000-0000-000000000000"]}, "metrics"),
        ({"metrics": [], "star_metric": None}, "metrics"),
        ({"star_metric": {"metric_uuid": "x"}}, "star_metric"),
    ],
)
def test_bad_test_cases_are_a_400(api, qa_version, change, field):
    response = create_case(api, qa_version, **change)
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    assert not EvaluationTestCase.objects.exists()


def test_test_cases_respect_roles_and_projects(api, viewer_api, outsider_api, qa_version):
    assert create_case(viewer_api, qa_version).status_code == 403
    assert create_case(outsider_api, qa_version).status_code == 400
    uuid = create_case(api, qa_version).json()["test_case_uuid"]
    assert outsider_api.get(f"/v2/gen-ai/evaluation_test_cases/{uuid}").status_code == 404
    put = viewer_api.put(f"/v2/gen-ai/evaluation_test_cases/{uuid}", {"name": "x"}, format="json")
    assert put.status_code == 403


def test_running_a_test_case_starts_one_run_per_agent(
    api, project, qa_version, make_agent, agent_server
):
    first = make_agent(agent_server.url, name="Agent A")
    second = make_agent(agent_server.url, name="Agent B")
    uuid = create_case(api, qa_version).json()["test_case_uuid"]
    response = api.post(
        "/v2/gen-ai/evaluation_runs",
        {
            "test_case_uuid": uuid,
            "agent_uuids": [str(first.id)],
            "agent_deployment_names": ["Agent B"],
            "run_name": "nightly",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="nightly-1",
    )
    assert response.status_code == 200, response.json()
    run_ids = response.json()["evaluation_run_uuids"]
    assert len(run_ids) == 2
    runs = [EvaluationRun.objects.get(pk=run_id) for run_id in run_ids]
    assert [run.entries.get().workflow_version.workflow for run in runs] == [first, second]
    assert all(run.dataset_version_id == qa_version.id for run in runs)
    assert all(run.test_case_version == 1 for run in runs)

    for run in runs:
        execute(run)
    body = api.get(f"/v2/gen-ai/evaluation_runs/{run_ids[0]}").json()["evaluation_run"]
    assert body["test_case_uuid"] == uuid and body["test_case_name"] == "Regression"
    assert body["test_case_version"] == 1 and body["run_name"] == "nightly"
    assert body["status"] == "EVALUATION_RUN_SUCCESSFUL" and body["pass_status"] is True

    listed = api.get(f"/v2/gen-ai/evaluation_test_cases/{uuid}/evaluation_runs").json()
    assert {run["evaluation_run_uuid"] for run in listed["evaluation_runs"]} == set(run_ids)
    by_version = api.get(
        f"/v2/gen-ai/evaluation_test_cases/{uuid}/evaluation_runs?evaluation_test_case_version=2"
    ).json()
    assert by_version == {"evaluation_runs": []}
    case = api.get(f"/v2/gen-ai/evaluation_test_cases/{uuid}").json()["evaluation_test_case"]
    assert case["total_runs"] == 2 and case["latest_version_number_of_runs"] == 2

    again = api.post(
        "/v2/gen-ai/evaluation_runs",
        {
            "test_case_uuid": uuid,
            "agent_uuids": [str(first.id)],
            "agent_deployment_names": ["Agent B"],
            "run_name": "nightly",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="nightly-1",
    )
    assert again.json()["evaluation_run_uuids"] == run_ids


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "test_case_uuid"),
        ({"agent_uuids": []}, "agent_uuids"),
        ({"agent_uuids": ["00000000-0000-0000-0000-000000000000"]}, "agent_uuids"),
        ({"agent_deployment_names": ["nobody"]}, "agent_deployment_names"),
    ],
)
def test_bad_run_requests_are_a_400(api, qa_version, agent, body, field):
    uuid = create_case(api, qa_version).json()["test_case_uuid"]
    full = {"test_case_uuid": uuid, **body} if body else {}
    response = api.post("/v2/gen-ai/evaluation_runs", full, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    assert not EvaluationRun.objects.exists()


def test_running_needs_a_released_dataset_version(api, project, owner, agent, make_dataset):
    draft = make_dataset([{"question": "q", "ground_truth_answer": "a"}], release=False)
    uuid = create_case(api, draft).json()["test_case_uuid"]
    response = api.post(
        "/v2/gen-ai/evaluation_runs",
        {"test_case_uuid": uuid, "agent_uuids": [str(agent.id)]},
        format="json",
    )
    assert response.status_code == 409
    assert "released" in response.json()["message"]


def test_viewers_and_outsiders_cannot_run_test_cases(
    api, viewer_api, outsider_api, qa_version, agent
):
    uuid = create_case(api, qa_version).json()["test_case_uuid"]
    body = {"test_case_uuid": uuid, "agent_uuids": [str(agent.id)]}
    assert viewer_api.post("/v2/gen-ai/evaluation_runs", body, format="json").status_code == 403
    assert outsider_api.post("/v2/gen-ai/evaluation_runs", body, format="json").status_code == 400
    assert (
        outsider_api.get(f"/v2/gen-ai/evaluation_test_cases/{uuid}/evaluation_runs").status_code
        == 404
    )


def test_an_unknown_star_metric_is_reported_under_star_metric(api, project, qa_version):
    exact = builtin("exact_match")
    missing = str(uuid.uuid4())
    response = api.post(
        "/v2/gen-ai/evaluation_test_cases",
        {
            "name": "c",
            "dataset_uuid": str(qa_version.dataset_id),
            "metrics": [str(exact.id)],
            "star_metric": {"metric_uuid": missing, "success_threshold": 0.5},
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert list(body["errors"]) == ["star_metric"] and missing in body["message"]
    assert body["id"] == "bad_request"
    assert not EvaluationTestCase.objects.exists()


def test_test_cases_carry_run_options_into_their_runs(api, qa_version, make_agent, agent_server):
    agent = make_agent(agent_server.url, name="Agent A")
    bad = create_case(api, qa_version, run_options={"repetitions": 99})
    assert bad.status_code == 400
    assert "run_options.repetitions" in str(bad.json())
    options = {"repetitions": 3, "max_cost": 2.5, "cache_agent_calls": True}
    uuid = create_case(api, qa_version, run_options=options).json()["test_case_uuid"]
    body = api.get(f"/v2/gen-ai/evaluation_test_cases/{uuid}").json()["evaluation_test_case"]
    assert body["run_options"] == options
    response = api.post(
        "/v2/gen-ai/evaluation_runs",
        {"test_case_uuid": uuid, "agent_uuids": [str(agent.id)], "run_name": "with options"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    run = EvaluationRun.objects.get(pk=response.json()["evaluation_run_uuids"][0])
    assert (run.repetitions, run.max_cost, run.cache_agent_calls) == (3, 2.5, True)
    updated = api.put(
        f"/v2/gen-ai/evaluation_test_cases/{uuid}",
        {"run_options": {"max_agent_calls": 10}},
        format="json",
    )
    assert updated.status_code == 200 and updated.json()["version"] == 2
    body = api.get(f"/v2/gen-ai/evaluation_test_cases/{uuid}").json()["evaluation_test_case"]
    assert body["run_options"] == {"max_agent_calls": 10}
