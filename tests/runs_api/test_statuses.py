"""Run statuses in both dialects: ``/v1`` answers only seed 000's five values (the finer state
is ``status_detail``), ``/v2`` the full Gradient enum, including
``EVALUATION_RUN_EVALUATING_RESULTS`` while a with-workflow run scores after its agent calls,
and ``error_description`` for failed and partially successful runs."""

from __future__ import annotations

import pytest

from runs import services
from runs.api.dynamiq_serializers import SEED_STATUSES
from runs.engine import finish
from runs.models import EvaluationRun, RunStatus
from tests.runs_api.conftest import exact_match_entry, execute
from tests.workflows.fake_servers import FakeServer, Reply

pytestmark = pytest.mark.django_db


def failing_on(*questions: str):
    """An echo agent that answers 500 for the given questions."""

    def handler(request):
        question = (request.json or {}).get("question", "")
        if question in questions:
            return Reply(status=500, json={"error": "boom"})
        return Reply(json={"answer": f"echo: {question}"})

    return handler


def _start(project, owner, version, agent, name="run"):
    return services.run_start(
        project=project,
        user=owner,
        name=name,
        dataset_version_id=version.id,
        config=[exact_match_entry(agent)],
    )


@pytest.mark.parametrize("status", RunStatus.values)
def test_v1_status_only_takes_seed_values(api, pending_run, status):
    EvaluationRun.objects.filter(pk=pending_run.pk).update(status=status)
    body = api.get(f"/v1/evaluations/{pending_run.id}").json()
    assert body["status"] in SEED_STATUSES
    assert body["status_detail"] == status
    listed = api.get("/v1/evaluations", {"project_id": str(pending_run.project_id)}).json()
    assert {r["status"] for r in listed["data"]} <= set(SEED_STATUSES)


def test_cancelling_is_running_with_detail(api, pending_run):
    EvaluationRun.objects.filter(pk=pending_run.pk).update(status=RunStatus.CANCELLING)
    body = api.get(f"/v1/evaluations/{pending_run.id}").json()
    assert (body["status"], body["status_detail"]) == ("running", "cancelling")
    v2 = api.get(f"/v2/gen-ai/evaluation_runs/{pending_run.id}").json()["evaluation_run"]
    assert v2["status"] == "EVALUATION_RUN_CANCELLING"


def test_partially_succeeded_run_in_both_dialects(api, project, owner, make_dataset, make_agent):
    version = make_dataset(
        [{"question": f"q{i}", "ground_truth_answer": f"echo: q{i}"} for i in range(4)]
    )
    with FakeServer(failing_on("q1")) as server:
        run = execute(_start(project, owner, version, make_agent(server.url)))
    assert run.status == RunStatus.PARTIALLY_SUCCEEDED
    v1 = api.get(f"/v1/evaluations/{run.id}").json()
    assert (v1["status"], v1["status_detail"]) == ("succeeded", "partially_succeeded")
    v2 = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}").json()["evaluation_run"]
    assert v2["status"] == "EVALUATION_RUN_PARTIALLY_SUCCESSFUL"
    assert v2["error_description"], "the agent's error must be visible through /v2"


def test_failed_run_reports_its_reason_through_v2(api, project, owner, make_dataset, make_agent):
    version = make_dataset([{"question": "q0", "ground_truth_answer": "x"}])
    with FakeServer(failing_on("q0")) as server:
        run = execute(_start(project, owner, version, make_agent(server.url)))
    assert run.status == RunStatus.FAILED
    v1 = api.get(f"/v1/evaluations/{run.id}").json()
    assert (v1["status"], v1["status_detail"]) == ("failed", "failed")
    v2 = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}").json()["evaluation_run"]
    assert v2["status"] == "EVALUATION_RUN_FAILED"
    assert v2["error_description"]
    assert "\n" not in v2["error_description"]


def test_v1_status_filter_takes_seed_values(api, project, owner, make_dataset, make_agent):
    version = make_dataset(
        [{"question": f"q{i}", "ground_truth_answer": f"echo: q{i}"} for i in range(2)]
    )
    with FakeServer(failing_on("q1")) as server:
        partial = execute(_start(project, owner, version, make_agent(server.url)))
    listed = api.get("/v1/evaluations", {"project_id": str(project.id), "status": "succeeded"})
    assert [r["id"] for r in listed.json()["data"]] == [str(partial.id)]


def test_v2_reports_evaluating_results_after_the_agent_calls(
    api, project, owner, make_dataset, make_agent, monkeypatch
):
    """What a poller sees while the run scores after its last agent call (the run-level
    summaries): read through the API from inside that step, so no timing is involved."""
    version = make_dataset(
        [{"question": f"q{i}", "ground_truth_answer": f"echo: q{i}"} for i in range(3)]
    )
    seen: list[str] = []
    real = finish.compute_summaries

    def observed(run):
        body = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}").json()
        seen.append(body["evaluation_run"]["status"])
        return real(run)

    monkeypatch.setattr(finish, "compute_summaries", observed)
    with FakeServer(failing_on()) as server:
        run = _start(project, owner, version, make_agent(server.url))
        run = execute(run)
    assert run.status == RunStatus.SUCCEEDED
    assert seen and seen[0] == "EVALUATION_RUN_EVALUATING_RESULTS"
    after = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}").json()["evaluation_run"]
    assert after["status"] == "EVALUATION_RUN_SUCCESSFUL"


def test_bogus_status_is_a_400_naming_the_field(api, project, pending_run):
    response = api.get("/v1/evaluations", {"project_id": str(project.id), "status": "bogus"})
    assert response.status_code == 400
    assert "status" in response.json()["errors"]


def test_bogus_status_is_a_form_error_in_the_ui(web, project, pending_run):
    response = web.get(f"/projects/{project.id}/evaluations/", {"status": "bogus"})
    assert response.status_code == 200
    assert response.context["form"].errors["status"]
    assert b"bogus is not one of the available choices" in response.content
