"""Rerun is recovery, and cheap: the agent is called again only for rows whose agent call
failed; failed metric results are re-scored from the stored outputs without calling it."""

from __future__ import annotations

import pytest

from evalsite.errors import ConflictError
from metrics import services as metric_services
from runs import services
from runs.engine import drainer, planning
from runs.models import MetricResult, RunStatus, RunTask, TaskStatus
from tests.metrics.fake_openai import fake_openai_server
from tests.runs.conftest import builtin, qa_rows
from tests.support.processes import qcluster, wait_until
from tests.workflows.fake_servers import FakeServer, Reply, echo_agent

FINISHED = (
    RunStatus.SUCCEEDED,
    RunStatus.PARTIALLY_SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.CANCELED,
)


def make_judge(project, owner, url):
    return metric_services.metric_create(
        project=project,
        user=owner,
        name="Correctness judge",
        implementation="llm_judge",
        params={
            "preset": "correctness",
            "base_url": url,
            "model": "judge-1",
            "api_key": "sk-test-secret",
            "score_min": 1,
            "score_max": 5,
            "max_retries": 0,
            "timeout_s": 5,
        },
    )


def judge_entry(judge, response: str, expected: str) -> dict:
    return {
        "id": str(judge.id),
        "input_transformer": {
            "selector": {
                "question": "$.dataset.question",
                "expected": expected,
                "response": response,
            }
        },
    }


def f1_entry() -> dict:
    return {
        "id": str(builtin("squad_f1").id),
        "input_transformer": {
            "selector": {
                "response": "$.workflow.answer",
                "expected": "$.dataset.ground_truth_answer",
            }
        },
    }


def start(project, owner, version, config):
    return services.run_start(
        project=project, user=owner, name="run", dataset_version_id=version.id, config=config
    )


def wait_finished(run, cluster, *, timeout=90):
    def done():
        run.refresh_from_db()
        return run.status in FINISHED

    wait_until(done, timeout=timeout, message=f"run to finish\n{cluster.log()[-3000:]}")
    return run


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_rerun_recalls_only_failed_agent_calls_and_rescores_failed_metrics(
    project, owner, make_dataset, make_agent
):
    version = make_dataset(qa_rows(50))
    agent_down = {"on": True}

    def agent(request):
        n = int(request.json["question"][1:])
        if agent_down["on"] and n % 10 == 3:
            return Reply(500, json={"error": "boom"})
        return echo_agent()(request)

    with fake_openai_server() as judge_server, FakeServer(agent) as server:
        # The judge's first five calls fail (HTTP 500), then it answers.
        for _ in range(5):
            judge_server.reply("unavailable", status=500)
        judge_server.reply('{"score": 4, "reasoning": "fine"}')
        judge = make_judge(project, owner, judge_server.url)
        workflow = make_agent(server.url)
        config = [
            {
                "workflow": {
                    "id": str(workflow.id),
                    "input_transformer": {"selector": {"question": "$.dataset.question"}},
                },
                "metrics": [
                    f1_entry(),
                    judge_entry(judge, "$.workflow.answer", "$.dataset.ground_truth_answer"),
                ],
            }
        ]
        with qcluster() as cluster:
            run = wait_finished(start(project, owner, version, config), cluster)
            assert len(server.requests) == 50
            assert len(judge_server.requests) == 45  # the five failed agent calls: no judge
            assert run.status == RunStatus.PARTIALLY_SUCCEEDED
            assert (run.succeeded_tasks, run.failed_tasks, run.metric_errors) == (45, 5, 5)
            assert "5 of 50 agent calls failed" in run.error_description
            assert "Correctness judge could not score 5 of 45 rows" in run.error_description
            judged_badly = set(
                MetricResult.objects.filter(run=run)
                .exclude(error_description="")
                .values_list("task_id", flat=True)
            )
            assert len(judged_badly) == 5
            before = {
                t.id: (t.outputs, t.input_tokens, t.latency_ms)
                for t in RunTask.objects.filter(id__in=judged_badly)
            }

            agent_down["on"] = False
            run = services.run_rerun(run=run)
            assert run.status == RunStatus.RUNNING
            run = wait_finished(run, cluster)

        # Five agent calls again (the failed ones), none for the rows only re-scored.
        assert len(server.requests) == 55
        recalled = {int(r.json["question"][1:]) for r in server.requests[50:]}
        assert recalled == {3, 13, 23, 33, 43}
        # The judge: the five re-scored rows plus the five rows now answered.
        assert len(judge_server.requests) == 55

    assert run.status == RunStatus.SUCCEEDED and run.error_description == ""
    assert (run.succeeded_tasks, run.failed_tasks, run.metric_errors) == (50, 0, 0)
    assert MetricResult.objects.filter(run=run).count() == 100
    assert not MetricResult.objects.filter(run=run).exclude(error_description="").exists()
    # The re-scored rows kept the agent's stored answer, tokens and latency.
    after = {
        t.id: (t.outputs, t.input_tokens, t.latency_ms)
        for t in RunTask.objects.filter(id__in=judged_badly)
    }
    assert after == before
    assert not RunTask.objects.filter(run=run, rescore=True).exists()
    with pytest.raises(ConflictError, match="No failed tasks to rerun."):
        services.run_rerun(run=run)


