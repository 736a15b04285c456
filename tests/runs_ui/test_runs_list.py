"""The runs list: columns, filters, live polling that stops, empty states, access."""

from __future__ import annotations

from django.urls import reverse

from runs.models import EvaluationRun, RunStatus
from tests.runs_ui.conftest import start_dataset_run


def list_url(project):
    return reverse("runs:list", args=[project.pk])


def test_it_lists_runs_with_the_seed_columns(web, project, finished_run):
    response = web.get(list_url(project))
    assert response.status_code == 200
    html = response.content.decode()
    for heading in ("Name", "Status", "Started by", "Started at", "Dataset", "Progress", "Pass"):
        assert f">{heading}</th>" in html
    assert finished_run.name in html
    assert "Support questions" in html
    assert "Run evaluation" in html
    assert 'hx-trigger="every 2s"' not in html  # nothing active: no polling


def test_it_polls_while_a_run_is_active_and_stops_after(web, project, owner, trace_version):
    run = start_dataset_run(project, owner, trace_version)
    html = web.get(list_url(project)).content.decode()
    assert 'hx-trigger="every 2s"' in html
    rows = web.get(reverse("runs:list_rows", args=[project.pk]), HTTP_HX_REQUEST="true")
    assert rows.status_code == 200
    assert "Pending" in rows.content.decode()
    EvaluationRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED)
    rows = web.get(reverse("runs:list_rows", args=[project.pk]), HTTP_HX_REQUEST="true")
    assert rows.status_code == 286  # HttpResponseStopPolling, with the final rows
    assert "Succeeded" in rows.content.decode()
    assert "every 2s" not in rows.content.decode()


def test_it_filters_by_status_dataset_and_name(web, project, finished_run, dataset_run):
    html = web.get(list_url(project), {"q": "trac"}).content.decode()
    assert dataset_run.name in html and finished_run.name not in html
    dataset_id = finished_run.dataset_version.dataset_id
    html = web.get(list_url(project), {"dataset": str(dataset_id)}).content.decode()
    assert finished_run.name in html and "Traces" not in html
    html = web.get(list_url(project), {"status": "failed"}).content.decode()
    assert "No runs match these filters" in html


def test_the_filter_fragment_is_just_the_table(web, project, finished_run):
    response = web.get(
        list_url(project), {"q": "With"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="runs-table"
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="runs-table">')
    assert "<html" not in html


def test_an_empty_project_says_what_to_do_next(web, project):
    html = web.get(list_url(project)).content.decode()
    assert "No evaluation runs yet" in html
    assert "release a dataset" in html.lower()


def test_viewers_read_but_cannot_start(viewer_web, project, finished_run):
    html = viewer_web.get(list_url(project)).content.decode()
    assert finished_run.name in html
    assert "Run evaluation" not in html
    assert viewer_web.get(reverse("runs:new", args=[project.pk])).status_code == 403


def test_outsiders_get_404(outsider_web, project, finished_run):
    assert outsider_web.get(list_url(project)).status_code == 404
    url = reverse("runs:detail", args=[project.pk, finished_run.pk])
    assert outsider_web.get(url).status_code == 404
