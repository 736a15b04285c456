"""Profile the results reads on a kept 100,000-row run (developer tool, not in run_all.sh).

Run:  DATABASE_URL=postgres://postgres@127.0.0.1:5432/evalsite_reads \
      .venv/bin/python benchmarks/profile_reads.py [--rows 100000] [--profile NAME]
Creates the database and the run on first use and keeps them, so each later call times (and
with --profile, cProfiles) the same reads in-process through the Django test client: the
/v2 results page, the /v1 results page, the run page, its results fragment (failed rows sorted
by score) and the JSON, JSONL and CSV downloads.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")
os.environ.setdefault("EVALSITE_ALLOW_LOOPBACK", "1")
os.environ.setdefault("SECRET_KEY", "benchmarks-only")
os.environ.setdefault("EVALSITE_ENCRYPTION_KEY", "YmVuY2htYXJrcy1vbmx5LW5vdC1hLXNlY3JldC0xMjM=")


def ensure_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--profile", default="")
    parser.add_argument("--only", default="", help="comma-separated reads, e.g. v2,download")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if url:
        ensure_database(url)
    else:
        os.environ.setdefault("EVALSITE_SQLITE_PATH", str(ROOT / "profile_reads.sqlite3"))
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    call_command("migrate", verbosity=0)
    from runs.models import EvaluationRun, RunTask, TaskStatus

    run = EvaluationRun.objects.filter(total_tasks=args.rows).first()
    if run is None:
        from bench_results_table import build_run

        _user, _project, run, _bindings = build_run(args.rows)
        RunTask.objects.filter(run=run, position__in=range(0, args.rows, 97)).update(
            status=TaskStatus.FAILED, error="exploded"
        )
    from projects.services import api_key_create

    user = run.started_by
    _, key = api_key_create(user=user, name="profile")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    web = Client()
    web.force_login(user)
    from runs.results_table import results_table_page

    last = results_table_page(run).columns.bindings[-1]
    pages = args.rows // 100
    reads = {
        "v2": lambda i: api.get(
            f"/v2/gen-ai/evaluation_runs/{run.id}/results?page={(i * 37) % pages + 1}&per_page=100"
        ),
        "v1": lambda i: api.get(f"/v1/evaluations/{run.id}/results?limit=100"),
        "page": lambda i: web.get(reverse("runs:detail", args=[run.project_id, run.pk])),
        "failed_by_score": lambda i: web.get(
            reverse("runs:results", args=[run.project_id, run.pk]),
            {"status": "failed", "sort": f"-score:{last.id}"},
            HTTP_HX_REQUEST="true",
        ),
        **{
            name: (
                lambda i, fmt=fmt: b"".join(
                    web.get(
                        reverse("runs:download", args=[run.project_id, run.pk]), {"format": fmt}
                    ).streaming_content
                )
            )
            for name, fmt in (
                ("download", "json"),
                ("download_jsonl", "jsonl"),
                ("download_csv", "csv"),
            )
        },
    }
    only = [name for name in args.only.split(",") if name]
    reads = {name: read for name, read in reads.items() if not only or name in only}
    for name, read in reads.items():
        repeat = 1 if name.startswith("download") else 7
        read(0)
        times = []
        profiler = cProfile.Profile() if args.profile == name else None
        for i in range(repeat):
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            read(i + 1)
            if profiler:
                profiler.disable()
            times.append((time.perf_counter() - started) * 1000)
        extra = ""
        if name.startswith("download"):
            extra = f" = {args.rows / (times[0] / 1000):,.0f} rows/s"
        print(f"{name}: median {statistics.median(times):.1f} ms (of {repeat}){extra}")
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
