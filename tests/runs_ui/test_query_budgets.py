"""Query-count budgets for every read of a run's results (netbox's habit): the run page, its
htmx fragments, the row drawer, the downloads, and both API dialects' results. Each read
is made on a small and on a larger run: the count must be the same (no N+1 growing with
rows) and within the budget, so a page cannot silently grow a query per row or per metric."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from runs.models import RunTask, TaskStatus
from runs.results_cache import pages as cache
from runs.results_table import results_table_page
from tests.runs_ui.conftest import execute, release, start_dataset_run, start_workflow_run


def trace_rows(count: int) -> list[dict]:
    return [
        {
            "input": f"q{i}",
            "output": f"a{i}",
            "expected": f"a{i}" if i % 2 == 0 else "other",
            "status": "ok",
            "trace_id": f"t{i}",
        }
        for i in range(count)
    ]


def qa_rows(count: int) -> list[dict]:
    return [{"question": f"How long is warranty {i}?", "answer": "warranty"} for i in range(count)]


@pytest.fixture
def runs_of_two_sizes(project, owner, agent):
    """A dataset-only run and a with-agent run, each at 4 and at 12 rows, with one failed row."""
    made = {}
    for size in (4, 12):
        traces = release(project, owner, trace_rows(size), name=f"Traces {size}")
        questions = release(project, owner, qa_rows(size), name=f"QA {size}")
        dataset_run = execute(start_dataset_run(project, owner, traces, name=f"d{size}"))
        agent_run = execute(start_workflow_run(project, owner, questions, agent, name=f"a{size}"))
        RunTask.objects.filter(run__in=[dataset_run, agent_run], position=1).update(
            status=TaskStatus.FAILED, error="exploded"
        )
        made[size] = (dataset_run, agent_run)
    return made


def ui(name, run, *args):
    return reverse(f"runs:{name}", args=[run.project_id, run.pk, *args])


def count_queries(fetch, *args, cached: bool = False) -> int:
    """Queries of one read; results pages of finished runs are cached
    (``runs.results_cache``): counted cold unless ``cached``."""
    if not cached:
        cache.clear()
    with CaptureQueriesContext(connection) as captured:
        response = fetch(*args)
        assert response.status_code in (200, 286), response.status_code  # 286: htmx, stop polling
        if getattr(response, "streaming", False):
            body = b"".join(response.streaming_content)
            assert body
    return len(captured)


_sorts: dict = {}


def score_sort(run) -> str:
    """Sort by the run's last metric, descending (looked up once, outside the count)."""
    if run.pk not in _sorts:
        binding = results_table_page(run).columns.bindings[-1]
        _sorts[run.pk] = f"-score:{binding.id}"
    return _sorts[run.pk]


# name -> (budget, how to fetch it for a run); the budget is the count measured when it was
# written: raise it only with a reason (the run page and results fragment: +1 for the
# results table's page numbers, a count, which h14's paging added; the run page, its
# fragments: +1 for the read of the run's entries that the cost and caps work added; the
# results pages and prompts: +1 for the page's span-level metric results, one query, h17b).
# Downloads are counted while their stream is read (h19r; before, the budget block ended
# before the body was read, so it counted none of the export's queries): two reads (tasks
# with their results, span results) on server-side cursors, plus on PostgreSQL the
# SAVEPOINT and RELEASE of the transaction those cursors need (SQLite: 9 and 7).
READS = {
    "run page": (18, lambda web, api, run: web.get(ui("detail", run))),
    "run page, failed rows": (
        18,
        lambda web, api, run: web.get(ui("detail", run), {"status": "failed"}),
    ),
    "status fragment": (
        7,
        lambda web, api, run: web.get(ui("status", run), HTTP_HX_REQUEST="true"),
    ),
    "results fragment": (
        15,
        lambda web, api, run: web.get(ui("results", run), HTTP_HX_REQUEST="true"),
    ),
    "results fragment, failed rows by score": (
        18,
        lambda web, api, run: web.get(
            ui("results", run),
            {"status": "failed", "sort": score_sort(run)},
            HTTP_HX_REQUEST="true",
        ),
    ),
    "row drawer": (11, lambda web, api, run: web.get(ui("row", run, 1), HTTP_HX_REQUEST="true")),
    "download json": (11, lambda web, api, run: web.get(ui("download", run), {"format": "json"})),
    "download csv": (11, lambda web, api, run: web.get(ui("download", run), {"format": "csv"})),
    "download jsonl": (11, lambda web, api, run: web.get(ui("download", run), {"format": "jsonl"})),
    "/v1 results": (10, lambda web, api, run: api.get(f"/v1/evaluations/{run.id}/results")),
    "/v1 download": (
        9,
        lambda web, api, run: api.get(f"/v1/evaluations/{run.id}/results/download"),
    ),
    "/v2 results": (
        8,
        lambda web, api, run: api.get(
            f"/v2/gen-ai/evaluation_runs/{run.id}/results", {"per_page": 100}
        ),
    ),
    "/v2 prompt": (
        8,
        lambda web, api, run: api.get(f"/v2/gen-ai/evaluation_runs/{run.id}/results/2"),
    ),
}


@pytest.mark.parametrize("read", list(READS))
def test_reads_stay_within_their_query_budget_at_any_size(
    read, web, api, runs_of_two_sizes, django_assert_max_num_queries
):
    budget, fetch = READS[read]
    for kind in (0, 1):  # dataset-only, with agent
        for size in (4, 12):
            score_sort(runs_of_two_sizes[size][kind])
        small_run, large_run = runs_of_two_sizes[4][kind], runs_of_two_sizes[12][kind]
        fetch(web, api, small_run)  # warm per-process caches (key, session)
        small = count_queries(fetch, web, api, small_run)
        large = count_queries(fetch, web, api, large_run)
        if large > small:
            with CaptureQueriesContext(connection) as captured:
                fetch(web, api, large_run)
            print("\n".join(q["sql"][:300] for q in captured.captured_queries))
        assert large <= small, f"{read}: {small} queries at 4 rows, {large} at 12"
        cache.clear()
        with django_assert_max_num_queries(budget):
            response = fetch(web, api, large_run)
            if getattr(response, "streaming", False):  # a download reads as it streams
                b"".join(response.streaming_content)


# A cached results page (a finished run's, ``runs.results_cache``) still checks the user's
# access to the run and reads its columns (the labels are part of the key), and no more; the
# run page also reads its header, progress and summary cards.
CACHED_READS = {
    "/v1 results": 5,
    "/v2 results": 5,
    "results fragment": 7,
    "results fragment, failed rows by score": 7,
    "run page": 12,
}


@pytest.mark.parametrize("read", list(CACHED_READS))
def test_cached_results_pages_cost_only_the_access_check_and_columns(
    read, web, api, runs_of_two_sizes
):
    _, fetch = READS[read]
    for kind in (0, 1):
        run = runs_of_two_sizes[12][kind]
        cold = count_queries(fetch, web, api, run)
        warm = count_queries(fetch, web, api, run, cached=True)
        assert warm < cold, f"{read}: {warm} queries cached, {cold} cold"
        assert warm <= CACHED_READS[read], f"{read}: {warm} queries cached"
