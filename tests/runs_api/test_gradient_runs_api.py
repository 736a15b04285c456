"""``/v2/gen-ai/evaluation_runs``: the Gradient shapes the published SDK parses."""

from __future__ import annotations

import pytest

from runs import services
from runs.api.gradient_shapes import gradient_status
from runs.models import EvaluationRun, RunPhase, RunStatus
from tests.runs_api.conftest import exact_match_entry, execute

pytestmark = pytest.mark.django_db

RUN_FIELDS = {
    "agent_deleted",
    "agent_deployment_name",
    "agent_name",
    "agent_uuid",
    "agent_version_hash",
    "agent_workspace_uuid",
    "created_by_user_email",
    "created_by_user_id",
    "error_description",
    "evaluation_run_uuid",
    "evaluation_test_case_workspace_uuid",
    "finished_at",
    "pass_status",
    "queued_at",
    "run_level_metric_results",
    "run_name",
    "star_metric_result",
    "started_at",
    "status",
    "test_case_description",
    "test_case_name",
    "test_case_uuid",
    "test_case_version",
}
PROMPT_FIELDS = {
    "agent_name",
    "agent_uuid",
    "evaluation_trace_spans",
    "ground_truth",
    "input",
    "input_tokens",
    "output",
    "output_tokens",
    "prompt_chunks",
    "prompt_id",
    "prompt_level_metric_results",
    "trace_id",
}
RESULT_FIELDS = {
    "error_description",
    "metric_name",
    "metric_value_type",
    "number_value",
    "reasoning",
    "string_value",
}


def test_it_retrieves_a_run_with_every_api_evaluation_run_field(
    viewer_api, finished_run, agent, owner, project
):
    response = viewer_api.get(f"/v2/gen-ai/evaluation_runs/{finished_run.id}")
    assert response.status_code == 200
    run = response.json()["evaluation_run"]
    # Not from a test case: test_case_version has no value and is omitted (never null);
    # plus evalsite's documented extras (README, "Repetitions, caps, cost and the call cache").
    assert set(run) == (RUN_FIELDS - {"test_case_version"}) | {"repetitions", "usage"}
    assert None not in run.values()
    assert run["status"] == "EVALUATION_RUN_SUCCESSFUL"
    assert run["evaluation_run_uuid"] == str(finished_run.id)
    assert run["agent_uuid"] == str(agent.id) and run["agent_name"] == agent.name
    assert run["agent_version_hash"] == agent.latest_version().content_hash
    assert run["agent_deleted"] is False
    assert run["agent_workspace_uuid"] == str(project.id)
    assert run["evaluation_test_case_workspace_uuid"] == str(project.id)
    assert run["created_by_user_email"] == owner.email
    assert run["created_by_user_id"] == str(owner.pk)
    assert run["pass_status"] is True
    (result,) = run["run_level_metric_results"]
    # A number metric: string_value has no value and is omitted.
    assert set(result) == RESULT_FIELDS - {"string_value"}
    assert result["metric_name"] == "Exact match" and result["number_value"] == 1.0
    assert run["star_metric_result"] == result
    assert run["queued_at"].endswith("Z") and run["finished_at"]


@pytest.mark.parametrize(
    "status, phase, expected",
    [
        (RunStatus.PENDING, RunPhase.PLANNING, "EVALUATION_RUN_QUEUED"),
        (RunStatus.RUNNING, RunPhase.RUNNING_DATASET, "EVALUATION_RUN_RUNNING_DATASET"),
        (RunStatus.RUNNING, RunPhase.EVALUATING_RESULTS, "EVALUATION_RUN_EVALUATING_RESULTS"),
        (RunStatus.CANCELLING, RunPhase.RUNNING_DATASET, "EVALUATION_RUN_CANCELLING"),
        (RunStatus.CANCELED, RunPhase.FINISHED, "EVALUATION_RUN_CANCELLED"),
        (RunStatus.SUCCEEDED, RunPhase.FINISHED, "EVALUATION_RUN_SUCCESSFUL"),
        (
            RunStatus.PARTIALLY_SUCCEEDED,
            RunPhase.FINISHED,
            "EVALUATION_RUN_PARTIALLY_SUCCESSFUL",
        ),
        (RunStatus.FAILED, RunPhase.FINISHED, "EVALUATION_RUN_FAILED"),
    ],
)
def test_statuses_map_to_the_gradient_enum(status, phase, expected):
    assert gradient_status(EvaluationRun(status=status, phase=phase)) == expected


