"""Results pages of finished runs are cached (``runs.results_cache``): the ``/v2`` and
``/v1`` results and the UI's results table. A rerun or re-score changes the answer at once,
a rename shows, an active run is never served from the cache, and a user of another project
never gets a cached page (404 as before)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from metrics.models import Metric
from runs import services
from runs.engine import drainer
from runs.models import EvaluationRun, MetricResult, RunStatus, RunTask
from runs.results_cache import pages as cache
from tests.runs.conftest import builtin, exact_match_entry
from tests.runs_api.conftest import execute
from tests.workflows.fake_servers import FakeServer, Reply

pytestmark = pytest.mark.django_db


def v2(api, run):
    response = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}/results", {"per_page": 10})
    assert response.status_code == 200, response.content
    return response.json()


def v1(api, run):
    response = api.get(f"/v1/evaluations/{run.id}/results", {"limit": 10})
    assert response.status_code == 200, response.content
    return response.json()


def v2_values(body) -> list:
    return [
        (p["prompt_id"], [r.get("number_value") for r in p["prompt_level_metric_results"]])
        for p in body["prompts"]
    ]


def v1_statuses(body) -> list:
    return [(row["position"], row["status"]) for row in body["data"]]


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def flaky_run(project, owner, qa_version, make_agent):
    """q1's first agent call fails (HTTP 500); every later call answers."""
    calls: dict[str, int] = {}

    def handler(request):
        question = (request.json or {}).get("question", "")
        calls[question] = calls.get(question, 0) + 1
        if question == "q1" and calls[question] == 1:
            return Reply(500, json={"error": "flaky"})
        return Reply(json={"answer": f"echo: {question}"})

    with FakeServer(handler) as server:
        agent = make_agent(server.url)
        run = services.run_start(
            project=project,
            user=owner,
            name="flaky",
            dataset_version_id=qa_version.id,
            config=[exact_match_entry(agent)],
        )
        run = execute(run)
        yield run, server


