"""A finished run raises its events: ``run.finished`` (or ``run.failed``), and
``run.regressed`` when a test case's star metric is significantly worse than the previous
passing run of that test case. Runs are executed in-process by the engine; the signal from
``try_finish`` queues the events task once the transaction commits."""

from __future__ import annotations

import pytest
from django.db import DatabaseError
from django_q.models import OrmQ

from runs import test_cases
from runs.engine import planning
from runs.models import RunStatus
from tests.runs.conftest import builtin, qa_rows
from tests.runs_api.conftest import execute
from tests.support.controlled_agent import ControlledAgent, questions
from tests.workflows.fake_servers import FakeServer, Reply
from webhooks.models import Event, WebhookDelivery
from webhooks.tasks import webhook_deliver, webhook_run_events

pytestmark = pytest.mark.django_db

ROWS = 30
EVENTS_TASK = "webhooks.tasks.webhook_run_events"


@pytest.fixture
def setup(project, owner, make_dataset, make_agent, make_endpoint):
    agent = ControlledAgent()
    with FakeServer(agent) as agent_server, FakeServer(Reply.sequence([Reply(200)])) as receiver:
        version = make_dataset(qa_rows(ROWS))
        workflow = make_agent(agent_server.url)
        metric = builtin("exact_match")
        case = test_cases.test_case_create(
            project=project,
            user=owner,
            name="Support regression",
            dataset=version.dataset,
            metrics=[str(metric.id)],
            star_metric={"metric_uuid": str(metric.id), "success_threshold": 0.3},
        )
        endpoint, secret = make_endpoint(receiver.url)
        agent.case, agent.workflow, agent.receiver = case, workflow, receiver
        yield agent


def events_tasks() -> int:
    return sum(1 for q in OrmQ.objects.all() if q.task["func"] == EVENTS_TASK)


def run_case(setup, owner, django_capture_on_commit_callbacks, *, wrong=(), broken=()):
    setup.wrong = questions(wrong)
    setup.broken = questions(broken)
    [run] = test_cases.test_case_run(
        test_case=setup.case, user=owner, workflow_ids=[setup.workflow.id], run_name="ci"
    )
    queued = events_tasks()
    with django_capture_on_commit_callbacks(execute=True):
        run = execute(run)
    assert events_tasks() == queued + 1  # queued by the finish signal once committed
    webhook_run_events(str(run.id))  # what the worker runs
    deliveries = list(WebhookDelivery.objects.filter(run=run).order_by("event"))
    for delivery in deliveries:
        webhook_deliver(str(delivery.id))
    return run, deliveries


def received(setup) -> list[dict]:
    return [request.json for request in setup.receiver.requests]


def test_a_finished_run_sends_run_finished(setup, owner, django_capture_on_commit_callbacks):
    run, deliveries = run_case(setup, owner, django_capture_on_commit_callbacks)

    assert [d.event for d in deliveries] == [Event.RUN_FINISHED]
    [body] = received(setup)
    assert body["type"] == "run.finished"
    assert body["data"]["run"]["id"] == str(run.id)
    assert body["data"]["run"]["pass_status"] is True
    assert body["data"]["run"]["star_metric"]["mean"] == 1.0


def test_a_run_whose_agent_calls_all_fail_sends_run_failed(
    setup, owner, django_capture_on_commit_callbacks
):
    run, deliveries = run_case(setup, owner, django_capture_on_commit_callbacks, broken=range(ROWS))

    assert run.status == RunStatus.FAILED and run.failed_tasks == ROWS
    assert [d.event for d in deliveries] == [Event.RUN_FAILED]
    [body] = received(setup)
    assert body["type"] == "run.failed"
    assert body["data"]["run"]["id"] == str(run.id)
    assert body["data"]["run"]["status"] == "failed"
    assert body["data"]["run"]["failed_tasks"] == ROWS
    assert body["data"]["run"]["succeeded_tasks"] == 0


def test_a_run_that_fails_at_planning_sends_run_failed(
    setup, owner, django_capture_on_commit_callbacks, monkeypatch
):
    def broken_plan():
        raise DatabaseError("disk full")

    monkeypatch.setattr(planning, "_insert_tasks_sql", broken_plan)

    run, deliveries = run_case(setup, owner, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.FAILED and run.total_tasks == 0
    assert [d.event for d in deliveries] == [Event.RUN_FAILED]
    [body] = received(setup)
    assert body["type"] == "run.failed"
    assert body["data"]["run"]["id"] == str(run.id)
    assert body["data"]["run"]["error_description"] == ("Planning failed: DatabaseError: disk full")
    assert body["data"]["run"]["pass_status"] is not True


def test_a_significantly_worse_run_of_a_test_case_sends_run_regressed(
    setup, owner, django_capture_on_commit_callbacks
):
    baseline, _ = run_case(setup, owner, django_capture_on_commit_callbacks)
    noise, noise_deliveries = run_case(setup, owner, django_capture_on_commit_callbacks, wrong=[0])
    worse, deliveries = run_case(setup, owner, django_capture_on_commit_callbacks, wrong=range(15))

    assert [d.event for d in noise_deliveries] == [Event.RUN_FINISHED]
    assert [d.event for d in deliveries] == [Event.RUN_FINISHED, Event.RUN_REGRESSED]
    regressed = [b for b in received(setup) if b["type"] == "run.regressed"]
    assert len(regressed) == 1
    data = regressed[0]["data"]
    assert data["run"]["id"] == str(worse.id)
    assert data["baseline"]["id"] == str(noise.id)  # the previous passing run
    assert data["comparison"]["verdict"] == "regressed"
    assert data["comparison"]["delta"] < 0 and data["comparison"]["significant"] is True


def test_projects_without_endpoints_queue_nothing(
    project, owner, make_dataset, make_agent, django_capture_on_commit_callbacks
):
    from runs import services
    from tests.runs.conftest import exact_match_entry

    with FakeServer(ControlledAgent()) as agent_server:
        version = make_dataset(qa_rows(3))
        workflow = make_agent(agent_server.url)
        run = services.run_start(
            project=project,
            user=owner,
            name="quiet",
            dataset_version_id=version.id,
            config=[exact_match_entry(workflow)],
        )
        with django_capture_on_commit_callbacks(execute=True):
            execute(run)
    assert events_tasks() == 0
