"""End-to-end run benchmark: what a user waits for, from ``POST /v1/evaluations`` to the
final status, through a real web server and a real ``qcluster``.

Run:  .venv/bin/python benchmarks/bench_e2e.py [--rows 100000] [--agent-rows 2000]
                                               [--brokers orm,redis] [--only NAME]
                                               [--clusters 2] [--scale-rows 2000]
                                               [--memory-rows 1000000]
Uses a throwaway database: a temporary SQLite file, or, when DATABASE_URL points at
PostgreSQL, a temporary database created next to it and dropped at the end. The Redis
broker uses ``BENCH_REDIS_URL`` (default redis://127.0.0.1:6379/10, flushed first) and is
skipped when Redis does not answer.

For each broker, gunicorn (``manage.py serve --no-worker``) and ``manage.py qcluster`` run as
subprocesses with the product's defaults; the benchmark creates the run over HTTP with a
Bearer key and polls ``GET /v1/evaluations/{id}`` every 0.1 s until ``finished_at`` is set
(the CLI client and the run page poll every 1-2 s; at 50 ms the poller alone took a fifth of a
core from the run it timed).

1. dataset_only: N rows x 3 deterministic metrics. Goals (issue 19): >= 10,000 rows/s on
   SQLite, >= 6,000 rows/s on PostgreSQL; worker peak RSS printed.
2. with_agent: 2,000 rows against a local HTTP agent answering in 200 ms, max concurrency
   50. Ideal 2000 / 50 x 0.2 s = 8 s; goal <= 1.2 x ideal; POST to first agent call <= 0.5 s.
3. scale_out (``--clusters N``, default 2): 2,000 rows (``--scale-rows``) against a 400 ms
   agent allowing N x Q_WORKERS x 50 calls (50 = ``EVALSITE_RUN_DRAINER_CONCURRENCY``, what
   one drainer holds), worked by one cluster, then by N clusters on the same database and
   broker: N clusters hold N times the calls in flight and should finish faster.
4. memory (``--memory-rows``, default 1,000,000; ORM broker): a dataset-only run that
   large, its worker peak RSS against the 100,000-row run's; goal <= 1.2x.

The load generator (the fake agent and the poller) runs on the same machine as the server.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_runs import Cluster, make_version, metric_entry  # noqa: E402

DEFAULT_REDIS = "redis://127.0.0.1:6379/10"
POLL_SECONDS = 0.1


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WebServer:
    """gunicorn through ``manage.py serve --no-worker`` on a free port."""

    def __init__(self, log: Path):
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="evalsite.settings", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--no-worker", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=open(self.log, "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code in (200, 503):
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text(errors="replace"))
            time.sleep(0.2)

    def __exit__(self, *exc):
        import signal

        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def start_and_wait(web: WebServer, key: str, body: dict, timeout: float = 1800):
    """POST the run, poll until it has finished; returns (run json, seconds, post time)."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=web.url, headers=headers, timeout=30) as client:
        posted = time.monotonic()
        response = client.post("/v1/evaluations", json=body)
        if response.status_code != 201:
            raise RuntimeError(f"create answered {response.status_code}: {response.text}")
        run_id = response.json()["id"]
        deadline = posted + timeout
        while time.monotonic() < deadline:
            run = client.get(f"/v1/evaluations/{run_id}").json()
            if run.get("finished_at"):
                return run, time.monotonic() - posted, posted
            time.sleep(POLL_SECONDS)
    raise TimeoutError(f"run {run_id} did not finish in {timeout}s")


def phases(run_id) -> str:
    """Where the wall time went, from the run's own timestamps (database clock)."""
    from runs.models import EvaluationRun

    run = EvaluationRun.objects.get(id=run_id)
    plan = (run.started_at - run.queued_at).total_seconds()
    work = (run.finished_at - run.started_at).total_seconds()
    return f"queued -> planned {plan:.2f} s, planned -> finished {work:.1f} s"


def redis_reachable(url: str) -> bool:
    try:
        import redis

        client = redis.from_url(url, socket_connect_timeout=1)
        client.ping()
        client.flushdb()
        return True
    except Exception:
        return False


