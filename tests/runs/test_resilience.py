"""Faults tried as an operator meets them, with a real ``qcluster``: calls that outlive their
lease, a wedged cluster, lost broker messages. Agents count their calls per row."""

from __future__ import annotations

import collections
import threading

import pytest

from metrics import services as metric_services
from runs.engine import sweeper
from runs.models import MetricResult, RunStatus, RunTask
from tests.runs.conftest import exact_match_entry, qa_rows
from tests.runs.test_integration import (
    FINISHED,
    assert_scored_once,
    broker,  # noqa: F401 - the fixture
    start,
    wait_finished,
)
from tests.support.processes import qcluster
from tests.workflows.fake_servers import FakeServer, echo_agent

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SLOW_METRIC = "tests.runs.slow_metrics.slow_exact"


class Sweeping:
    """The sweeper schedule, much more often than once a minute: in a thread of the test."""

    def __init__(self, interval: float = 0.5):
        self.interval = interval
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        from django.db import connection

        try:
            while not self.stop.wait(self.interval):
                sweeper.sweep()
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)
        finally:
            connection.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.errors, self.errors


def calls_per_question(server) -> collections.Counter:
    return collections.Counter(request.json["question"] for request in server.requests)


def test_an_agent_slower_than_the_lease_is_called_once_per_row(
    broker,  # noqa: F811
    project,
    owner,
    make_dataset,
    make_agent,
    monkeypatch,
):
    monkeypatch.setenv("EVALSITE_RUN_LEASE_SECONDS", "3")
    version = make_dataset(qa_rows(12))
    with FakeServer(echo_agent(latency=7)) as server:
        # Six calls at a time, each more than twice the lease: every row outlives its lease.
        workflow = make_agent(server.url, max_concurrency=6, timeout_s=30)
        with qcluster(**broker) as cluster, Sweeping():
            run = start(project, owner, version, [exact_match_entry(workflow)])
            run = wait_finished(run, cluster, timeout=120)
        calls = calls_per_question(server)

    assert calls == {f"q{i}": 1 for i in range(12)}
    assert run.status == RunStatus.SUCCEEDED and run.succeeded_tasks == 12
    assert set(RunTask.objects.filter(run=run).values_list("attempts", flat=True)) == {1}
    assert_scored_once(run, bindings=1)


def test_a_synchronous_metric_batch_longer_than_the_lease_scores_each_row_once(
    broker,  # noqa: F811
    project,
    owner,
    make_dataset,
    settings,
    monkeypatch,
    tmp_path,
):
    calls_log = tmp_path / "metric-calls.txt"
    monkeypatch.setenv("EVALSITE_RUN_LEASE_SECONDS", "2")
    monkeypatch.setenv("EVALSITE_RUN_BATCH_SIZE", "20")  # 20 rows x 0.3 s = 6 s per batch
    monkeypatch.setenv("EVALSITE_CUSTOM_METRICS", SLOW_METRIC)
    monkeypatch.setenv("EVALSITE_TEST_METRIC_LOG", str(calls_log))
    settings.EVALSITE_CUSTOM_METRICS = [SLOW_METRIC]
    metric = metric_services.metric_create(
        project=project,
        user=owner,
        name="Slow exact",
        implementation="custom_python",
        params={"path": SLOW_METRIC},
        inputs=[{"name": "response", "description": ""}, {"name": "expected", "description": ""}],
        value_type="METRIC_VALUE_TYPE_NUMBER",
        range_min=0,
        range_max=1,
    )
    rows = [{"output": f"a{i}", "expected": f"a{i}"} for i in range(40)]
    version = make_dataset(rows, name="scored")
    entry = {
        "workflow": None,
        "metrics": [
            {
                "id": str(metric.id),
                "input_transformer": {
                    "selector": {"response": "$.dataset.output", "expected": "$.dataset.expected"}
                },
            }
        ],
    }
    with qcluster(**broker) as cluster, Sweeping():
        run = wait_finished(start(project, owner, version, [entry]), cluster, timeout=120)

    calls = collections.Counter(calls_log.read_text().split())
    assert calls == {f"a{i}": 1 for i in range(40)}
    assert run.status == RunStatus.SUCCEEDED and run.succeeded_tasks == 40
    assert MetricResult.objects.filter(run=run, number_value=1.0).count() == 40
    assert run.status in FINISHED
