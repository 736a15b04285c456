"""Evaluation runs engine benchmark, end to end through a real ``qcluster``.

Run:  .venv/bin/python benchmarks/bench_runs.py [--rows 100000] [--agent-rows 2000]
                                                [--overhead-rows 20000] [--only NAME]
                                                [--repetitions K]
Uses a throwaway database: a temporary SQLite file, or, when DATABASE_URL points at
PostgreSQL, a temporary database created next to it and dropped at the end.

Each scenario starts the run with ``runs.services.run_start`` (as the UI and API do) while a
real ``manage.py qcluster`` (default settings: 2 workers, 2 drainers per run) is already up,
and times it from the start call to the run's terminal status.

1. dataset_only: N rows x 3 deterministic metrics. Goal >= 4,000 rows/s, worker peak RSS
   <= 400 MB (VmHWM of every process of the cluster, sampled).
2. with_workflow: 2,000 rows against a local HTTP agent answering in 200 ms, max concurrency
   50. Ideal 2000 / 50 x 0.2 s = 8 s; goal <= 1.2 x ideal. With ``--repetitions K`` every
   row is called K times: ideal K x 8 s.
3. overhead: dataset-only with one cheap metric (exact match): wall time per row in µs,
   through the cluster, and for one drainer in this process (no queue, no second worker).
"""

from __future__ import annotations

import argparse
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

WORDS = ["alpha", "beta", "gamma", "delta", "robot", "vacuum", "warranty", "battery"]


