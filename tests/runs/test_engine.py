"""The engine called directly (no cluster): plan, claim, drain, finish, cancel, rerun."""

from __future__ import annotations

import pytest

from runs import services
from runs.engine import claims, drainer, planning, sweeper
from runs.engine.finish import try_finish
from runs.models import MetricResult, RunStatus, RunTask, TaskStatus
from tests.runs.conftest import builtin, exact_match_entry, qa_rows, trace_rows
from tests.workflows.fake_servers import FakeServer, Reply, echo_agent

pytestmark = pytest.mark.django_db


def start(project, owner, version, config, **extra):
    return services.run_start(
        project=project,
        user=owner,
        name="run",
        dataset_version_id=version.id,
        config=config,
        **extra,
    )


def execute(run):
    planning.plan_run(run.id)
    drainer.drain_run(run.id)
    run.refresh_from_db()
    return run


def test_a_dataset_only_run_scores_every_row(project, owner, make_dataset):
    version = make_dataset(trace_rows(30))
    config = [exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")]
    run = start(project, owner, version, config)
    assert run.status == RunStatus.PENDING and run.mode == "dataset_only"

    run = execute(run)

    assert run.status == RunStatus.SUCCEEDED
    assert (run.total_tasks, run.succeeded_tasks, run.failed_tasks) == (30, 30, 0)
    values = list(MetricResult.objects.filter(run=run).values_list("number_value", flat=True))
    assert len(values) == 30 and sum(values) == 15
    (summary,) = run.summaries.values()
    assert summary["count"] == 30 and summary["mean"] == 0.5


def test_a_with_workflow_run_calls_the_agent_and_scores_its_answers(
    project, owner, make_dataset, make_agent
):
    version = make_dataset(qa_rows(20))
    with FakeServer(echo_agent()) as server:
        agent = make_agent(server.url)
        run = execute(start(project, owner, version, [exact_match_entry(agent)]))
        assert len(server.requests) == 20

    assert run.status == RunStatus.SUCCEEDED
    task = RunTask.objects.filter(run=run).order_by("position").first()
    assert task.outputs == {"answer": "echo: q0"}
    assert (task.input_tokens, task.output_tokens) == (7, 3)
    assert task.chunks[0]["source_name"] == "doc.txt"
    assert task.spans[0]["type"] == "TRACE_SPAN_TYPE_LLM"
    assert set(MetricResult.objects.filter(run=run).values_list("number_value", flat=True)) == {1.0}


def test_failed_rows_make_the_run_partial_and_rerun_fixes_them(
    project, owner, make_dataset, make_agent
):
    version = make_dataset(qa_rows(20))
    broken = {"on": True}

    def flaky(request):
        question = request.json["question"]
        if broken["on"] and question in ("q3", "q7"):
            return Reply(500, json={"error": "boom"})
        return echo_agent()(request)

    with FakeServer(flaky) as server:
        agent = make_agent(server.url)
        run = execute(start(project, owner, version, [exact_match_entry(agent)]))
        assert run.status == RunStatus.PARTIALLY_SUCCEEDED
        assert (run.succeeded_tasks, run.failed_tasks) == (18, 2)
        failed = RunTask.objects.get(run=run, position=3)
        assert failed.status == TaskStatus.FAILED and "500" in failed.error
        # Nothing was there to score: the failure is the task's, not a metric's.
        assert not MetricResult.objects.filter(task=failed).exists()
        assert run.error_description.startswith("2 of 20 agent calls failed: ")
        assert "HTTP 500" in run.error_description

        broken["on"] = False
        run = services.run_rerun(run=run)
        assert run.status == RunStatus.RUNNING and run.failed_tasks == 0
        drainer.drain_run(run.id)
        run.refresh_from_db()

    assert run.status == RunStatus.SUCCEEDED
    assert (run.succeeded_tasks, run.failed_tasks) == (20, 0)
    assert MetricResult.objects.filter(run=run).count() == 20
    assert not MetricResult.objects.filter(run=run).exclude(error_description="").exists()


def test_rerun_without_failed_tasks_changes_nothing(project, owner, make_dataset):
    from evalsite.errors import ConflictError

    version = make_dataset(trace_rows(5))
    config = [exact_match_entry(response="$.dataset.output", expected="$.dataset.output")]
    run = execute(start(project, owner, version, config))
    with pytest.raises(ConflictError, match="No failed tasks to rerun."):
        services.run_rerun(run=run)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_cancel_stops_claiming_and_cancels_the_rest(project, owner, make_dataset):
    version = make_dataset(trace_rows(40))
    config = [exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")]
    run = start(project, owner, version, config)
    planning.plan_run(run.id)
    owner_token = claims.new_lease_owner()
    in_flight = claims.claim_batch(run.id, owner=owner_token, limit=10, lease_seconds=60)

    run = services.run_cancel(run=run)
    assert run.status == RunStatus.CANCELLING  # ten rows are still in flight

    drainer.drain_run(run.id)  # a drainer arriving now claims nothing
    assert RunTask.objects.filter(run=run, status=TaskStatus.CLAIMED).count() == 10
    claims.release(in_flight, owner=owner_token)
    assert try_finish(run.id)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELED
    assert run.canceled_tasks == 40 and run.pass_status is None
    assert run.error_description == "Canceled after 0 of 40 rows had run."


def test_expired_leases_are_requeued_and_results_stay_unique(project, owner, make_dataset):
    version = make_dataset(trace_rows(12))
    config = [exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")]
    run = start(project, owner, version, config)
    planning.plan_run(run.id)
    dead = claims.new_lease_owner()
    claims.claim_batch(run.id, owner=dead, limit=5, lease_seconds=0)

    from django.utils import timezone

    done = sweeper.sweep(now=timezone.now() + timezone.timedelta(seconds=1))
    assert done["requeued"] == {run.id: 5}
    drainer.drain_run(run.id)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert MetricResult.objects.filter(run=run).count() == 12
    assert RunTask.objects.filter(run=run, attempts=2).count() == 5


def test_a_late_writer_whose_lease_was_taken_writes_nothing(project, owner, make_dataset):
    from metrics.scoring import MetricOutcome
    from runs.engine.writes import TaskOutcome, write_batch

    version = make_dataset(trace_rows(3))
    config = [exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")]
    run = start(project, owner, version, config)
    planning.plan_run(run.id)
    ids = claims.claim_batch(run.id, owner="first", limit=3, lease_seconds=60)
    RunTask.objects.filter(id__in=ids).update(status=TaskStatus.PENDING)
    claims.claim_batch(run.id, owner="second", limit=3, lease_seconds=60)
    binding = run.bindings.get()
    outcomes = [TaskOutcome(i, results=[(binding.id, MetricOutcome.number(1))]) for i in ids]
    assert write_batch(run.id, outcomes, owner="first") == (0, 0)
    assert MetricResult.objects.filter(run=run).count() == 0
    assert write_batch(run.id, outcomes, owner="second") == (3, 0)
    assert write_batch(run.id, outcomes, owner="second") == (0, 0)
    assert MetricResult.objects.filter(run=run).count() == 3


def test_planning_twice_creates_tasks_once(project, owner, make_dataset):
    version = make_dataset(trace_rows(7))
    config = [exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")]
    run = start(project, owner, version, config)
    assert planning.plan_run(run.id)
    assert not planning.plan_run(run.id)
    assert RunTask.objects.filter(run=run).count() == 7


def test_star_metric_decides_pass_status(project, owner, make_dataset):
    version = make_dataset(trace_rows(10))
    config = [exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")]
    metric = builtin("exact_match")
    passing = execute(
        start(
            project,
            owner,
            version,
            config,
            star_metric={"metric_id": str(metric.id), "threshold": 0.5},
        )
    )
    failing = execute(
        start(
            project,
            owner,
            version,
            config,
            star_metric={"metric_id": str(metric.id), "threshold": 0.6},
        )
    )
    assert passing.pass_status is True and failing.pass_status is False
    assert passing.summaries[str(passing.star_binding_id)]["is_star"] is True


@pytest.mark.django_db(transaction=True)  # a retry happens only outside any transaction
def test_a_cancel_whose_finish_is_a_deadlock_victim_retries_the_finish(
    project, owner, make_dataset, monkeypatch
):
    """PostgreSQL may pick the cancel's finishing transaction as a deadlock victim (a
    drainer holds rows): the finish is retried, the cancel answers with a canceled run."""
    from django.db import OperationalError

    from runs.engine import finish

    class Deadlock(Exception):
        sqlstate = "40P01"

    version = make_dataset(trace_rows(5))
    config = [exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")]
    run = start(project, owner, version, config)
    planning.plan_run(run.id)
    calls = []

    def finish_once_a_victim(run_id):
        calls.append(run_id)
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from Deadlock()
        return finish.try_finish(run_id)

    monkeypatch.setattr(services, "try_finish", finish_once_a_victim)
    run = services.run_cancel(run=run)
    assert len(calls) == 2
    assert run.status == RunStatus.CANCELED and run.canceled_tasks == 5
