"""Fixtures for the REST API tests: released datasets, HTTP agents on a fake server, and runs
executed in-process by the engine (plan, then drain) so the APIs have results to show."""

from __future__ import annotations

import pytest

from runs import services
from runs.engine import drainer, planning
from tests.runs.conftest import (  # noqa: F401 - fixtures re-used here
    builtin,
    exact_match_entry,
    make_agent,
    make_dataset,
    qa_rows,
    trace_rows,
)
from tests.workflows.fake_servers import FakeServer, echo_agent


def execute(run):
    """Run the engine in this process: plan the tasks, then drain them."""
    planning.plan_run(run.id)
    drainer.drain_run(run.id)
    run.refresh_from_db()
    return run


@pytest.fixture
def agent_server():
    with FakeServer(echo_agent()) as server:
        yield server


@pytest.fixture
def qa_version(make_dataset):  # noqa: F811 - the fixture
    return make_dataset(qa_rows(5))


@pytest.fixture
def agent(make_agent, agent_server):  # noqa: F811 - the fixture
    return make_agent(agent_server.url)


@pytest.fixture
def finished_run(project, owner, qa_version, agent):
    metric = builtin("exact_match")
    run = services.run_start(
        project=project,
        user=owner,
        name="finished",
        dataset_version_id=qa_version.id,
        config=[exact_match_entry(agent)],
        star_metric={"metric_id": str(metric.id), "threshold": 0.5},
    )
    return execute(run)


@pytest.fixture
def pending_run(project, owner, qa_version, agent):
    return services.run_start(
        project=project,
        user=owner,
        name="pending",
        dataset_version_id=qa_version.id,
        config=[exact_match_entry(agent)],
    )
