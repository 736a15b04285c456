"""REST API benchmark on a 100,000-row run, through a real gunicorn on loopback.

Run:  .venv/bin/python benchmarks/bench_api.py [--rows 100000] [--clients 20] [--seconds 15]
Uses a throwaway database: a temporary SQLite file, or, when DATABASE_URL points at
PostgreSQL, a temporary database created next to it and dropped at the end.

Goals (2-core machine):
- ``GET /v2/gen-ai/evaluation_runs/{uuid}/results?per_page=100`` at random pages: p95 <= 100 ms
  under 20 concurrent keep-alive clients (a closed-loop load generator, wrk-style);
- ``GET /v1/evaluations/{id}/results/download`` (JSON) of 100,000 rows at >= 20,000 rows/s
  with the server's memory flat (worker RSS sampled during the download).
Also prints ``GET /v1/evaluations/{id}/results`` (pages of 100), the UI run page and its
results fragments under the same load, and the JSONL and CSV downloads. The load generator
runs on the same machine (its threads share the cores with the server).
``--keep`` reuses a kept database and run (before/after comparisons on the same data).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(workers: int, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "evalsite.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread",
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "evalsite.settings"},
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return proc, base
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not start")


def worker_pids(master: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                pids.append(int(entry.name))
    return pids


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def load(
    base: str, key: str, paths, *, clients: int, seconds: float, cookie: str = ""
) -> list[float]:
    """``clients`` threads, each on one keep-alive connection, for ``seconds``. ``cookie``:
    a session cookie (UI reads) instead of the API key."""
    headers = {"Cookie": cookie, "HX-Request": "true"} if cookie else {}
    if not cookie:
        headers["Authorization"] = f"Bearer {key}"
    host = urlsplit(base)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
        mine = []
        while time.monotonic() < stop:
            path = paths(rng)
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                errors.append(f"{response.status} {path}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. {errors[:3]}")
    return latencies


def report(label: str, latencies: list[float], seconds: float, goal: str = "") -> None:
    ordered = sorted(latencies)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    print(
        f"{label}: {len(ordered)} requests, {len(ordered) / seconds:.0f} req/s, "
        f"p50 {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms{goal}"
    )


def download(base: str, key: str, run_id: str, master: int, rows: int, fmt: str = "json") -> None:
    host = urlsplit(base)
    pids = worker_pids(master)
    before = {pid: rss_mb(pid) for pid in pids}
    peak = dict(before)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for pid in pids:
                peak[pid] = max(peak[pid], rss_mb(pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=300)
    started = time.perf_counter()
    conn.request(
        "GET",
        f"/v1/evaluations/{run_id}/results/download?format={fmt}",
        headers={"Authorization": f"Bearer {key}"},
    )
    response = conn.getresponse()
    size = 0
    while chunk := response.read(1 << 16):
        size += len(chunk)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    assert response.status == 200, response.status
    print(
        f"download {fmt.upper()} over HTTP: {size / 1e6:.1f} MB, {rows} rows in {seconds:.2f} s = "
        f"{rows / seconds:,.0f} rows/s  [goal >= 20,000 rows/s]"
    )
    growth = max(peak[pid] - before[pid] for pid in pids)
    print(
        "server worker RSS before/peak (MB): "
        + ", ".join(f"{before[p]:.0f}/{peak[p]:.0f}" for p in pids)
        + f"; largest growth {growth:.1f} MB  [goal: flat]"
    )


def measure(user, run, rows: int, *, clients: int, seconds: float, workers: int) -> None:
    from django.test import Client

    from projects.services import api_key_create

    _, key = api_key_create(user=user, name="bench")
    web = Client()
    web.force_login(user)
    cookie = f"sessionid={web.cookies['sessionid'].value}"
    proc, base = start_server(workers, threads=max(4, clients // workers))
    try:
        per_page = 100
        pages = (rows + per_page - 1) // per_page
        gradient = f"/v2/gen-ai/evaluation_runs/{run.id}/results"
        load(base, key, lambda rng: f"{gradient}?page=1&per_page={per_page}", clients=2, seconds=2)
        # Cold: random pages, nearly all read for the first time (finished runs' pages are
        # cached per worker process, runs.results_cache); repeat: the same clients read the
        # same sequence of pages again (each worker has its own cache, so some still miss).
        for label in ("first reads", "repeat reads"):
            latencies = load(
                base,
                key,
                lambda rng: f"{gradient}?page={rng.randint(1, pages)}&per_page={per_page}",
                clients=clients,
                seconds=seconds,
            )
            report(
                f"GET …/results?per_page=100 (random pages of {pages}, {label}), {clients} clients",
                latencies,
                seconds,
                "  [goal p95 <= 100 ms]",
            )
        latencies = load(
            base,
            key,
            lambda rng: f"/v1/evaluations/{run.id}/results?limit=100",
            clients=clients,
            seconds=seconds / 2,
        )
        report(
            f"GET /v1/evaluations/{{id}}/results?limit=100, {clients} clients",
            latencies,
            seconds / 2,
            "  [goal p95 <= 100 ms]",
        )
        from django.urls import reverse

        fragment = reverse("runs:results", args=[run.project_id, run.pk])
        for label, path in (
            ("UI run page", reverse("runs:detail", args=[run.project_id, run.pk])),
            ("UI results fragment", fragment),
            ("UI results fragment, failed rows by score", None),
        ):
            if path is None:
                from runs.results_table import results_table_page

                last = results_table_page(run).columns.bindings[-1]
                path = f"{fragment}?status=failed&sort=-score:{last.id}"
            latencies = load(
                base,
                key,
                lambda rng, p=path: p,
                clients=clients,
                seconds=seconds / 2,
                cookie=cookie,
            )
            report(f"{label}, {clients} clients", latencies, seconds / 2, "  [goal p95 <= 100 ms]")
        for fmt in ("json", "jsonl", "csv"):
            download(base, key, str(run.id), proc.pid, rows, fmt)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--keep",
        action="store_true",
        help="use DATABASE_URL as it is (or the SQLite file benchmarks/bench_api.sqlite3) and "
        "keep it, with its run, for the next call: before/after figures on the same data",
    )
    args = parser.parse_args()
    from bench_datasets import setup_database

    with tempfile.TemporaryDirectory() as tmpdir:
        if args.keep:
            vendor = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"
            if vendor == "sqlite":
                os.environ["EVALSITE_SQLITE_PATH"] = str(ROOT / "benchmarks" / "bench_api.sqlite3")
            else:
                from profile_reads import ensure_database

                ensure_database(os.environ["DATABASE_URL"])
            os.environ.setdefault("SECRET_KEY", "benchmarks-only")

            def cleanup():
                return None
        else:
            vendor, cleanup = setup_database(Path(tmpdir))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")
        # The fake agents and judges listen on 127.0.0.1, which production refuses.
        os.environ.setdefault("EVALSITE_ALLOW_LOOPBACK", "1")
        import django

        django.setup()
        try:
            from django.core.management import call_command

            call_command("migrate", verbosity=0)
            print(f"database: {vendor}")
            from bench_results_table import build_run

            from runs.models import EvaluationRun

            run = EvaluationRun.objects.filter(total_tasks=args.rows).first() if args.keep else None
            if run is None:
                user, _project, run, _bindings = build_run(args.rows)
            user = run.started_by
            measure(
                user,
                run,
                args.rows,
                clients=args.clients,
                seconds=args.seconds,
                workers=args.workers,
            )
        finally:
            cleanup()


if __name__ == "__main__":
    main()
