"""The run page: status, progress, summaries, the results table (sort, filter, pages), the
row drawer, downloads and the actions."""

from __future__ import annotations

import csv
import io
import json
from html import escape

import pytest
from django.urls import reverse

from runs.models import EvaluationRun, RunStatus, RunTask, TaskStatus
from runs.results_table import results_table_page
from tests.runs_ui.conftest import execute, start_dataset_run, start_workflow_run


def url(name, run, *args):
    return reverse(f"runs:{name}", args=[run.project_id, run.pk, *args])


def test_the_run_page_shows_status_progress_summaries_and_results(web, finished_run):
    assert finished_run.status == RunStatus.SUCCEEDED
    html = web.get(url("detail", finished_run)).content.decode()
    assert "Succeeded" in html
    assert "4 / 4" in html
    assert "Pinned versions" in html
    assert "Acme support agent (Python) v1" in html
    assert "Contains" in html and "Levenshtein similarity" in html
    assert 'class="chart"' in html
    assert "How long is the warranty?" in html
    assert "Download results" in html and "disabled" not in html.split("Download results")[0][-80:]
    assert 'hx-trigger="every 2s"' not in html


def test_download_is_disabled_while_running_and_refused(web, project, owner, trace_version):
    run = start_dataset_run(project, owner, trace_version)
    html = web.get(url("detail", run)).content.decode()
    assert 'disabled title="Available when the run has finished">Download results' in html
    assert 'hx-trigger="every 2s"' in html
    response = web.get(url("download", run), {"format": "json"})
    assert response.status_code == 303
    follow = web.get(response["Location"]).content.decode()
    assert "still in progress" in follow


def test_the_status_fragment_stops_polling_and_announces_the_finish(web, finished_run):
    response = web.get(url("status", finished_run), HTTP_HX_REQUEST="true")
    assert response.status_code == 286
    assert response["HX-Trigger"] == "run-finished"
    assert 'id="run-status"' in response.content.decode()