@pytest.mark.django_db
def test_a_dataset_only_rerun_rescores_only_the_failed_results(project, owner, make_dataset):
    version = make_dataset(qa_rows(8))
    with fake_openai_server() as judge_server:
        for _ in range(3):
            judge_server.reply("unavailable", status=500)
        judge_server.reply('{"score": 5}')
        judge = make_judge(project, owner, judge_server.url)
        config = [
            {
                "workflow": None,
                "metrics": [
                    judge_entry(judge, "$.dataset.ground_truth_answer", "$.dataset.question")
                ],
            }
        ]
        run = start(project, owner, version, config)
        planning.plan_run(run.id)
        drainer.drain_run(run.id)
        run.refresh_from_db()
        assert run.status == RunStatus.PARTIALLY_SUCCEEDED
        assert (run.succeeded_tasks, run.metric_errors) == (8, 3)
        assert len(judge_server.requests) == 8

        services.run_rerun(run=run)
        assert RunTask.objects.filter(run=run, status=TaskStatus.PENDING).count() == 3
        drainer.drain_run(run.id)
        run.refresh_from_db()
        assert len(judge_server.requests) == 11

    assert run.status == RunStatus.SUCCEEDED
    assert set(MetricResult.objects.filter(run=run).values_list("number_value", flat=True)) == {5.0}


@pytest.mark.django_db
def test_rescoring_a_metric_that_still_cannot_compute_stays_partial(project, owner, make_dataset):
    """Synchronous metrics (the batch path): re-scored, still failing, nothing else moves."""
    rows = [{"answer": "5" if i == 0 else f"text {i}", "expected": "5"} for i in range(10)]
    version = make_dataset(rows)
    metric = builtin("numeric_closeness")
    config = [
        {
            "workflow": None,
            "metrics": [
                {
                    "id": str(metric.id),
                    "input_transformer": {
                        "selector": {
                            "response": "$.dataset.answer",
                            "expected": "$.dataset.expected",
                        }
                    },
                }
            ],
        }
    ]
    run = start(project, owner, version, config)
    planning.plan_run(run.id)
    drainer.drain_run(run.id)
    run.refresh_from_db()
    assert (run.status, run.metric_errors) == (RunStatus.PARTIALLY_SUCCEEDED, 9)
    good = MetricResult.objects.get(run=run, error_description="")

    services.run_rerun(run=run)
    assert set(
        RunTask.objects.filter(run=run, status=TaskStatus.PENDING).values_list(
            "position", flat=True
        )
    ) == set(range(1, 10))
    drainer.drain_run(run.id)
    run.refresh_from_db()

    assert (run.status, run.succeeded_tasks, run.metric_errors) == (
        RunStatus.PARTIALLY_SUCCEEDED,
        10,
        9,
    )
    assert MetricResult.objects.get(run=run, error_description="") == good
    assert run.error_description.startswith("Numeric closeness could not score 9 of 10 rows: ")
