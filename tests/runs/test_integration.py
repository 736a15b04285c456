"""Runs executed by a real ``qcluster`` subprocess against real local HTTP agents, with the
ORM broker and again with the Redis broker."""

from __future__ import annotations

import collections
import re

import pytest
from django.db.models import Count

from runs import services
from runs.engine import sweeper
from runs.models import EvaluationRun, MetricResult, RunStatus, RunTask, TaskStatus
from tests.runs.conftest import exact_match_entry, qa_rows, trace_rows
from tests.support.processes import qcluster, redis_url_for_tests, wait_until
from tests.workflows.fake_servers import FakeServer, Reply, echo_agent

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REDIS_URL = redis_url_for_tests()
FINISHED = (
    RunStatus.SUCCEEDED,
    RunStatus.PARTIALLY_SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.CANCELED,
)


def _redis_available() -> bool:
    try:
        import redis

        redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
        return True
    except Exception:
        return False


@pytest.fixture(params=["orm", "redis"])
def broker(request, monkeypatch):
    """Environment for the worker; the test process enqueues to the same broker."""
    monkeypatch.setenv("EVALSITE_RUN_LEASE_SECONDS", "5")
    monkeypatch.setenv("EVALSITE_RUN_STALL_SECONDS", "2")
    monkeypatch.setenv("EVALSITE_RUN_WORKFLOW_BATCH_SIZE", "10")
    monkeypatch.setenv("EVALSITE_RUN_BATCH_SIZE", "25")
    if request.param == "orm":
        return {}
    if not _redis_available():
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    import redis
    from django_q.conf import Conf

    redis.from_url(REDIS_URL).flushdb()
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
    return {"REDIS_URL": REDIS_URL}


def start(project, owner, version, config, name="run", **extra) -> EvaluationRun:
    return services.run_start(
        project=project,
        user=owner,
        name=name,
        dataset_version_id=version.id,
        config=config,
        **extra,
    )


def wait_finished(run, cluster, *, timeout=90, statuses=FINISHED) -> EvaluationRun:
    def done():
        run.refresh_from_db()
        return run.status in statuses

    wait_until(done, timeout=timeout, message=f"run {run.name} to finish\n{cluster.log()[-3000:]}")
    return run


def calls_per_question(server) -> collections.Counter:
    """How often the fake agent was called for each row (rows are ``{"question": ...}``).
    A request whose body did not arrive whole (a worker killed while sending it) counts
    under ``None``."""
    return collections.Counter(
        request.json["question"] if isinstance(request.json, dict) else None
        for request in server.requests
    )


