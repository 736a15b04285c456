"""The worker heartbeat as /healthz reports it (no cluster: beats are written directly)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from runs import heartbeat, services
from runs.engine import claims, planning
from runs.models import RunTask, TaskStatus, WorkerHeartbeat
from tests.runs.conftest import exact_match_entry, trace_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def stale_after(monkeypatch):
    monkeypatch.setenv("EVALSITE_WORKER_STALE_SECONDS", "60")
    return 60


def _active_run(project, owner, make_dataset, *, queued_seconds_ago: float = 600):
    version = make_dataset(trace_rows(5))
    config = [exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")]
    run = services.run_start(
        project=project, user=owner, name="run", dataset_version_id=version.id, config=config
    )
    run.queued_at = timezone.now() - timedelta(seconds=queued_seconds_ago)
    run.save(update_fields=["queued_at"])
    return run


def _beat(seconds_ago: float) -> None:
    WorkerHeartbeat.objects.create(
        worker="host:1", source="ping", beaten_at=timezone.now() - timedelta(seconds=seconds_ago)
    )


def test_no_work_waiting_is_healthy_without_any_heartbeat(client, stale_after):
    response = client.get("/healthz")
    assert response.status_code == 200
    workers = response.json()["workers"]
    assert workers["ok"] is True and workers["work_waiting"] is False
    assert workers["last_heartbeat"] is None and workers["stale_after_seconds"] == 60


def test_waiting_work_with_a_recent_heartbeat_is_healthy(
    client, stale_after, project, owner, make_dataset
):
    _active_run(project, owner, make_dataset)
    _beat(5)
    response = client.get("/healthz")
    assert response.status_code == 200
    workers = response.json()["workers"]
    assert workers["work_waiting"] is True and 4 <= workers["heartbeat_age_seconds"] < 60


@pytest.mark.parametrize("seconds_ago", [None, 61])
def test_waiting_work_and_no_recent_heartbeat_is_503(
    client, stale_after, project, owner, make_dataset, seconds_ago
):
    _active_run(project, owner, make_dataset)
    if seconds_ago is not None:
        _beat(seconds_ago)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["workers"]["ok"] is False
    assert body["database"]["ok"] is True  # the rest is fine: only the workers are stuck


def test_renewing_leases_beats_and_pushes_back_only_the_owners_rows(
    project, owner, make_dataset, monkeypatch
):
    run = _active_run(project, owner, make_dataset)
    planning.plan_run(run.id)
    mine = claims.claim_batch(run.id, owner="me", limit=2, lease_seconds=1)
    theirs = claims.claim_batch(run.id, owner="them", limit=2, lease_seconds=1)
    keeper = claims.LeaseKeeper(run.id, owner="me", lease_seconds=300)

    assert keeper.renew() == 2
    leases = dict(RunTask.objects.filter(run=run).values_list("id", "lease_expires_at"))
    assert all(leases[i] > timezone.now() + timedelta(seconds=250) for i in mine)
    assert all(leases[i] < timezone.now() + timedelta(seconds=5) for i in theirs)
    assert WorkerHeartbeat.objects.get(worker=heartbeat.worker_name()).source == "drainer"
    # A row the sweeper took back is not renewed any more.
    RunTask.objects.filter(id=mine[0]).update(status=TaskStatus.PENDING, lease_expires_at=None)
    assert keeper.renew() == 1
    assert RunTask.objects.get(id=mine[0]).lease_expires_at is None


def test_the_ping_task_beats_and_forgets_long_dead_workers():
    _beat(2 * 24 * 3600)
    heartbeat.ping()
    (row,) = WorkerHeartbeat.objects.all()
    assert row.worker == heartbeat.worker_name() and row.source == "ping"


def test_work_that_has_just_started_waiting_is_not_yet_stale(
    client, stale_after, project, owner, make_dataset
):
    # A cluster that has just started has not beaten yet; nor has a fresh install ever.
    _active_run(project, owner, make_dataset, queued_seconds_ago=5)
    response = client.get("/healthz")
    assert response.status_code == 200
    workers = response.json()["workers"]
    assert workers["work_waiting"] is True and workers["last_heartbeat"] is None
    assert 4 <= workers["work_waiting_seconds"] < 60
    _beat(120)  # an old beat does not make fresh work stale either
    assert client.get("/healthz").status_code == 200


def test_check_workers_exits_1_only_when_work_waits_on_stale_workers(
    stale_after, project, owner, make_dataset, capsys
):
    from django.core.management import CommandError, call_command

    call_command("check_workers")  # nothing waiting: fine without any heartbeat
    _active_run(project, owner, make_dataset)
    _beat(120)
    with pytest.raises(CommandError):
        call_command("check_workers")
    WorkerHeartbeat.objects.update(beaten_at=timezone.now())
    call_command("check_workers")
    assert '"ok": true' in capsys.readouterr().out


def test_a_cluster_is_stale_on_its_own_beats_while_the_site_stays_healthy(
    client, stale_after, project, owner, make_dataset, monkeypatch
):
    """What ``serve`` watches (its cluster's beats) against what ``/healthz`` reports (any)."""
    _active_run(project, owner, make_dataset)
    monkeypatch.setenv(heartbeat.CLUSTER_ID_ENV, "mine")
    heartbeat.record_beat(source="ping")
    assert WorkerHeartbeat.objects.get(worker=heartbeat.worker_name()).cluster == "mine"
    assert not heartbeat.worker_status(cluster="mine").stale
    WorkerHeartbeat.objects.update(beaten_at=timezone.now() - timedelta(seconds=120))
    _beat(5)  # a worker of another cluster
    assert heartbeat.worker_status(cluster="mine").stale
    assert not heartbeat.worker_status().stale
    assert client.get("/healthz").status_code == 200


def test_serve_judges_a_starting_cluster_from_its_start_beat(
    project, owner, make_dataset, monkeypatch
):
    """A cluster slow to start (imports, its start sweep) is not restarted before it is up;
    once up (its start beat), it has the stale time to answer for itself."""
    from projects.management.commands import serve
    from projects.management.commands.serve import STARTUP_SECONDS, ClusterSupervisor

    monkeypatch.setattr(serve, "close_old_connections", lambda: None)  # the test's transaction
    monkeypatch.setenv("EVALSITE_WORKER_STALE_SECONDS", "6")
    _active_run(project, owner, make_dataset)
    restarts = []
    cluster = ClusterSupervisor(["true"], cwd=".")
    cluster.proc = type("Running", (), {"poll": lambda self: None})()
    cluster.cluster_id, cluster.next_ping = "starting", float("inf")
    cluster.restart = restarts.append

    def check(*, started_seconds_ago: float) -> None:
        cluster.started_at = time.monotonic() - started_seconds_ago
        cluster.next_check = 0.0
        cluster.check()

    check(started_seconds_ago=30)  # past the stale time, not yet up: still starting
    assert restarts == []
    check(started_seconds_ago=STARTUP_SECONDS + 1)  # never got up
    assert len(restarts) == 1 and "its last heartbeat: never" in restarts[0]
    monkeypatch.setenv(heartbeat.CLUSTER_ID_ENV, "starting")
    heartbeat.record_beat(source="start")
    check(started_seconds_ago=30)  # up just now: it has 6 s to beat again
    assert len(restarts) == 1
    WorkerHeartbeat.objects.update(beaten_at=timezone.now() - timedelta(seconds=7))
    check(started_seconds_ago=30)
    assert len(restarts) == 2 and "no worker of this cluster has beaten" in restarts[1]
