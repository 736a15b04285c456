"""Crash matrix: runs that call an agent while workers and whole clusters are SIGKILLed.

Run:  .venv/bin/python benchmarks/crash_matrix.py [--runs 10] [--rows 80] [--kills 3]
                                                  [--redis-url redis://127.0.0.1:6379/8]
Uses a throwaway database (a temporary SQLite file, or a temporary PostgreSQL database next
to DATABASE_URL). Runs alternate between the ORM broker and Redis (skipped when Redis is not
reachable; the Redis db is FLUSHED). Workers run under ``manage.py serve --no-web``, the
supervised cluster an operator would run, with fault-tolerance settings tightened so a run
recovers in seconds rather than minutes (printed at the start).

During each run, at random moments, either one django-q2 worker (any: busy, idle or the one
next in line for the queue, which wedges the cluster) or the whole cluster is SIGKILLed. At
each kill the rows claimed by the killed processes are noted: their agent calls may repeat.
Printed per run and in total:
- lost rows: rows not succeeded at the end (the agent never fails here), or without a result;
- duplicate results: (row, metric) pairs stored more than once;
- duplicate agent calls: calls beyond one per row, and how many of them were NOT rows a
  killed worker held (those must be 0);
- longest stall: the longest time the run made no progress while still active.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

TUNING = {
    "EVALSITE_RUN_LEASE_SECONDS": "10",
    "EVALSITE_RUN_STALL_SECONDS": "15",
    "EVALSITE_RUN_REPLAN_SECONDS": "10",
    "EVALSITE_WORKER_STALE_SECONDS": "20",
    "EVALSITE_WORKER_PING_SECONDS": "2",
    "Q_WORKERS": "2",
}


class Supervised:
    """``manage.py serve --no-web`` and the cluster under it."""

    def __init__(self, log: Path, env: dict):
        self.log_path = log
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--no-web"],
            cwd=ROOT,
            env=env,
            stdout=open(log, "ab"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def cluster_pid(self) -> int | None:
        """The qcluster child of serve (its own process group)."""
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return None
        pids = [int(pid) for pid in children.split()]
        return pids[0] if pids else None

    def live_workers(self) -> list[int]:
        """Workers logged as ready that still run (not dead, not a zombie)."""
        alive = []
        for pid in set(map(int, re.findall(r"ready for work at (\d+)", self.log()))):
            with contextlib.suppress(OSError, IndexError):
                if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.append(pid)
        return sorted(alive)

    def group_pids(self, pgid: int) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.getpgid(int(entry.name)) == pgid:
                        pids.append(int(entry.name))
        return pids

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def claimed_by(run, pids: list[int]) -> set[str]:
    """Questions of the rows the given processes hold right now (lease owner host:pid:...)."""
    from runs.models import RunTask, TaskStatus

    wanted = {str(pid) for pid in pids}
    rows = RunTask.objects.filter(run=run, status=TaskStatus.CLAIMED).values_list(
        "lease_owner", "item__data"
    )
    return {data["question"] for owner, data in rows if owner.split(":")[1] in wanted}


def one_run(ctx, index: int, broker: str, args, rng: random.Random) -> dict:
    from django.db.models import Count

    from runs import services
    from runs.models import MetricResult, RunTask, TaskStatus
    from tests.workflows.fake_servers import FakeServer, Reply
    from workflows import services as workflow_services

    calls: collections.Counter = collections.Counter()
    lock = threading.Lock()

    def agent(request):
        question = (request.json or {}).get("question", "")
        with lock:
            calls[question] += 1
        return Reply(json={"answer": f"echo: {question}"}, delay=rng.uniform(0.1, 0.6))

    env = dict(os.environ, **TUNING, DJANGO_SETTINGS_MODULE="evalsite.settings")
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("REDIS_URL", None)
    if broker == "redis":
        env["REDIS_URL"] = args.redis_url
    log = ctx["tmp"] / f"crash-{index}-{broker}.log"
    kills: list[str] = []
    may_repeat: set[str] = set()
    with FakeServer(agent) as server:
        workflow = workflow_services.workflow_create(
            project=ctx["project"],
            user=ctx["user"],
            name=f"agent {index}",
            kind="http",
            config={
                "url": server.url,
                "method": "POST",
                "body_template": {"question": "{{question}}"},
                "output_paths": {"answer": "$.answer"},
                "timeout_s": 10,
                "max_retries": 0,
                "max_concurrency": 4,
            },
            inputs=[{"name": "question", "description": "", "required": True}],
            outputs=[{"name": "answer", "description": ""}],
        )
        config = [
            {
                "workflow": {
                    "id": str(workflow.id),
                    "input_transformer": {"selector": {"question": "$.dataset.question"}},
                },
                "metrics": [
                    {
                        "id": str(ctx["metric"].id),
                        "input_transformer": {
                            "selector": {
                                "response": "$.workflow.answer",
                                "expected": "$.dataset.ground_truth_answer",
                            }
                        },
                    }
                ],
            }
        ]
        serve = Supervised(log, env)
        try:
            deadline = time.monotonic() + 60
            while len(serve.live_workers()) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            run = services.run_start(
                project=ctx["project"],
                user=ctx["user"],
                name=f"crash {index} ({broker})",
                dataset_version_id=ctx["version"].id,
                config=config,
            )
            started = last_change = time.monotonic()
            last_done, longest_stall = -1, 0.0
            next_kill = started + rng.uniform(1, 4)
            while True:
                run.refresh_from_db()
                now = time.monotonic()
                done = run.succeeded_tasks + run.failed_tasks
                if done != last_done:
                    last_done, last_change = done, now
                longest_stall = max(longest_stall, now - last_change)
                if run.is_finished:
                    break
                if now - started > args.timeout:
                    kills.append("TIMEOUT")
                    break
                if len(kills) < args.kills and now >= next_kill:
                    next_kill = now + rng.uniform(3, 8)
                    cluster = serve.cluster_pid()
                    workers = serve.live_workers()
                    if cluster and (rng.random() < 0.3 or not workers):
                        pids = serve.group_pids(cluster)
                        may_repeat |= claimed_by(run, pids)
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(cluster, signal.SIGKILL)
                        kills.append("cluster")
                    elif workers:
                        victim = rng.choice(workers)
                        may_repeat |= claimed_by(run, [victim])
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(victim, signal.SIGKILL)
                        kills.append("worker")
                time.sleep(0.25)
            elapsed = time.monotonic() - started
            restarts = serve.log().count("restarting the worker cluster")
        finally:
            serve.stop()
    total = RunTask.objects.filter(run=run).count()
    succeeded = RunTask.objects.filter(run=run, status=TaskStatus.SUCCEEDED).count()
    results = MetricResult.objects.filter(run=run)
    with_result = results.values("task_id").distinct().count()
    duplicates = (
        results.values("task_id", "binding_id").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    extra_calls = sum(n - 1 for n in calls.values() if n > 1)
    unexplained = sum(n - 1 for q, n in calls.items() if n > 1 and q not in may_repeat)
    return {
        "run": index,
        "broker": broker,
        "status": run.status,
        "rows": total,
        "lost": (total - succeeded) + (total - with_result),
        "dup_results": duplicates,
        "dup_calls": extra_calls,
        "unexplained_dup_calls": unexplained,
        "never_called": sum(1 for i in range(args.rows) if calls[f"q{i}"] == 0),
        "kills": ",".join(kills) or "-",
        "restarts": restarts,
        "stall_s": longest_stall,
        "elapsed_s": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rows", type=int, default=80)
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs per run")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    from bench_datasets import setup_database

    brokers = ["orm"]
    try:
        import redis

        redis.from_url(args.redis_url, socket_connect_timeout=1).ping()
        brokers.append("redis")
    except Exception:
        print(f"Redis not reachable at {args.redis_url}: ORM broker only")

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        vendor, cleanup = setup_database(tmp)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")
        os.environ.setdefault("LOG_LEVEL", "INFO")
        os.environ.setdefault("EVALSITE_ALLOW_LOOPBACK", "1")
        import django

        django.setup()
        import logging

        logging.getLogger("django-q").setLevel(logging.WARNING)  # children keep INFO
        try:
            from django.contrib.auth import get_user_model
            from django.core.management import call_command
            from django_q.conf import Conf

            from datasets import services as dataset_services
            from metrics.models import Metric
            from projects.models import Project

            call_command("migrate", verbosity=0)
            user = get_user_model().objects.create_user("crash", password="crash")
            project = Project.objects.create(name="Crash", slug="crash")
            dataset = dataset_services.dataset_create(project=project, name="qa", user=user)
            draft = dataset_services.version_create_draft(dataset=dataset, user=user)
            rows = [
                {"question": f"q{i}", "ground_truth_answer": f"echo: q{i}"}
                for i in range(args.rows)
            ]
            dataset_services.items_add(version=draft, rows=rows)
            version = dataset_services.version_release(version=draft, user=user)
            metric = Metric.objects.get(builtin_key="exact_match", project__isnull=True)
            ctx = {"tmp": tmp, "user": user, "project": project, "version": version}
            ctx["metric"] = metric
            print(f"database: {vendor}; brokers: {', '.join(brokers)}; settings: {TUNING}")
            header = (
                f"{'run':>3} {'broker':6} {'status':10} {'rows':>4} {'lost':>4} {'dupres':>6} "
                f"{'dupcalls':>8} {'unexpl':>6} {'restarts':>8} {'stall s':>7} {'time s':>6} kills"
            )
            print(header)
            results = []
            for index in range(args.runs):
                broker = brokers[index % len(brokers)]
                if broker == "redis":
                    import redis

                    redis.from_url(args.redis_url).flushdb()
                    Conf.ORM, Conf.REDIS = None, args.redis_url
                else:
                    Conf.ORM, Conf.REDIS = "default", None
                r = one_run(ctx, index, broker, args, rng)
                results.append(r)
                print(
                    f"{r['run']:>3} {r['broker']:6} {r['status']:10} {r['rows']:>4} "
                    f"{r['lost']:>4} {r['dup_results']:>6} {r['dup_calls']:>8} "
                    f"{r['unexplained_dup_calls']:>6} {r['restarts']:>8} {r['stall_s']:>7.1f} "
                    f"{r['elapsed_s']:>6.1f} {r['kills']}",
                    flush=True,
                )
            print(
                f"total: {len(results)} runs, {sum(r['lost'] for r in results)} lost rows, "
                f"{sum(r['dup_results'] for r in results)} duplicate results, "
                f"{sum(r['dup_calls'] for r in results)} duplicate agent calls "
                f"({sum(r['unexplained_dup_calls'] for r in results)} not explained by a "
                f"killed worker's in-flight rows), longest stall "
                f"{max(r['stall_s'] for r in results):.1f} s, "
                f"{sum(r['restarts'] for r in results)} supervised cluster restarts"
            )
        finally:
            cleanup()


if __name__ == "__main__":
    main()
