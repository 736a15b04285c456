"""Both dialects against a live server (gunicorn) and a real ``qcluster``: the published
``gradient`` SDK drives a test case end to end, and every curl example of the Dynamiq
document (seed 000) is replayed with real ``curl`` as written, placeholders filled in."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from gradient import Gradient

from metrics import services as metric_services
from runs.models import EvaluationRun
from tests.runs_api.conftest import builtin, qa_rows
from tests.support.processes import qcluster, wait_until, web_server
from tests.workflows.fake_servers import FakeServer, echo_agent
from workflows import services as workflow_services

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CUSTOM_METRIC = "metrics.examples.keyword_coverage"
FINISHED = {
    "EVALUATION_RUN_SUCCESSFUL",
    "EVALUATION_RUN_PARTIALLY_SUCCESSFUL",
    "EVALUATION_RUN_FAILED",
    "EVALUATION_RUN_CANCELLED",
}


def test_the_gradient_sdk_runs_a_test_case_for_two_agents(api, project, make_dataset, make_agent):
    version = make_dataset(qa_rows(12))
    exact = builtin("exact_match")
    with FakeServer(echo_agent()) as server:
        first = make_agent(server.url, name="Agent A")
        second = make_agent(server.url, name="Agent B")
        with web_server() as base, qcluster() as cluster:
            client = Gradient(base_url=base, access_token=api.raw_key, max_retries=0)
            created = client.agents.evaluation_test_cases.create(
                name="Regression",
                description="Two agents, one test case",
                dataset_uuid=str(version.dataset_id),
                metrics=[str(exact.id)],
                star_metric={"metric_uuid": str(exact.id), "success_threshold": 0.9},
                workspace_uuid=str(project.id),
            )
            case_uuid = created.test_case_uuid
            listed = client.agents.evaluation_test_cases.list()
            assert [c.test_case_uuid for c in listed.evaluation_test_cases] == [case_uuid]

            runs = client.agents.evaluation_runs.create(
                test_case_uuid=case_uuid,
                agent_uuids=[str(first.id), str(second.id)],
                run_name="sdk run",
            )
            assert len(runs.evaluation_run_uuids) == 2

            def finished() -> bool:
                states = [
                    client.agents.evaluation_runs.retrieve(uuid).evaluation_run.status
                    for uuid in runs.evaluation_run_uuids
                ]
                return all(state in FINISHED for state in states)

            wait_until(finished, timeout=120, interval=0.5, message=cluster.log()[-2000:])

            for run_uuid in runs.evaluation_run_uuids:
                run = client.agents.evaluation_runs.retrieve(run_uuid).evaluation_run
                assert run.status == "EVALUATION_RUN_SUCCESSFUL"
                assert run.pass_status is True
                assert run.test_case_uuid == case_uuid and run.test_case_version == 1
                assert run.star_metric_result.number_value == 1.0

                prompt_ids, page = [], 1
                while True:
                    results = client.agents.evaluation_runs.list_results(
                        run_uuid, page=page, per_page=5
                    )
                    assert results.meta.total == 12 and results.meta.pages == 3
                    prompt_ids += [prompt.prompt_id for prompt in results.prompts]
                    if not results.links.pages.next:
                        break
                    page += 1
                assert prompt_ids == list(range(1, 13))

                one = client.agents.evaluation_runs.retrieve_results(
                    3, evaluation_run_uuid=run_uuid
                ).prompt
                assert one.prompt_id == 3 and one.input == "q2" and one.output == "echo: q2"
                assert one.input_tokens == "7" and one.prompt_chunks[0].source_name == "doc.txt"
                assert one.prompt_level_metric_results[0].number_value == 1.0
                assert one.evaluation_trace_spans[0].type == "TRACE_SPAN_TYPE_LLM"

            by_case = client.agents.evaluation_test_cases.list_evaluation_runs(case_uuid)
            assert {r.evaluation_run_uuid for r in by_case.evaluation_runs} == set(
                runs.evaluation_run_uuids
            )
            assert {r.agent_name for r in by_case.evaluation_runs} == {"Agent A", "Agent B"}

            updated = client.agents.evaluation_test_cases.update(
                case_uuid, name="Regression v2", metrics={"metric_uuids": [str(exact.id)]}
            )
            assert updated.version == 2
            case = client.agents.evaluation_test_cases.retrieve(case_uuid).evaluation_test_case
            assert case.name == "Regression v2" and case.total_runs == 2
            assert case.dataset.row_count == 12
            none_yet = client.agents.evaluation_test_cases.list_evaluation_runs(
                case_uuid, evaluation_test_case_version=2
            )
            assert none_yet.evaluation_runs == []
            metrics = client.agents.evaluation_metrics.list().metrics
            assert any(m.metric_uuid == str(exact.id) for m in metrics)


# --- seed 000, curl by curl -------------------------------------------------------------------

SEED_HOST = "https://api.getdynamiq.ai"
CREATE = """curl -X POST "https://api.getdynamiq.ai/v1/evaluations" \\
  -H "Authorization: Bearer $DYNAMIQ_ACCESS_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "name": "rag-v2-vs-regression-set",
    "project_id": "<your-project-id>",
    "dataset_id": "<dataset-id>",
    "dataset_version_id": "<released-version-id>",
    "config": [
      {
        "workflow": {
          "id": "<workflow-id>",
          "version_id": "<workflow-version-id>",
          "input_transformer": {
            "selector": {
              "question": "$.dataset.question",
              "context": "$.dataset.context"
            }
          }
        },
        "metrics": [
          {
            "id": "<metric-id>",
            "input_transformer": {
              "selector": {
                "questions": "$.dataset.question",
                "ground_truth_answers": "$.dataset.ground_truth_answer",
                "answers": "$.workflow.answer"
              }
            }
          }
        ]
      }
    ]
  }'"""