def assert_scored_once(run, *, bindings: int) -> None:
    tasks = RunTask.objects.filter(run=run).count()
    assert MetricResult.objects.filter(run=run).count() == tasks * bindings
    duplicates = (
        MetricResult.objects.filter(run=run)
        .values("task_id", "binding_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not duplicates.exists()


def test_runs_with_two_workflows_and_dataset_only_complete_side_by_side(
    broker, project, owner, make_dataset, make_agent
):
    qa = make_dataset(qa_rows(40), name="qa")
    traces = make_dataset(trace_rows(60), name="traces")
    with FakeServer(echo_agent(latency=0.01)) as first, FakeServer(echo_agent()) as second:
        agent_a = make_agent(first.url, name="A")
        agent_b = make_agent(second.url, name="B")
        with qcluster(**broker) as cluster:
            two_agents = start(
                project, owner, qa, [exact_match_entry(agent_a), exact_match_entry(agent_b)]
            )
            scored = start(
                project,
                owner,
                traces,
                [exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")],
            )
            wait_finished(two_agents, cluster)
            wait_finished(scored, cluster)
        assert len(first.requests) == 40 and len(second.requests) == 40

    assert two_agents.status == RunStatus.SUCCEEDED
    assert (two_agents.total_tasks, two_agents.succeeded_tasks) == (80, 80)
    assert_scored_once(two_agents, bindings=1)
    assert set(
        MetricResult.objects.filter(run=two_agents).values_list("number_value", flat=True)
    ) == {1.0}
    assert scored.status == RunStatus.SUCCEEDED and scored.total_tasks == 60
    (summary,) = scored.summaries.values()
    assert summary["mean"] == 0.5


def test_a_flaky_agent_gives_a_partial_run_and_rerun_completes_it(
    broker, project, owner, make_dataset, make_agent
):
    version = make_dataset(qa_rows(50))
    state = {"broken": True}

    def agent(request):
        n = int(request.json["question"][1:])
        if state["broken"] and n % 10 == 3:
            return Reply(500, json={"error": "boom"})
        return echo_agent()(request)

    with FakeServer(agent) as server, qcluster(**broker) as cluster:
        workflow = make_agent(server.url)
        run = wait_finished(start(project, owner, version, [exact_match_entry(workflow)]), cluster)
        assert run.status == RunStatus.PARTIALLY_SUCCEEDED
        assert (run.succeeded_tasks, run.failed_tasks) == (45, 5)

        state["broken"] = False
        services.run_rerun(run=run)
        run = wait_finished(run, cluster)

    assert run.status == RunStatus.SUCCEEDED
    assert (run.succeeded_tasks, run.failed_tasks) == (50, 0)
    assert_scored_once(run, bindings=1)
    assert not MetricResult.objects.filter(run=run).exclude(error_description="").exists()


def test_cancel_mid_run_settles_in_flight_rows_and_cancels_the_rest(
    broker, project, owner, make_dataset, make_agent
):
    version = make_dataset(qa_rows(120))
    with FakeServer(echo_agent(latency=0.2)) as server, qcluster(**broker) as cluster:
        workflow = make_agent(server.url, max_concurrency=2)
        run = start(project, owner, version, [exact_match_entry(workflow)])
        wait_until(
            lambda: RunTask.objects.filter(run=run, status=TaskStatus.SUCCEEDED).count() >= 4,
            timeout=60,
            message=f"some progress\n{cluster.log()[-3000:]}",
        )
        services.run_cancel(run=run)
        run = wait_finished(run, cluster)

    assert run.status == RunStatus.CANCELED
    assert run.canceled_tasks > 0
    assert run.succeeded_tasks + run.failed_tasks + run.canceled_tasks == 120
    assert not RunTask.objects.filter(run=run, status__in=["pending", "claimed"]).exists()
    done = RunTask.objects.filter(run=run, status=TaskStatus.SUCCEEDED).count()
    assert MetricResult.objects.filter(run=run).count() == done


def test_a_killed_cluster_loses_nothing_and_scores_every_row_once(
    broker, project, owner, make_dataset, make_agent
):
    version = make_dataset(qa_rows(150))
    with FakeServer(echo_agent(latency=0.05)) as server:
        workflow = make_agent(server.url, max_concurrency=4)
        with qcluster(**broker, log_name="qcluster-killed") as cluster:
            run = start(project, owner, version, [exact_match_entry(workflow)])
            wait_until(
                lambda: RunTask.objects.filter(run=run, status=TaskStatus.SUCCEEDED).count() >= 20,
                timeout=60,
                message=f"some progress\n{cluster.log()[-3000:]}",
            )
            cluster.kill()
        run.refresh_from_db()
        assert run.status == RunStatus.RUNNING
        # The rows the dead workers held: their calls may have been made and not written, so
        # they may be called again (as benchmarks/crash_matrix.py counts). Nothing else may.
        in_flight = {
            item["question"]
            for item in RunTask.objects.filter(run=run, status=TaskStatus.CLAIMED).values_list(
                "item__data", flat=True
            )
        }

        with qcluster(**broker, log_name="qcluster-restarted") as cluster:

            def finished_after_sweeping():
                sweeper.sweep()  # what the schedule does every minute, without the wait
                run.refresh_from_db()
                return run.status in FINISHED

            wait_until(finished_after_sweeping, timeout=120, interval=1, message=cluster.log())
        calls = calls_per_question(server)

    assert run.status == RunStatus.SUCCEEDED
    assert (run.total_tasks, run.succeeded_tasks) == (150, 150)
    assert_scored_once(run, bindings=1)
    # Cut-off sends can only be calls the killed workers were making.
    assert calls.pop(None, 0) <= len(in_flight)
    assert set(calls) == {f"q{i}" for i in range(150)}
    repeated = {question for question, n in calls.items() if n > 1}
    assert repeated <= in_flight, f"called again, not in flight at the kill: {repeated - in_flight}"
    assert max(calls.values()) <= 2  # an in-flight row: its lost call, then the one written


def _worker_pids(cluster) -> set[str]:
    return set(re.findall(r"ready for work at (\d+)", cluster.log()))


def test_two_clusters_work_one_run_without_duplicates(
    broker, project, owner, make_dataset, make_agent, monkeypatch
):
    monkeypatch.setenv("EVALSITE_RUN_WORKFLOW_DRAINERS", "4")
    # One worker and a one-slot queue per cluster: a cluster can hold at most three of the
    # four drainer messages, so the other cluster always gets work.
    monkeypatch.setenv("Q_WORKERS", "1")
    monkeypatch.setenv("Q_BULK", "1")
    monkeypatch.setenv("Q_QUEUE_LIMIT", "1")
    version = make_dataset(qa_rows(200))
    with FakeServer(echo_agent(latency=0.05)) as server:
        workflow = make_agent(server.url, max_concurrency=8)
        with (
            qcluster(**broker, log_name="qcluster-a") as a,
            qcluster(**broker, log_name="qcluster-b") as b,
        ):
            run = wait_finished(start(project, owner, version, [exact_match_entry(workflow)]), a)
            pids_a, pids_b = _worker_pids(a), _worker_pids(b)
        assert len(server.requests) == 200

    assert run.status == RunStatus.SUCCEEDED and run.succeeded_tasks == 200
    assert_scored_once(run, bindings=1)
    owners = RunTask.objects.filter(run=run).values_list("lease_owner", flat=True)
    worked = {owner.split(":")[1] for owner in owners}
    assert worked & pids_a and worked & pids_b  # both clusters processed rows


def _drainer_messages(run, cluster) -> int:
    """Drainers the planner enqueued for the run, besides itself (it drains first)."""
    found = re.findall(rf"run {run.id}: (\d+) drainer\(s\) enqueued", cluster.log())
    return int(found[0]) if found else 0


def test_an_agent_allowing_more_than_one_drainer_holds_is_worked_by_several_drainers(
    broker, project, owner, make_dataset, make_agent, monkeypatch
):
    # One drainer holds 4 calls; the agent allows 12: three drainers (the planner's own and
    # two more), each holding a third, run at once on three workers.
    monkeypatch.setenv("EVALSITE_RUN_DRAINER_CONCURRENCY", "4")
    monkeypatch.setenv("Q_WORKERS", "3")
    import threading
    import time

    echo = echo_agent()
    lock = threading.Lock()
    live = [0, 0]  # in flight now, most ever in flight

    def agent(request):
        with lock:
            live[0] += 1
            live[1] = max(live[1], live[0])
        time.sleep(0.1)
        with lock:
            live[0] -= 1
        return echo(request)

    version = make_dataset(qa_rows(240))
    with FakeServer(agent) as server:
        workflow = make_agent(server.url, max_concurrency=12)
        with qcluster(**broker) as cluster:
            run = wait_finished(
                start(project, owner, version, [exact_match_entry(workflow)]), cluster, timeout=120
            )
            drainers = _drainer_messages(run, cluster)
        assert len(server.requests) == 240

    assert run.status == RunStatus.SUCCEEDED and run.succeeded_tasks == 240
    assert_scored_once(run, bindings=1)
    assert drainers == 2  # besides the planning task, which drains first
    assert 4 < live[1] <= 12  # more than one drainer's share, never above the agent's limit
    owners = set(RunTask.objects.filter(run=run).values_list("lease_owner", flat=True))
    assert len(owners) >= 2


def test_a_dataset_only_run_gets_a_drainer_per_worker(
    broker, project, owner, make_dataset, monkeypatch
):
    monkeypatch.setenv("Q_WORKERS", "3")
    version = make_dataset(trace_rows(120))
    config = [exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")]
    with qcluster(**broker) as cluster:
        run = wait_finished(start(project, owner, version, config), cluster)
        drainers = _drainer_messages(run, cluster)
    assert run.status == RunStatus.SUCCEEDED and run.succeeded_tasks == 120
    assert_scored_once(run, bindings=1)
    assert drainers == 2  # three workers: the planner drains, two more drainers join it


def test_postgresql_writes_each_dataset_only_row_once(
    broker, project, owner, make_dataset, monkeypatch
):
    """With EVALSITE_RUN_ROW_LOCKS, dataset-only rows are leased by row locks, not a claim
    UPDATE: one write per row."""
    from django.db import connection

    monkeypatch.setenv("EVALSITE_RUN_ROW_LOCKS", "1")

    if connection.vendor != "postgresql":
        pytest.skip("row-lock leases are PostgreSQL's")
    tasks = connection.ops.quote_name(RunTask._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE test_task_writes (task_id bigint)")
        cursor.execute(
            "CREATE FUNCTION test_note_task_write() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN INSERT INTO test_task_writes VALUES (NEW.id); RETURN NEW; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER test_task_writes AFTER UPDATE ON {tasks} "
            "FOR EACH ROW EXECUTE FUNCTION test_note_task_write()"
        )
    try:
        version = make_dataset(trace_rows(90))
        config = [exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")]
        with qcluster(**broker) as cluster:
            run = wait_finished(start(project, owner, version, config), cluster)
        with connection.cursor() as cursor:
            cursor.execute("SELECT task_id, count(*) FROM test_task_writes GROUP BY task_id")
            writes = dict(cursor.fetchall())
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS test_task_writes ON {tasks}")
            cursor.execute("DROP FUNCTION IF EXISTS test_note_task_write()")
            cursor.execute("DROP TABLE IF EXISTS test_task_writes")
    assert run.status == RunStatus.SUCCEEDED and run.succeeded_tasks == 90
    assert_scored_once(run, bindings=1)
    ids = set(RunTask.objects.filter(run=run).values_list("id", flat=True))
    assert set(writes) == ids
    assert set(writes.values()) == {1}


def test_a_killed_cluster_mid_dataset_only_batch_loses_nothing(
    broker, project, owner, make_dataset, settings, monkeypatch
):
    """The killed drainer's rows (locked, on PostgreSQL with EVALSITE_RUN_ROW_LOCKS; claimed,
    on SQLite) are worked by the next cluster, and every row ends with exactly one result."""
    from metrics import services as metric_services

    monkeypatch.setenv("EVALSITE_RUN_ROW_LOCKS", "1")

    slow = "tests.runs.slow_metrics.slow_exact"
    monkeypatch.setenv("EVALSITE_RUN_BATCH_SIZE", "4")  # 4 rows x 0.3 s a batch
    monkeypatch.setenv("EVALSITE_CUSTOM_METRICS", slow)
    settings.EVALSITE_CUSTOM_METRICS = [slow]
    metric = metric_services.metric_create(
        project=project,
        user=owner,
        name="Slow exact",
        implementation="custom_python",
        params={"path": slow},
        inputs=[{"name": "response", "description": ""}, {"name": "expected", "description": ""}],
        value_type="METRIC_VALUE_TYPE_NUMBER",
        range_min=0,
        range_max=1,
    )
    version = make_dataset([{"output": f"a{i}", "expected": f"a{i}"} for i in range(40)])
    selector = {"response": "$.dataset.output", "expected": "$.dataset.expected"}
    entry = {
        "workflow": None,
        "metrics": [{"id": str(metric.id), "input_transformer": {"selector": selector}}],
    }
    with qcluster(**broker, log_name="qcluster-killed") as cluster:
        run = start(project, owner, version, [entry])
        wait_until(
            lambda: RunTask.objects.filter(run=run, status=TaskStatus.SUCCEEDED).count() >= 8,
            timeout=60,
            message=f"some progress\n{cluster.log()[-3000:]}",
        )
        cluster.kill()
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.succeeded_tasks < 40

    with qcluster(**broker, log_name="qcluster-restarted") as cluster:

        def finished_after_sweeping():
            sweeper.sweep()
            run.refresh_from_db()
            return run.status in FINISHED

        wait_until(finished_after_sweeping, timeout=120, interval=1, message=cluster.log())

    assert run.status == RunStatus.SUCCEEDED
    assert (run.total_tasks, run.succeeded_tasks) == (40, 40)
    assert MetricResult.objects.filter(run=run, number_value=1.0).count() == 40
    assert_scored_once(run, bindings=1)