def ui_rows(web, run, **query) -> str:
    response = web.get(
        reverse("runs:results", args=[run.project_id, run.pk]), query, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200, response.content[:300]
    return response.content.decode()


def test_a_rerun_changes_the_cached_pages(api, web, flaky_run):
    run, _server = flaky_run
    assert run.status == RunStatus.PARTIALLY_SUCCEEDED
    failed_rows = ui_rows(web, run, status="failed")
    assert failed_rows == ui_rows(web, run, status="failed") and "q1" in failed_rows
    page = web.get(reverse("runs:detail", args=[run.project_id, run.pk]), {"status": "failed"})
    assert "q1" in page.content.decode()
    summaries = web.get(
        reverse("runs:results", args=[run.project_id, run.pk]),
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="run-summaries",
    ).content.decode()
    assert "run-summaries" in summaries
    first_v2, first_v1 = v2(api, run), v1(api, run)
    assert v2(api, run) == first_v2  # the same answer from the cache
    assert (1, "failed") in v1_statuses(first_v1)
    assert dict(v2_values(first_v2))[2] == []  # q1 (prompt 2) has no result

    services.run_rerun(run=run)
    drainer.drain_run(run.id)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED

    assert dict(v2_values(v2(api, run)))[2] == [1.0]
    assert (1, "succeeded") in v1_statuses(v1(api, run))
    assert "q1" not in ui_rows(web, run, status="failed")
    after = web.get(
        reverse("runs:results", args=[run.project_id, run.pk]),
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="run-summaries",
    ).content.decode()
    assert after != summaries  # 5 scored rows now, not 4
    page = web.get(reverse("runs:detail", args=[run.project_id, run.pk]), {"status": "failed"})
    assert "q1" not in page.content.decode()


def test_a_rescore_changes_the_cached_pages(api, finished_run):
    run = finished_run
    task = RunTask.objects.get(run=run, position=0)
    MetricResult.objects.filter(task=task).update(
        number_value=None, error_description="judge timed out"
    )
    EvaluationRun.objects.filter(id=run.id).update(metric_errors=1)
    run.refresh_from_db()
    before = v2(api, run)
    assert before["prompts"][0]["prompt_level_metric_results"][0]["error_description"]
    assert v1(api, run)["data"][0]["metrics"][0]["error_description"] == "judge timed out"

    services.run_rerun(run=run)  # re-scores the row from its stored output
    drainer.drain_run(run.id)
    run.refresh_from_db()

    result = v2(api, run)["prompts"][0]["prompt_level_metric_results"][0]
    assert result["error_description"] == "" and result["number_value"] == 1.0
    metric = v1(api, run)["data"][0]["metrics"][0]
    assert metric["error_description"] == "" and metric["number_value"] == 1.0


def test_a_renamed_metric_shows_on_the_cached_pages(api, project, owner, qa_version, agent):
    metric = builtin("exact_match")
    custom = Metric.objects.get(pk=metric.pk)
    run = execute(
        services.run_start(
            project=project,
            user=owner,
            name="rename",
            dataset_version_id=qa_version.id,
            config=[exact_match_entry(agent)],
        )
    )
    names = {
        r["metric_name"] for p in v2(api, run)["prompts"] for r in p["prompt_level_metric_results"]
    }
    assert names == {custom.name}
    v1(api, run)
    Metric.objects.filter(pk=custom.pk).update(name="Exact match, renamed")
    try:
        names = {
            r["metric_name"]
            for p in v2(api, run)["prompts"]
            for r in p["prompt_level_metric_results"]
        }
        assert names == {"Exact match, renamed"}
        assert v1(api, run)["data"][0]["metrics"][0]["metric_name"] == "Exact match, renamed"
    finally:
        Metric.objects.filter(pk=custom.pk).update(name=custom.name)


def test_an_active_run_is_never_served_from_the_cache(api, finished_run):
    run = finished_run
    EvaluationRun.objects.filter(id=run.id).update(status=RunStatus.RUNNING, finished_at=None)
    run.refresh_from_db()
    before = v1(api, run)
    assert v1_statuses(before)[0] == (0, "succeeded")
    RunTask.objects.filter(run=run, position=0).update(status="failed", error="late")
    assert v1_statuses(v1(api, run))[0] == (0, "failed")
    MetricResult.objects.filter(task__run=run, task__position=0).update(number_value=0.25)
    assert v2_values(v2(api, run))[0] == (1, [0.25])


def test_another_projects_user_never_gets_a_cached_page(
    api, web, outsider_api, outsider_web, finished_run
):
    run = finished_run
    v2(api, run), v1(api, run), ui_rows(web, run)  # cached now
    for path in (
        reverse("runs:results", args=[run.project_id, run.pk]),
        reverse("runs:detail", args=[run.project_id, run.pk]),
    ):
        response = outsider_web.get(path, HTTP_HX_REQUEST="true")
        assert response.status_code == 404, (path, response.status_code)
        assert "echo: q0" not in response.content.decode()
    for path in (
        f"/v2/gen-ai/evaluation_runs/{run.id}/results?per_page=10",
        f"/v1/evaluations/{run.id}/results?limit=10",
    ):
        response = outsider_api.get(path)
        assert response.status_code == 404, (path, response.content[:200])
        assert str(run.id) not in response.content.decode()


def test_pages_and_sizes_are_cached_apart(api, finished_run):
    run = finished_run
    one = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}/results", {"per_page": 2}).json()
    two = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}/results", {"per_page": 2, "page": 2}).json()
    assert [p["prompt_id"] for p in one["prompts"]] == [1, 2]
    assert [p["prompt_id"] for p in two["prompts"]] == [3, 4]
    failed_only = api.get(f"/v1/evaluations/{run.id}/results", {"status": "failed"}).json()
    assert failed_only["data"] == [] and len(v1(api, run)["data"]) == 5


def test_the_page_store_is_bounded_by_bytes_and_drops_the_least_recently_used():
    from runs.results_cache import _ByteBoundedLRU

    store = _ByteBoundedLRU(capacity=10)
    store.set("a", b"aaaa", 60)
    store.set("b", b"bbbb", 60)
    assert store.get("a") == b"aaaa"  # now the most recently used
    store.set("c", b"cccc", 60)  # 12 bytes > 10: "b" goes
    assert store.get("b") is None and store.get("a") == b"aaaa" and store.get("c") == b"cccc"
    assert store.size == 8
    store.set("d", b"d" * 20, 60)  # larger than the whole store: nothing is kept
    assert store.size == 0 and store.get("d") is None
    store.set("e", b"e", -1)  # already expired
    assert store.get("e") is None and store.size == 0
