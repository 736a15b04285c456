"""Results table benchmark: the run page's results table on a 100,000-row run.

Run:  .venv/bin/python benchmarks/bench_results_table.py [--rows 100000]
Uses a throwaway database: a temporary SQLite file, or, when DATABASE_URL points at
PostgreSQL, a temporary database created next to it and dropped at the end.

Goal: the results table's first page and a filtered, score-sorted page render in <= 150 ms
server time (the htmx fragment through the real view, URL routing, templates and all).
Also prints a deep page (keyset cursor far into the run), the row drawer and a JSON download.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def timed(fn, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def build_run(rows: int):
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from datasets import services as dataset_services
    from metrics.catalogue import ensure_builtin_metrics
    from metrics.models import Metric
    from projects.models import Membership, Project, Role
    from runs import services as run_services
    from runs.engine import planning
    from runs.models import EvaluationRun, MetricResult, RunStatus, RunTask, TaskStatus

    ensure_builtin_metrics()
    user = get_user_model().objects.create_user("bench", password="bench")
    project = Project.objects.create(name="Bench", slug="bench")
    Membership.objects.create(user=user, project=project, role=Role.ADMIN)
    dataset = dataset_services.dataset_create(project=project, name="Bench", user=user)
    draft = dataset_services.version_create_draft(dataset=dataset, user=user)
    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "delta", "robot", "vacuum", "warranty", "battery"]
    start = time.perf_counter()
    for offset in range(0, rows, 10_000):
        batch = [
            {
                "question": " ".join(rng.choices(words, k=8)) + f" #{i}?",
                "output": " ".join(rng.choices(words, k=6)),
                "expected": " ".join(rng.choices(words, k=3)),
            }
            for i in range(offset, min(rows, offset + 10_000))
        ]
        dataset_services.items_add(version=draft, rows=batch)
    version = dataset_services.version_release(version=draft, user=user)
    print(f"dataset: {rows} rows in {time.perf_counter() - start:.1f} s")

    metric_ids = [
        Metric.objects.get(builtin_key=key, project__isnull=True).id
        for key in ("levenshtein_similarity", "exact_match")
    ]
    config = [
        {
            "workflow": None,
            "metrics": [
                {
                    "id": str(metric_id),
                    "input_transformer": {
                        "selector": {
                            "response": "$.dataset.output",
                            "expected": "$.dataset.expected",
                        }
                    },
                }
                for metric_id in metric_ids
            ],
        }
    ]
    run = run_services.run_start(
        project=project, user=user, name="bench", dataset_version_id=version.id, config=config
    )
    start = time.perf_counter()
    planning.plan_run(run.id)
    bindings = list(run.bindings.order_by("position"))
    task_ids = list(RunTask.objects.filter(run=run).values_list("id", flat=True))
    with transaction.atomic():
        for offset in range(0, len(task_ids), 20_000):
            chunk = task_ids[offset : offset + 20_000]
            results = []
            for task_id in chunk:
                errored = rng.random() < 0.01
                results.append(
                    MetricResult(
                        run=run,
                        task_id=task_id,
                        binding=bindings[0],
                        number_value=None if errored else rng.random(),
                        error_description="could not score" if errored else "",
                    )
                )
                results.append(
                    MetricResult(
                        run=run,
                        task_id=task_id,
                        binding=bindings[1],
                        number_value=rng.random() < 0.3,
                    )
                )
            MetricResult.objects.bulk_create(results, batch_size=5000)
        RunTask.objects.filter(run=run).update(
            status=TaskStatus.SUCCEEDED, finished_at=timezone.now()
        )
        failed = rng.sample(task_ids, k=len(task_ids) // 50)
        RunTask.objects.filter(id__in=failed[:900]).update(status=TaskStatus.FAILED, error="boom")
        EvaluationRun.objects.filter(id=run.id).update(
            status=RunStatus.PARTIALLY_SUCCEEDED,
            succeeded_tasks=rows - min(900, len(failed)),
            failed_tasks=min(900, len(failed)),
            finished_at=timezone.now(),
        )
    run.refresh_from_db()
    from runs.engine.finish import compute_summaries

    run.summaries, run.pass_status = compute_summaries(run)
    run.save(update_fields=["summaries", "pass_status"])
    print(
        f"run: {rows} tasks and {2 * rows} results written in {time.perf_counter() - start:.1f} s"
    )
    # As the engine does when a large run finishes (PostgreSQL: fresh planner statistics).
    from runs.engine.sql import refresh_planner_statistics
    from runs.models import MetricResult, RunTask

    refresh_planner_statistics(RunTask, MetricResult, rows=rows)
    return user, project, run, bindings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    from bench_datasets import setup_database

    with tempfile.TemporaryDirectory() as tmpdir:
        vendor, cleanup = setup_database(Path(tmpdir))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")
        # The fake agents and judges listen on 127.0.0.1, which production refuses.
        os.environ.setdefault("EVALSITE_ALLOW_LOOPBACK", "1")
        os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
        import django

        django.setup()
        try:
            from django.core.management import call_command

            call_command("migrate", verbosity=0)
            print(f"database: {vendor}")
            measure(*build_run(args.rows))
        finally:
            cleanup()


def measure(user, project, run, bindings) -> None:
    from django.conf import settings
    from django.test import Client
    from django.urls import reverse

    from runs.results_table import results_table_page

    if "testserver" not in settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS.append("testserver")
    client = Client()
    client.force_login(user)
    results_url = reverse("runs:results", args=[project.pk, run.pk])
    htmx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "results"}
    lev = bindings[0]

    def get(params):
        response = client.get(results_url, params, **htmx)
        assert response.status_code == 200, response.status_code
        assert b"callout-error" not in response.content, response.content[:2000]
        return response

    deep = results_table_page(run, limit=50)
    for _ in range(400):  # walk 20,000 rows deep along the cursor
        deep = results_table_page(run, limit=50, after=deep.next_after)
    cases = [
        ("first page (position order)", {}),
        ("sorted by score, descending", {"sort": f"-score:{lev.id}"}),
        (
            "filtered (score below 0.2) + score-sorted",
            {"sort": f"score:{lev.id}", "binding": str(lev.id), "below": "0.2"},
        ),
        ("failed rows + score-sorted", {"sort": f"-score:{lev.id}", "status": "failed"}),
        ("deep page (row ~20,000, keyset)", {"after": deep.after}),
        ("text search 'warranty battery'", {"q": "warranty battery"}),
    ]
    goal = {0, 2}
    for index, (label, params) in enumerate(cases):
        ms = timed(lambda params=params: get(params))
        note = "  [goal <= 150 ms]" if index in goal else ""
        print(f"results table, {label}: {ms:.1f} ms{note}")
    ms = timed(lambda: client.get(reverse("runs:row", args=[project.pk, run.pk, 12345]), **htmx))
    print(f"row drawer: {ms:.1f} ms")
    ms = timed(lambda: client.get(reverse("runs:detail", args=[project.pk, run.pk])), repeat=3)
    print(f"whole run page (summaries + charts + first page): {ms:.1f} ms")
    start = time.perf_counter()
    response = client.get(reverse("runs:download", args=[project.pk, run.pk]), {"format": "json"})
    size = sum(len(chunk) for chunk in response.streaming_content)
    seconds = time.perf_counter() - start
    print(
        f"download JSON: {size / 1e6:.1f} MB in {seconds:.2f} s "
        f"({run.total_tasks / seconds:,.0f} rows/s)"
    )


if __name__ == "__main__":
    main()