def scenario_dataset_only(ctx, rows: int, broker: str) -> float:
    """Returns the worker peak RSS (MB)."""
    key = f"dataset_only_version_{rows}"
    version = ctx.get(key) or make_version(
        ctx["project"], ctx["user"], rows, f"e2e dataset-only {rows}"
    )
    ctx[key] = version
    body = {
        "name": f"e2e dataset-only {broker}",
        "project_id": str(ctx["project"].id),
        "dataset_version_id": str(version.id),
        "config": [
            {
                "metrics": [
                    metric_entry("exact_match", "$.dataset.output"),
                    metric_entry("exact_match_relaxed", "$.dataset.output"),
                    metric_entry("levenshtein_similarity", "$.dataset.output"),
                ]
            }
        ],
    }
    tmp = ctx["tmp"]
    with (
        WebServer(tmp / f"web-{broker}.log") as web,
        Cluster(tmp / f"cluster-dataset-only-{broker}.log") as cluster,
    ):
        run, elapsed, _ = start_and_wait(web, ctx["key"], body)
        peak = cluster.worker_peak_mb()
    goal = 10_000 if ctx["vendor"] == "sqlite" else 6_000
    print(
        f"1. dataset_only [{ctx['vendor']}, {broker} broker] {rows:,} rows x 3 metrics: "
        f"POST -> final {elapsed:.1f} s = {rows / elapsed:,.0f} rows/s (goal >= {goal:,}), "
        f"worker peak RSS {peak:.0f} MB, status {run['status']}; {phases(run['id'])}",
        flush=True,
    )
    return peak


def scenario_memory(ctx, rows: int, big: int, broker: str, base_peak: float | None) -> None:
    """Dataset-only at ``big`` rows: the worker's peak RSS against the ``rows`` run's."""
    if base_peak is None:
        base_peak = scenario_dataset_only(ctx, rows, broker)
    peak = scenario_dataset_only(ctx, big, broker)
    print(
        f"4. memory [{ctx['vendor']}, {broker} broker] {big:,} rows: worker peak RSS "
        f"{peak:.0f} MB = {peak / base_peak:.2f} x the {rows:,}-row run's {base_peak:.0f} MB "
        "(goal <= 1.2x)",
        flush=True,
    )


def run_with_agent(ctx, rows: int, broker: str, *, clusters: int, delay: float, concurrency: int):
    """One with-agent run against a local agent answering in ``delay`` s; returns
    (run json, POST -> final s, POST -> first call s, calls, worker peak MB)."""
    import contextlib

    from tests.workflows.fake_servers import FakeServer, Reply
    from workflows import services as workflow_services

    key = f"agent_version_{rows}"
    version = ctx.get(key) or make_version(ctx["project"], ctx["user"], rows, "e2e with-agent")
    ctx[key] = version
    answer = Reply(json={"answer": "alpha beta gamma"}, delay=delay)
    with FakeServer(lambda request: answer) as server:
        workflow = workflow_services.workflow_create(
            project=ctx["project"],
            user=ctx["user"],
            name=f"e2e agent {broker} {clusters} {concurrency} {time.monotonic_ns()}",
            kind="http",
            config={
                "url": server.url,
                "method": "POST",
                "body_template": {"question": "{{question}}"},
                "output_paths": {"answer": "$.answer"},
                "timeout_s": 10,
                "max_retries": 2,
                "max_concurrency": concurrency,
            },
            inputs=[{"name": "question", "description": "", "required": True}],
            outputs=[{"name": "answer", "description": ""}],
        )
        body = {
            "name": f"e2e with-agent {broker}",
            "project_id": str(ctx["project"].id),
            "dataset_version_id": str(version.id),
            "config": [
                {
                    "workflow": {
                        "id": str(workflow.id),
                        "input_transformer": {"selector": {"question": "$.dataset.question"}},
                    },
                    "metrics": [metric_entry("exact_match", "$.workflow.answer")],
                }
            ],
        }
        tmp = ctx["tmp"]
        with contextlib.ExitStack() as stack:
            web = stack.enter_context(WebServer(tmp / f"web-agent-{broker}.log"))
            started = [
                stack.enter_context(Cluster(tmp / f"cluster-agent-{broker}-{clusters}-{n}.log"))
                for n in range(clusters)
            ]
            run, elapsed, posted = start_and_wait(web, ctx["key"], body)
            peak = max(cluster.worker_peak_mb() for cluster in started)
        arrivals = sorted(request.received_at for request in server.requests)
    first = (arrivals[0] - posted) if arrivals else float("nan")
    return run, elapsed, first, len(arrivals), peak


def scenario_with_agent(ctx, rows: int, broker: str) -> None:
    run, elapsed, first, calls, peak = run_with_agent(
        ctx, rows, broker, clusters=1, delay=0.2, concurrency=50
    )
    ideal = rows / 50 * 0.2
    print(
        f"2. with_agent [{ctx['vendor']}, {broker} broker] {rows:,} rows, agent 200 ms, "
        f"concurrency 50: POST -> final {elapsed:.1f} s = {elapsed / ideal:.2f} x ideal "
        f"{ideal:.0f} s (goal <= 1.2x); POST -> first call {first:.2f} s (goal <= 0.5); "
        f"{calls} calls; worker peak RSS {peak:.0f} MB; status {run['status']}",
        flush=True,
    )


