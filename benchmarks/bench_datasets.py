"""Datasets benchmark: import, release, export and the version page at 100,000 rows.

Run:  .venv/bin/python benchmarks/bench_datasets.py [--rows 100000]
Uses a throwaway database: a temporary SQLite file, or, when DATABASE_URL points at
PostgreSQL, a temporary database created next to it and dropped at the end.

Goals (2-core machine): import a 100,000-row, 5-column CSV (~200 bytes a row) in <= 10 s
with peak RSS < 300 MB; export >= 50,000 rows/s with flat memory; version page first and
deep page <= 100 ms.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import statistics
import string
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_csv(path: Path, rows: int) -> int:
    rng = random.Random(7)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(500)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "question", "context", "answer", "category"])
        for i in range(rows):
            writer.writerow(
                [
                    f"row-{i}",
                    " ".join(rng.choices(words, k=8)) + "?",
                    " ".join(rng.choices(words, k=16)),
                    " ".join(rng.choices(words, k=4)),
                    rng.choice(["billing", "shipping", "product", "account"]),
                ]
            )
    return path.stat().st_size


def setup_database(tmp: Path):
    """Point Django at a throwaway database; returns a cleanup callable."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        os.environ["EVALSITE_SQLITE_PATH"] = str(tmp / "bench.sqlite3")
        return "sqlite", lambda: None
    import psycopg

    name = f"evalsite_bench_{os.getpid()}"
    admin = psycopg.connect(url, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    base = url.rsplit("/", 1)[0]
    os.environ["DATABASE_URL"] = f"{base}/{name}"
    os.environ.setdefault("SECRET_KEY", "benchmark-only-" + os.urandom(16).hex())

    def drop():
        from django.db import connections

        connections.close_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return "postgresql", drop


def timed_get(client, url: str, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        vendor, cleanup = setup_database(tmp)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")
        import django

        django.setup()
        try:
            run(tmp, vendor, args.rows)
        finally:
            cleanup()


def run(tmp: Path, vendor: str, rows: int) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    from datasets import exporting, services
    from projects.models import Membership, Project, Role

    call_command("migrate", verbosity=0)
    csv_path = tmp / "rows.csv"
    size = make_csv(csv_path, rows)
    print(
        f"database: {vendor}; file: {rows} rows, {size / rows:.0f} bytes a row, {size / 1e6:.1f} MB"
    )

    user = get_user_model().objects.create_user("bench", password="bench")
    project = Project.objects.create(name="Bench", slug="bench")
    Membership.objects.create(user=user, project=project, role=Role.ADMIN)
    dataset = services.dataset_create(project=project, name="Bench", user=user)
    draft = services.version_create_draft(dataset=dataset, user=user)

    rss_before = rss_mb()
    start = time.perf_counter()
    with csv_path.open("rb") as stream:
        report = services.version_import(version=draft, stream=stream, filename="rows.csv")
    seconds = time.perf_counter() - start
    print(
        f"import: {report.rows_imported} rows in {seconds:.2f} s "
        f"({report.rows_imported / seconds:,.0f} rows/s); peak RSS {rss_mb():.0f} MB "
        f"(before import {rss_before:.0f} MB)  [goal <= 10 s, < 300 MB]"
    )

    start = time.perf_counter()
    released = services.version_release(version=draft, user=user)
    print(f"release (columns, checksum): {time.perf_counter() - start:.2f} s")

    start = time.perf_counter()
    copy = services.version_create_draft(dataset=dataset, from_version=released, user=user)
    print(
        f"new draft copied in the database: {time.perf_counter() - start:.2f} s "
        f"({copy.row_count} rows)"
    )

    for fmt in ("csv", "jsonl", "json"):
        start = time.perf_counter()
        total = sum(len(chunk) for chunk in exporting.export_stream(released, fmt))
        seconds = time.perf_counter() - start
        tracemalloc.start()  # a second pass measures memory (tracing slows it down)
        for _ in exporting.export_stream(released, fmt):
            pass
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"export {fmt}: {rows / seconds:,.0f} rows/s ({total / 1e6:.1f} MB in "
            f"{seconds:.2f} s), peak Python allocations {peak / 1e6:.1f} MB  "
            "[goal >= 50,000 rows/s, flat]"
        )

    client = Client()
    client.force_login(user)
    page = reverse("datasets:version", args=[project.pk, dataset.pk, released.pk])
    client.get(page)  # warm caches
    print(f"version page, first page: {timed_get(client, page):.1f} ms (median of 5)")
    deep = rows - 100
    print(
        f"version page, deep page (?after={deep}): "
        f"{timed_get(client, f'{page}?after={deep}'):.1f} ms"
    )
    print(f"version page, go to row {deep}: {timed_get(client, f'{page}?row={deep}'):.1f} ms")
    print(
        f"version page, search: {timed_get(client, f'{page}?q=row-99999', 3):.1f} ms "
        "(scans the rows; no goal)"
    )
    api = f"/v1/datasets/{dataset.pk}/versions/{released.pk}/items?limit=100"
    print(f"API items page: {timed_get(client, api):.1f} ms")
    print("  [goal: pages <= 100 ms]")


if __name__ == "__main__":
    main()
