"""Site-wide pages and the smaller items a new user hit: a styled 404 inside the layout and a
500 page, the favicon, the admin's plural, the run page's figures, JSON workflow config."""

from __future__ import annotations

import re

from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.views.defaults import server_error

from runs.models import EvaluationRun, RunEntry
from runs.progress import run_progress


def test_a_missing_page_is_styled_inside_the_layout(web, project):
    response = web.get(f"/projects/{project.pk}/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert 'class="topbar"' in html and "Page not found" in html
    assert "css/evalsite.css" in html


def test_the_server_error_page_is_styled():
    response = server_error(RequestFactory().get("/"))
    html = response.content.decode()
    assert response.status_code == 500
    assert 'class="topbar"' in html and "Something went wrong" in html


def test_the_favicon_is_served_without_logging_in(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("favicon.svg")


def test_every_page_links_the_favicon(web, project):
    html = web.get(reverse("runs:list", args=[project.pk])).content.decode()
    assert 'rel="icon"' in html


def test_the_admin_says_run_entries(web, owner, dataset_run):
    assert RunEntry._meta.verbose_name_plural == "run entries"
    owner.is_staff = owner.is_superuser = True
    owner.save()
    html = web.get(f"/admin/runs/evaluationrun/{dataset_run.pk}/change/").content.decode()
    assert "Run entries" in html and "Run entrys" not in html


def test_a_finished_run_shows_its_duration_not_a_rate_after_a_rerun(finished_run):
    finished_run.started_at = timezone.now() - timezone.timedelta(hours=3)
    progress = run_progress(finished_run)
    assert progress["rate"] is None
    assert progress["duration_seconds"] >= 3 * 3600 - 5


def test_a_pending_run_does_not_show_zero_of_zero(web, project, owner, trace_version):
    from tests.runs_ui.conftest import start_dataset_run

    run = start_dataset_run(project, owner, trace_version)
    assert EvaluationRun.objects.get(pk=run.pk).total_tasks == 0
    html = web.get(reverse("runs:detail", args=[project.pk, run.pk])).content.decode()
    assert "0 / 0" not in html
    assert "Planning 6 rows" in html
    listing = web.get(reverse("runs:list", args=[project.pk])).content.decode()
    assert "0 / 0" not in listing and "Planning 6 rows" in listing


def test_cancel_asks_for_confirmation(web, project, owner, trace_version):
    from tests.runs_ui.conftest import start_dataset_run

    run = start_dataset_run(project, owner, trace_version)
    html = web.get(reverse("runs:detail", args=[project.pk, run.pk])).content.decode()
    form = re.search(r'<form[^>]*/cancel/"[^>]*>', html).group(0)
    assert "data-confirm=" in form


def test_a_trace_run_has_one_status_column_per_meaning(web, dataset_run):
    html = web.get(reverse("runs:detail", args=[dataset_run.project_id, dataset_run.pk])).content
    header = re.search(r"<thead>.*?</thead>", html.decode(), re.S).group(0)
    labels = [
        re.sub(r"<[^>]+>", "", h).strip().lower()
        for h in re.findall(r"<th[^>]*>.*?</th>", header, re.S)
    ]
    assert labels.count("status") == 1 and "row status" in labels


def test_workflow_config_is_shown_as_json(web, project, agent):
    html = web.get(reverse("workflows:detail", args=[project.pk, agent.pk])).content.decode()
    assert "&quot;callable&quot;: &quot;workflows.demo_agent.answer_question&quot;" in html
    assert "&#x27;callable&#x27;" not in html