LIST = """curl "https://api.getdynamiq.ai/v1/evaluations?project_id=<your-project-id>" \\
  -H "Authorization: Bearer $DYNAMIQ_ACCESS_KEY\""""
GET = """curl "https://api.getdynamiq.ai/v1/evaluations/<evaluation-id>" \\
  -H "Authorization: Bearer $DYNAMIQ_ACCESS_KEY\""""
RESULTS = """curl "https://api.getdynamiq.ai/v1/evaluations/<evaluation-id>/results" \\
  -H "Authorization: Bearer $DYNAMIQ_ACCESS_KEY\""""
METRICS = """curl "https://api.getdynamiq.ai/v1/evaluations/<evaluation-id>/metrics" \\
  -H "Authorization: Bearer $DYNAMIQ_ACCESS_KEY\""""
DOWNLOAD = (
    'curl -OJ "https://api.getdynamiq.ai/v1/evaluations/<evaluation-id>/results/download" \\\n'
    '  -H "Authorization: Bearer $DYNAMIQ_ACCESS_KEY"'
)
RERUN = """curl -X POST "https://api.getdynamiq.ai/v1/evaluations/<evaluation-id>/rerun" \\
  -H "Authorization: Bearer $DYNAMIQ_ACCESS_KEY\""""
DELETE = """curl -X DELETE "https://api.getdynamiq.ai/v1/evaluations/<evaluation-id>" \\
  -H "Authorization: Bearer $DYNAMIQ_ACCESS_KEY\""""