def scenario_scale_out(ctx, rows: int, broker: str, clusters: int) -> None:
    """An agent allowing more concurrency than one cluster's drainers hold: one cluster,
    then ``clusters`` clusters on the same database and broker."""
    per_drainer = int(os.environ.get("EVALSITE_RUN_DRAINER_CONCURRENCY", "50"))
    workers = int(os.environ.get("Q_WORKERS", "2"))
    concurrency = per_drainer * workers * clusters
    os.environ["EVALSITE_RUN_DRAINER_CONCURRENCY"] = str(per_drainer)
    delay = 0.4
    figures = []
    saved = {name: os.environ.get(name) for name in ("Q_BULK", "Q_QUEUE_LIMIT")}
    if broker == "orm":
        # The ORM broker's pusher takes Q_BULK messages a poll and its cluster keeps up to
        # Q_QUEUE_LIMIT waiting: with the defaults the first cluster to poll takes every
        # drainer message. Redis hands them out in turn to the clusters blocked on it.
        os.environ.update(Q_BULK="1", Q_QUEUE_LIMIT="1")
    for count in (1, clusters):
        run, elapsed, _, calls, _ = run_with_agent(
            ctx, rows, broker, clusters=count, delay=delay, concurrency=concurrency
        )
        held = min(concurrency, per_drainer * workers * count)
        figures.append(elapsed)
        print(
            f"3. scale_out [{ctx['vendor']}, {broker} broker] {rows:,} rows, agent "
            f"{delay * 1000:.0f} ms allowing {concurrency}, {per_drainer} a drainer, "
            f"{workers} workers a cluster, {count} cluster(s): POST -> final {elapsed:.1f} s "
            f"(ideal at {held} in flight {rows / held * delay:.1f} s); {calls} calls; "
            f"status {run['status']}",
            flush=True,
        )
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    print(f"   {clusters} clusters: {figures[0] / figures[1]:.2f} x faster than one", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--agent-rows", type=int, default=2_000)
    parser.add_argument("--brokers", default="orm,redis")
    parser.add_argument("--only", choices=["dataset_only", "with_agent", "scale_out", "memory"])
    parser.add_argument(
        "--memory-rows",
        type=int,
        default=1_000_000,
        help="memory: the large dataset-only run (ORM broker only; 0 skips it)",
    )
    parser.add_argument(
        "--clusters", type=int, default=2, help="scale_out: clusters to compare with one"
    )
    parser.add_argument("--scale-rows", type=int, default=2_000)
    args = parser.parse_args()

    from bench_datasets import setup_database

    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    os.environ.pop("REDIS_URL", None)
    # The fake agent listens on loopback; the product refuses loopback unless allowed.
    os.environ["EVALSITE_ALLOW_LOOPBACK"] = "1"
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        vendor, cleanup = setup_database(tmp)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        import django

        django.setup()
        try:
            from django.contrib.auth import get_user_model
            from django.core.management import call_command

            from projects.models import Membership, Project
            from projects.services import api_key_create

            call_command("migrate", verbosity=0)
            user = get_user_model().objects.create_user("bench", password="bench")
            project = Project.objects.create(name="Bench", slug="bench")
            Membership.objects.create(project=project, user=user, role="admin")
            _, key = api_key_create(user=user, name="bench")
            ctx = {"tmp": tmp, "user": user, "project": project, "key": key, "vendor": vendor}
            print(f"database: {vendor}; qcluster workers {os.environ.get('Q_WORKERS', '2')}")
            for broker in args.brokers.split(","):
                if broker == "redis":
                    if not redis_reachable(redis_url):
                        print(f"   (Redis at {redis_url} does not answer: redis broker skipped)")
                        continue
                    os.environ["REDIS_URL"] = redis_url
                else:
                    os.environ.pop("REDIS_URL", None)
                peak = None
                if args.only in (None, "dataset_only"):
                    peak = scenario_dataset_only(ctx, args.rows, broker)
                if args.only in (None, "with_agent"):
                    scenario_with_agent(ctx, args.agent_rows, broker)
                if args.only in (None, "scale_out") and args.clusters > 1:
                    scenario_scale_out(ctx, args.scale_rows, broker, args.clusters)
                if args.only in (None, "memory") and args.memory_rows and broker == "orm":
                    scenario_memory(ctx, args.rows, args.memory_rows, broker, peak)
        finally:
            os.environ.pop("REDIS_URL", None)
            cleanup()


if __name__ == "__main__":
    main()