def test_it_downloads_json_csv_and_jsonl(web, finished_run):
    response = web.get(url("download", finished_run), {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment; filename=")
    document = json.loads(b"".join(response.streaming_content))
    assert document["name"] == finished_run.name
    assert len(document["results"]) == 4
    response = web.get(url("download", finished_run), {"format": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["row", "status", "error"]
    assert "dataset.question" in rows[0] and "Contains" in rows[0]
    assert len(rows) == 5
    response = web.get(url("download", finished_run), {"format": "jsonl"})
    lines = b"".join(response.streaming_content).decode().strip().splitlines()
    assert len(lines) == 4 and json.loads(lines[0])["data"]["question"]


def test_results_sort_by_score_and_filter(web, finished_run):
    page = results_table_page(finished_run)
    contains = next(b for b in page.columns.bindings if b.metric_name == "Contains")
    lev = next(b for b in page.columns.bindings if b.metric_name != "Contains")
    ordered = results_table_page(finished_run, sort=f"score:{lev.id}")
    values = [row.score(lev.id).number_value for row in ordered.rows]
    assert values == sorted(values)
    descending = results_table_page(finished_run, sort=f"-score:{lev.id}")
    assert [row.score(lev.id).number_value for row in descending.rows] == sorted(
        values, reverse=True
    )
    below = results_table_page(finished_run, filters={"binding": str(contains.id), "below": 0.5})
    assert all(row.score(contains.id).number_value < 0.5 for row in below.rows)
    text = results_table_page(finished_run, filters={"text": "Norway"})
    assert [row.position for row in text.rows] == [1]
    response = web.get(
        url("results", finished_run),
        {"sort": f"-score:{lev.id}", "q": "Norway"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="results",
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="results"')
    assert "Do you ship to Norway?" in html and "How long is the warranty?" not in html


def test_results_paginate_with_a_cursor(finished_run):
    first = results_table_page(finished_run, limit=3)
    assert [row.position for row in first.rows] == [0, 1, 2] and first.has_more
    second = results_table_page(finished_run, limit=3, after=first.next_after)
    assert [row.position for row in second.rows] == [3] and not second.has_more
    page = results_table_page(finished_run)
    lev = page.columns.bindings[1]
    seen = []
    after = None
    while True:
        part = results_table_page(finished_run, limit=1, sort=f"score:{lev.id}", after=after)
        seen += [row.position for row in part.rows]
        if not part.has_more:
            break
        after = part.next_after
    assert sorted(seen) == [0, 1, 2, 3]


def test_bad_sort_filter_or_cursor_shows_an_error_not_a_500(web, finished_run):
    for params in ({"sort": "score:nope"}, {"after": "zzz"}, {"below": "abc"}):
        response = web.get(url("results", finished_run), params, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        assert "callout-error" in response.content.decode()


def test_failed_rows_filter(web, finished_run):
    RunTask.objects.filter(run=finished_run, position=2).update(
        status=TaskStatus.FAILED, error="agent exploded"
    )
    html = web.get(url("detail", finished_run), {"status": "failed"}).content.decode()
    assert "What does Acme Care cost?" in html
    assert "How long is the warranty?" not in html


def test_a_row_opens_a_drawer_with_everything(web, finished_run):
    response = web.get(url("row", finished_run, 0), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'class="drawer"' in html
    assert "Workflow outputs" in html and "answer" in html
    assert "Contains" in html and "Levenshtein similarity" in html
    page = web.get(url("row", finished_run, 0)).content.decode()
    assert "<html" in page and "Workflow outputs" in page
    assert web.get(url("row", finished_run, 99)).status_code == 404


def test_rerun_without_failures_says_so(web, finished_run):
    response = web.post(url("rerun", finished_run), follow=True)
    assert "No failed tasks to rerun." in response.content.decode()


def test_rerun_reexecutes_failed_rows(web, finished_run):
    RunTask.objects.filter(run=finished_run, position=1).update(status=TaskStatus.FAILED)
    EvaluationRun.objects.filter(pk=finished_run.pk).update(
        failed_tasks=1, succeeded_tasks=3, status=RunStatus.PARTIALLY_SUCCEEDED
    )
    response = web.post(url("rerun", finished_run), follow=True)
    assert "Rerunning the failed tasks" in response.content.decode()
    run = execute_drain(finished_run)
    assert run.status == RunStatus.SUCCEEDED


def capped_run(project, owner, version, agent):
    """The four QA rows with an agent call cap of 2: two rows run, two are not run."""
    run = execute(
        start_workflow_run(project, owner, version, agent, options={"max_agent_calls": 2})
    )
    assert run.cap_reached == "max_agent_calls"
    assert run.status == RunStatus.PARTIALLY_SUCCEEDED
    assert run.agent_calls == 2
    return run


def test_a_run_stopped_at_its_call_cap_is_rerun_from_the_page_with_a_raised_cap(
    web, project, owner, qa_version, agent
):
    run = capped_run(project, owner, qa_version, agent)
    ran_first = set(
        RunTask.objects.filter(run=run, status=TaskStatus.SUCCEEDED).values_list("id", flat=True)
    )
    assert len(ran_first) == 2
    html = web.get(url("detail", run)).content.decode()
    assert 'aria-label="Rerun with caps"' in html
    # Prefilled with the run's current caps (2 agent calls; the others unset).
    assert 'name="max_agent_calls" inputmode="numeric" value="2"' in html
    assert 'name="max_cost" inputmode="decimal" value=""' in html

    form = {"caps_sent": "1", "max_agent_calls": "10", "max_judge_calls": "", "max_tokens": ""}
    response = web.post(url("rerun", run), {**form, "max_cost": "$1.50"}, follow=True)
    assert "Rerunning the failed tasks" in response.content.decode()
    run.refresh_from_db()
    assert (run.max_agent_calls, run.max_cost, run.cap_reached) == (10, 1.5, "")
    run = execute_drain(run)
    assert run.status == RunStatus.SUCCEEDED
    assert run.agent_calls == 4  # the two rows not run, and only those, ran now
    tasks = RunTask.objects.filter(run=run)
    assert tasks.filter(status=TaskStatus.SUCCEEDED).count() == 4
    assert ran_first < set(tasks.values_list("id", flat=True))
    assert not tasks.exclude(error="").exists()


def test_a_run_whose_cap_fitted_every_row_does_not_say_it_stopped(
    web, project, owner, qa_version, agent
):
    run = execute(
        start_workflow_run(project, owner, qa_version, agent, options={"max_agent_calls": 4})
    )
    assert (run.status, run.agent_calls, run.error_description) == (RunStatus.SUCCEEDED, 4, "")
    assert run.cap_reached == ""  # no row was left for the cap to stop
    html = web.get(url("detail", run)).content.decode()
    assert "Stopped at the cap" not in html
    assert 'aria-label="Rerun with caps"' not in html


def test_rerun_with_bad_caps_shows_field_errors_and_changes_nothing(
    web, project, owner, qa_version, agent
):
    run = capped_run(project, owner, qa_version, agent)
    form = {"caps_sent": "1", "max_agent_calls": "lots", "max_cost": "-3"}
    response = web.post(url("rerun", run), {**form, "max_tokens": "", "max_judge_calls": ""})
    assert response.status_code == 400
    html = response.content.decode()
    assert "A whole number, or empty for no cap." in html
    assert "An amount in US dollars (0 or more), or empty for no cap." in html
    assert 'value="lots"' in html  # what was typed is shown back
    run.refresh_from_db()
    assert run.status == RunStatus.PARTIALLY_SUCCEEDED
    assert (run.max_agent_calls, run.cap_reached) == (2, "max_agent_calls")
    assert RunTask.objects.filter(run=run, status=TaskStatus.PENDING).count() == 0


def test_the_run_page_shows_the_star_metrics_threshold(web, finished_run):
    html = web.get(url("detail", finished_run)).content.decode()
    assert "<dt>Star threshold</dt><dd>0.5 " in html


def execute_drain(run):
    from runs.engine import drainer

    drainer.drain_run(run.id)
    run.refresh_from_db()
    return run


def test_cancel_and_delete(web, project, owner, trace_version):
    run = start_dataset_run(project, owner, trace_version)
    response = web.post(url("cancel", run), follow=True)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELED
    assert "Cancel requested" in response.content.decode()
    confirm = web.get(url("delete", run))
    assert "Delete run" in confirm.content.decode()
    response = web.post(url("delete", run), follow=True)
    assert not EvaluationRun.objects.filter(pk=run.pk).exists()
    assert "deleted" in response.content.decode()


def test_viewers_cannot_act(viewer_web, finished_run):
    for name in ("rerun", "cancel", "delete"):
        assert viewer_web.post(url(name, finished_run)).status_code == 403
    html = viewer_web.get(url("detail", finished_run)).content.decode()
    assert "Rerun failed" not in html


def test_dataset_only_run_page(web, dataset_run):
    assert dataset_run.status == RunStatus.SUCCEEDED
    html = web.get(url("detail", dataset_run)).content.decode()
    assert "Dataset only" in html and "Exact match" in html


def test_another_projects_run_is_404(web, project, other_project, outsider, trace_version):
    from tests.runs_ui.conftest import release

    version = release(other_project, outsider, [{"output": "a", "expected": "a"}], name="X")
    other = execute(start_dataset_run(other_project, outsider, version))
    bad = reverse("runs:detail", args=[project.pk, other.pk])
    assert web.get(bad).status_code == 404


def test_a_row_with_some_trials_not_run_shows_the_answer_of_a_trial_that_ran(
    web, project, owner, qa_version, agent
):
    """Three trials per row and a cap of 5 calls: some rows ran only some trials. The row's
    answer cell shows an answer that was given, not a later trial's "Not run"."""
    run = execute(
        start_workflow_run(
            project, owner, qa_version, agent, options={"repetitions": 3, "max_agent_calls": 5}
        )
    )
    assert run.agent_calls == 5
    partial = [
        position
        for position in range(4)
        if 0
        < RunTask.objects.filter(run=run, position=position, status=TaskStatus.SUCCEEDED).count()
        < 3
    ]
    assert partial  # 5 calls over rows of 3 trials: at least one row ran only some
    html = web.get(url("detail", run)).content.decode()
    for position in partial:
        task = RunTask.objects.filter(
            run=run, position=position, status=TaskStatus.SUCCEEDED
        ).first()
        row = html.split(f'aria-label="Open row {position}"', 1)[1].split("</tr>", 1)[0]
        cell = row.split('class="output-cell"', 1)[1].split("</td>", 1)[0]
        assert "Not run" not in cell
        assert escape(task.outputs["answer"][:40]) in cell
        done = RunTask.objects.filter(run=run, position=position, status=TaskStatus.SUCCEEDED)
        assert f"{done.count()} of 3 trials" in row  # beside the row's failed status


def test_rows_a_cap_left_not_run_count_as_failing_for_the_star_metric(
    project, owner, qa_version, agent
):
    """A cap must not make a run pass on the rows it happened to run: the rows it left
    not run count at the worst end of the star metric's range, as errored rows do."""
    run = capped_run(project, owner, qa_version, agent)
    summary = run.summaries[str(run.star_binding_id)]
    assert (summary["count"], summary["not_run"]) == (2, 2)
    assert summary["pass_mean"] == pytest.approx(summary["mean"] * 2 / 4)
    assert summary["pass_mean"] <= 0.5 and run.pass_status is False
    # Raising the cap and rerunning runs the rest: the same rows now decide on their own.
    from runs import services

    rerun = execute(services.run_rerun(run=run, caps={"max_agent_calls": None}))
    summary = rerun.summaries[str(rerun.star_binding_id)]
    assert (summary["count"], summary["not_run"]) == (4, 0)
    assert rerun.pass_status is (summary["mean"] >= 0.5)