def test_results_pages_have_links_meta_and_prompts(api, finished_run):
    base = f"/v2/gen-ai/evaluation_runs/{finished_run.id}/results"
    response = api.get(f"{base}?page=2&per_page=2")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"evaluation_run", "links", "meta", "prompts"}
    assert body["meta"] == {"page": 2, "pages": 3, "total": 5}
    pages = body["links"]["pages"]
    assert pages["first"] == f"http://testserver{base}?page=1&per_page=2"
    assert pages["last"] == f"http://testserver{base}?page=3&per_page=2"
    assert pages["next"] == f"http://testserver{base}?page=3&per_page=2"
    assert pages["previous"] == f"http://testserver{base}?page=1&per_page=2"
    assert [p["prompt_id"] for p in body["prompts"]] == [3, 4]
    prompt = body["prompts"][0]
    assert set(prompt) - {"cost"} == PROMPT_FIELDS  # cost: an extra, omitted when unpriced
    assert prompt["input"] == "q2" and prompt["output"] == "echo: q2"
    assert prompt["ground_truth"] == "echo: q2"
    assert (prompt["input_tokens"], prompt["output_tokens"]) == ("7", "3")
    assert prompt["prompt_chunks"][0]["source_name"] == "doc.txt"
    assert prompt["prompt_chunks"][0]["text"] == "chunk text"
    (metric,) = prompt["prompt_level_metric_results"]
    assert metric["number_value"] == 1.0 and metric["metric_value_type"]
    (span,) = prompt["evaluation_trace_spans"]
    assert span["type"] == "TRACE_SPAN_TYPE_LLM"
    assert span["span_level_metric_results"] == []
    assert prompt["trace_id"]


def test_the_first_and_last_pages_leave_out_previous_and_next(api, finished_run):
    base = f"/v2/gen-ai/evaluation_runs/{finished_run.id}/results"
    first = api.get(f"{base}?per_page=5").json()
    assert first["meta"] == {"page": 1, "pages": 1, "total": 5}
    assert "next" not in first["links"]["pages"] and "previous" not in first["links"]["pages"]
    beyond = api.get(f"{base}?page=9&per_page=5").json()
    assert beyond["prompts"] == []


@pytest.mark.parametrize("query", ["page=0", "per_page=0", "page=x", "per_page=100000"])
def test_bad_paging_is_a_400(api, finished_run, query):
    response = api.get(f"/v2/gen-ai/evaluation_runs/{finished_run.id}/results?{query}")
    assert response.status_code == 400
    assert response.json()["message"]


def test_it_retrieves_one_prompt(api, finished_run):
    response = api.get(f"/v2/gen-ai/evaluation_runs/{finished_run.id}/results/1")
    assert response.status_code == 200
    prompt = response.json()["prompt"]
    assert set(prompt) - {"cost"} == PROMPT_FIELDS  # cost: an extra, omitted when unpriced
    assert prompt["prompt_id"] == 1 and prompt["input"] == "q0"


@pytest.mark.parametrize("prompt_id", ["0", "6", "abc", "-1"])
def test_an_unknown_prompt_is_a_404(api, finished_run, prompt_id):
    response = api.get(f"/v2/gen-ai/evaluation_runs/{finished_run.id}/results/{prompt_id}")
    assert response.status_code == 404


def test_a_dataset_only_run_reads_input_and_output_from_the_trace(
    api, project, owner, make_dataset
):
    from tests.runs_api.conftest import trace_rows

    version = make_dataset(trace_rows(3), name="Traces")
    entry = exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")
    run = execute(
        services.run_start(
            project=project,
            user=owner,
            name="traces",
            dataset_version_id=version.id,
            config=[entry],
        )
    )
    body = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}/results").json()
    assert body["evaluation_run"]["agent_uuid"] == ""
    prompt = body["prompts"][1]
    assert (prompt["input"], prompt["output"], prompt["trace_id"]) == ("q1", "a1", "t1")
    assert "input_tokens" not in prompt and "output_tokens" not in prompt
    assert "agent_uuid" not in prompt and "agent_name" not in prompt


def test_another_projects_run_is_a_404(outsider_api, finished_run):
    base = f"/v2/gen-ai/evaluation_runs/{finished_run.id}"
    for path in (base, f"{base}/results", f"{base}/results/1"):
        assert outsider_api.get(path).status_code == 404
    assert outsider_api.get("/v2/gen-ai/evaluation_runs/nope").status_code == 404


def test_a_pending_run_has_no_prompts_yet(api, pending_run):
    body = api.get(f"/v2/gen-ai/evaluation_runs/{pending_run.id}/results").json()
    assert body["evaluation_run"]["status"] == "EVALUATION_RUN_QUEUED"
    assert body["meta"]["total"] == 0 and body["prompts"] == []


def test_it_requires_an_api_key(anon_api, finished_run):
    assert anon_api.get(f"/v2/gen-ai/evaluation_runs/{finished_run.id}").status_code == 401
