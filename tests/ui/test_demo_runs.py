"""The demo seed includes two finished runs on one dataset version — one with the Python
demo agent, one dataset-only — so the first screen shows results and a comparison."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from projects.demo import DEMO_PASSWORD, DEMO_USERNAME, seed_demo
from runs.compare import runs_compare
from runs.demo import DATASET_ONLY, WITH_AGENT
from runs.models import EvaluationRun, RunMode


def test_the_seed_runs_two_demo_runs_once(db):
    project, lines = seed_demo()
    assert any(WITH_AGENT in line for line in lines)
    runs = {run.name: run for run in EvaluationRun.objects.filter(project=project)}
    assert set(runs) == {WITH_AGENT, DATASET_ONLY}
    assert runs[WITH_AGENT].mode == RunMode.WITH_WORKFLOW
    assert runs[DATASET_ONLY].mode == RunMode.DATASET_ONLY
    assert all(run.is_finished and run.succeeded_tasks == 50 for run in runs.values())
    comparison = runs_compare(project=project, run_ids=[r.id for r in runs.values()])
    assert [m.name for m in comparison.pairs[0].metrics][0] == "Token F1 (SQuAD)"
    seed_demo()
    assert EvaluationRun.objects.filter(project=project).count() == 2


def test_the_first_screen_shows_the_demo_runs(db):
    project, _ = seed_demo()
    client = Client()
    assert client.login(username=DEMO_USERNAME, password=DEMO_PASSWORD)
    html = client.get(reverse("runs:list", args=[project.pk])).content.decode()
    assert WITH_AGENT in html and DATASET_ONLY in html