def curl(command: str, *, base: str, key: str, fill: dict, cwd: Path) -> str:
    """Run one seed example through bash, as a reader would paste it."""
    command = command.replace(SEED_HOST, base)
    for placeholder, value in fill.items():
        command = command.replace(placeholder, value)
    env = {**os.environ, "DYNAMIQ_ACCESS_KEY": key}
    done = subprocess.run(
        ["bash", "-c", command + " --silent --show-error"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_every_seed_curl_example_works_as_written(
    api, project, owner, make_dataset, settings, tmp_path
):
    settings.EVALSITE_CUSTOM_METRICS = [CUSTOM_METRIC]
    rows = [
        {"question": f"q{i}", "context": f"c{i}", "ground_truth_answer": f"echo: q{i}"}
        for i in range(6)
    ]
    version = make_dataset(rows, name="regression-set")
    metric = metric_services.metric_create(
        project=project,
        user=owner,
        name="Answer keywords",
        implementation="custom_python",
        params={"path": CUSTOM_METRIC, "options": {"keywords": ["echo"]}},
        inputs=[
            {"name": "questions", "description": "", "required": True},
            {"name": "ground_truth_answers", "description": "", "required": True},
            {"name": "answers", "description": "", "required": True},
        ],
        value_type="METRIC_VALUE_TYPE_NUMBER",
        range_min=0,
        range_max=1,
    )
    with FakeServer(echo_agent()) as server:
        workflow = workflow_services.workflow_create(
            project=project,
            user=owner,
            name="rag-v2",
            kind="http",
            config={
                "url": server.url,
                "method": "POST",
                "body_template": {"question": "{{question}}", "context": "{{context}}"},
                "output_paths": {"answer": "$.answer"},
                "timeout_s": 5,
                "max_retries": 0,
            },
            inputs=[
                {"name": "question", "description": "", "required": True},
                {"name": "context", "description": "", "required": True},
            ],
            outputs=[{"name": "answer", "description": ""}],
        )
        fill = {
            "<your-project-id>": str(project.id),
            "<dataset-id>": str(version.dataset_id),
            "<released-version-id>": str(version.id),
            "<workflow-id>": str(workflow.id),
            "<workflow-version-id>": str(workflow.latest_version().id),
            "<metric-id>": str(metric.id),
        }
        env = {"EVALSITE_CUSTOM_METRICS": CUSTOM_METRIC}
        with web_server(**env) as base, qcluster(**env) as cluster:
            key = api.raw_key
            run = json.loads(curl(CREATE, base=base, key=key, fill=fill, cwd=tmp_path))
            assert run["name"] == "rag-v2-vs-regression-set" and run["status"] == "pending"
            fill["<evaluation-id>"] = run["id"]

            listed = json.loads(curl(LIST, base=base, key=key, fill=fill, cwd=tmp_path))
            assert [r["id"] for r in listed["data"]] == [run["id"]]

            def finished() -> bool:
                got = json.loads(curl(GET, base=base, key=key, fill=fill, cwd=tmp_path))
                return got["status"] in ("succeeded", "failed", "canceled")

            wait_until(finished, timeout=120, interval=0.5, message=cluster.log()[-2000:])
            got = json.loads(curl(GET, base=base, key=key, fill=fill, cwd=tmp_path))
            assert got["status"] == "succeeded" and got["progress"]["done"] == 6

            results = json.loads(curl(RESULTS, base=base, key=key, fill=fill, cwd=tmp_path))
            assert len(results["data"]) == 6 and results["pagination"]["has_more"] is False
            scored = results["data"][0]["metrics"][0]
            assert scored["number_value"] is not None and scored["error_description"] == ""

            metrics = json.loads(curl(METRICS, base=base, key=key, fill=fill, cwd=tmp_path))
            assert metrics["data"][0]["metric_name"] == "Answer keywords"
            assert metrics["data"][0]["count"] == 6 and metrics["data"][0]["errors"] == 0

            curl(DOWNLOAD, base=base, key=key, fill=fill, cwd=tmp_path)
            saved = tmp_path / "rag-v2-vs-regression-set-results.json"
            assert saved.exists(), list(tmp_path.iterdir())
            downloaded = json.loads(saved.read_text())
            assert downloaded["id"] == run["id"] and len(downloaded["results"]) == 6

            rerun = json.loads(curl(RERUN, base=base, key=key, fill=fill, cwd=tmp_path))
            assert rerun["message"] == "No failed tasks to rerun."

            assert curl(DELETE, base=base, key=key, fill=fill, cwd=tmp_path) == ""
            assert not EvaluationRun.objects.filter(pk=run["id"]).exists()


SEED_STATUSES = {"pending", "running", "succeeded", "failed", "canceled"}


def test_seed_000s_curl_sequence_works_literally_against_the_demo(tmp_path):
    """Seed 000's create body as written, against the seeded demo: the demo agent takes the
    optional ``context`` and "Answer correctness" takes questions, ground_truth_answers and
    answers. Only the host and the ids are changed."""
    from datasets.demo import QA_NAME
    from datasets.models import Dataset
    from projects.demo import seed_demo
    from projects.services import api_key_create
    from workflows.demo import PYTHON_NAME
    from workflows.models import Workflow

    project, _ = seed_demo()
    user = project.memberships.get().user
    _, key = api_key_create(user=user, name="seed 000")
    dataset = Dataset.objects.get(project=project, name=QA_NAME)
    version = dataset.versions.get(number=1)
    workflow = Workflow.objects.get(project=project, name=PYTHON_NAME)
    metric = builtin("answer_correctness")
    fill = {
        "<your-project-id>": str(project.id),
        "<dataset-id>": str(dataset.id),
        "<released-version-id>": str(version.id),
        "<workflow-id>": str(workflow.id),
        "<workflow-version-id>": str(workflow.latest_version().id),
        "<metric-id>": str(metric.id),
    }
    with web_server() as base, qcluster() as cluster:
        run = json.loads(curl(CREATE, base=base, key=key, fill=fill, cwd=tmp_path))
        assert run.get("status") == "pending", run
        fill["<evaluation-id>"] = run["id"]
        listed = json.loads(curl(LIST, base=base, key=key, fill=fill, cwd=tmp_path))
        assert run["id"] in [r["id"] for r in listed["data"]]
        assert {r["status"] for r in listed["data"]} <= SEED_STATUSES

        def finished() -> bool:
            got = json.loads(curl(GET, base=base, key=key, fill=fill, cwd=tmp_path))
            assert got["status"] in SEED_STATUSES, got["status"]
            return got["status"] in ("succeeded", "failed", "canceled")

        wait_until(finished, timeout=180, interval=0.5, message=cluster.log()[-2000:])
        got = json.loads(curl(GET, base=base, key=key, fill=fill, cwd=tmp_path))
        assert got["status"] == "succeeded" and got["status_detail"] == "succeeded"
        assert got["progress"]["done"] == version.row_count

        results = json.loads(curl(RESULTS, base=base, key=key, fill=fill, cwd=tmp_path))
        scored = results["data"][0]["metrics"][0]
        assert scored["error_description"] == "" and 0 <= scored["number_value"] <= 1
        metrics = json.loads(curl(METRICS, base=base, key=key, fill=fill, cwd=tmp_path))
        (summary,) = metrics["data"]
        assert summary["metric_name"] == "Answer correctness" and summary["errors"] == 0
        assert summary["count"] == version.row_count and summary["mean"] > 0.5

        curl(DOWNLOAD, base=base, key=key, fill=fill, cwd=tmp_path)
        saved = tmp_path / "rag-v2-vs-regression-set-results.json"
        assert saved.exists(), list(tmp_path.iterdir())
        assert len(json.loads(saved.read_text())["results"]) == version.row_count

        rerun = json.loads(curl(RERUN, base=base, key=key, fill=fill, cwd=tmp_path))
        assert rerun["message"] == "No failed tasks to rerun."
        assert curl(DELETE, base=base, key=key, fill=fill, cwd=tmp_path) == ""
        assert not EvaluationRun.objects.filter(pk=run["id"]).exists()