class Cluster:
    """A real qcluster against the benchmark database, with its processes' peak RSS."""

    def __init__(self, log: Path):
        self.log = log
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()

    def __enter__(self):
        env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="evalsite.settings",
            PYTHONUNBUFFERED="1",
            LOG_LEVEL="INFO",
        )
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=open(self.log, "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while "running." not in self.log.read_text(errors="replace"):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text(errors="replace"))
            time.sleep(0.1)
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def _group_pids(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == self.proc.pid:
                        pids.append(int(entry.name))
                except OSError:
                    continue
        return pids

    def _sample(self) -> None:
        while not self._stop.is_set():
            for pid in self._group_pids():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                match = re.search(r"VmHWM:\s+(\d+) kB", status)
                if match:
                    self.peaks[pid] = max(self.peaks.get(pid, 0), int(match.group(1)))
            self._stop.wait(0.5)

    def worker_peak_mb(self) -> float:
        workers = set(map(int, re.findall(r"ready for work at (\d+)", self.log.read_text())))
        values = [kb for pid, kb in self.peaks.items() if pid in workers] or [0]
        return max(values) / 1024

    def __exit__(self, *exc):
        self._stop.set()
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def make_version(project, user, rows: int, name: str):
    from datasets import services as dataset_services

    dataset = dataset_services.dataset_create(project=project, name=name, user=user)
    draft = dataset_services.version_create_draft(dataset=dataset, user=user)
    rng = random.Random(7)
    for offset in range(0, rows, 10_000):
        batch = []
        for i in range(offset, min(rows, offset + 10_000)):
            expected = " ".join(rng.choices(WORDS, k=3))
            output = expected if i % 3 else " ".join(rng.choices(WORDS, k=3))
            batch.append({"question": f"q{i}", "output": output, "expected": expected})
        dataset_services.items_add(version=draft, rows=batch)
    return dataset_services.version_release(version=draft, user=user)


def metric_entry(key: str, response: str) -> dict:
    from metrics.models import Metric

    metric = Metric.objects.get(builtin_key=key, project__isnull=True)
    return {
        "id": str(metric.id),
        "input_transformer": {"selector": {"response": response, "expected": "$.dataset.expected"}},
    }


def wait_terminal(run, timeout: float = 900) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.is_finished:
            return time.perf_counter()
        time.sleep(0.05)
    raise TimeoutError(f"run {run.name} still {run.status}")


def timed_run(project, user, version, config, name: str, *, repetitions: int = 1):
    from runs import services

    started = time.perf_counter()
    run = services.run_start(
        project=project,
        user=user,
        name=name,
        dataset_version_id=version.id,
        config=config,
        options={"repetitions": repetitions},
    )
    finished = wait_terminal(run)
    return run, finished - started


def scenario_dataset_only(ctx, rows: int) -> None:
    version = make_version(ctx["project"], ctx["user"], rows, "dataset-only")
    config = [
        {
            "workflow": None,
            "metrics": [
                metric_entry("exact_match", "$.dataset.output"),
                metric_entry("exact_match_relaxed", "$.dataset.output"),
                metric_entry("levenshtein_similarity", "$.dataset.output"),
            ],
        }
    ]
    with Cluster(ctx["tmp"] / "cluster-dataset-only.log") as cluster:
        run, elapsed = timed_run(ctx["project"], ctx["user"], version, config, "dataset-only")
        peak = cluster.worker_peak_mb()
    rate = rows / elapsed
    print(
        f"1. dataset_only {rows} rows x 3 metrics: {elapsed:.1f} s, {rate:,.0f} rows/s "
        f"(goal >= 4,000), worker peak RSS {peak:.0f} MB (goal <= 400), status {run.status}"
    )


def scenario_with_workflow(ctx, rows: int, repetitions: int = 1) -> None:
    from tests.workflows.fake_servers import FakeServer, Reply
    from workflows import services as workflow_services

    version = make_version(ctx["project"], ctx["user"], rows, "with-workflow")
    answer = Reply(json={"answer": "alpha beta gamma"}, delay=0.2)
    with FakeServer(lambda request: answer) as server:
        workflow = workflow_services.workflow_create(
            project=ctx["project"],
            user=ctx["user"],
            name="bench agent",
            kind="http",
            config={
                "url": server.url,
                "method": "POST",
                "body_template": {"question": "{{question}}"},
                "output_paths": {"answer": "$.answer"},
                "timeout_s": 10,
                "max_retries": 2,
                "max_concurrency": 50,
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
                "metrics": [metric_entry("exact_match", "$.workflow.answer")],
            }
        ]
        with Cluster(ctx["tmp"] / "cluster-with-workflow.log"):
            t0 = time.monotonic()
            run, elapsed = timed_run(
                ctx["project"], ctx["user"], version, config, "agent", repetitions=repetitions
            )
        calls = len(server.requests)
        arrivals = sorted(request.received_at - t0 for request in server.requests)
    ideal = rows * repetitions / 50 * 0.2
    trials = f" x {repetitions} repetitions" if repetitions > 1 else ""
    print(
        f"2. with_workflow {rows} rows{trials}, agent 200 ms, max concurrency 50: {elapsed:.1f} s "
        f"= {elapsed / ideal:.2f} x ideal {ideal:.1f} s (goal <= 1.2x), {calls} calls, "
        f"status {run.status}"
    )
    if arrivals:
        span = arrivals[-1] - arrivals[0] + 0.2
        print(
            f"   start to first call {arrivals[0]:.2f} s; calls span {span:.2f} s "
            f"({calls / span:.0f} calls/s, {calls / span * 0.2:.1f} in flight on average); "
            f"last call to terminal status {elapsed - arrivals[-1] - 0.2:.2f} s"
        )


def scenario_overhead(ctx, rows: int) -> None:
    from runs import services
    from runs.engine import drainer, planning

    version = make_version(ctx["project"], ctx["user"], rows, "overhead")
    config = [{"workflow": None, "metrics": [metric_entry("exact_match", "$.dataset.output")]}]
    with Cluster(ctx["tmp"] / "cluster-overhead.log"):
        run, elapsed = timed_run(ctx["project"], ctx["user"], version, config, "overhead")
    print(
        f"3. overhead, 1 metric, {rows} rows through the cluster: "
        f"{elapsed / rows * 1e6:.0f} µs/row wall ({rows / elapsed:,.0f} rows/s), "
        f"status {run.status}"
    )
    run = services.run_start(
        project=ctx["project"],
        user=ctx["user"],
        name="overhead-inprocess",
        dataset_version_id=version.id,
        config=config,
    )
    started = time.perf_counter()
    planning.plan_run(run.id)
    planned = time.perf_counter()
    drainer.drain_run(run.id, budget_seconds=3600)
    finished = time.perf_counter()
    run.refresh_from_db()
    print(
        f"   one drainer in-process: plan {(planned - started) * 1e6 / rows:.0f} µs/row, "
        f"claim+load+score+write+finish {(finished - planned) * 1e6 / rows:.0f} µs/row "
        f"(total {(finished - started) * 1e6 / rows:.0f} µs/row), status {run.status}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--agent-rows", type=int, default=2_000)
    parser.add_argument("--overhead-rows", type=int, default=20_000)
    parser.add_argument("--only", choices=["dataset_only", "with_workflow", "overhead"])
    parser.add_argument(
        "--repetitions", type=int, default=1, help="trials per row in with_workflow (1-20)"
    )
    args = parser.parse_args()

    from bench_datasets import setup_database

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        vendor, cleanup = setup_database(tmp)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")
        # The fake agents and judges listen on 127.0.0.1, which production refuses.
        os.environ.setdefault("EVALSITE_ALLOW_LOOPBACK", "1")
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        import django

        django.setup()
        try:
            from django.contrib.auth import get_user_model
            from django.core.management import call_command

            from projects.models import Project

            call_command("migrate", verbosity=0)
            user = get_user_model().objects.create_user("bench", password="bench")
            project = Project.objects.create(name="Bench", slug="bench")
            ctx = {"tmp": tmp, "user": user, "project": project}
            print(f"database: {vendor}; qcluster workers {os.environ.get('Q_WORKERS', '2')}")
            if args.only in (None, "dataset_only"):
                scenario_dataset_only(ctx, args.rows)
            if args.only in (None, "with_workflow"):
                scenario_with_workflow(ctx, args.agent_rows, args.repetitions)
            if args.only in (None, "overhead"):
                scenario_overhead(ctx, args.overhead_rows)
        finally:
            cleanup()


if __name__ == "__main__":
    main()
