"""The test cases page: list, create from the UI, edit into a new version, run against
agents, their runs, and the star metric's trend across those runs."""

from __future__ import annotations

import re

from django.urls import reverse

from runs.models import EvaluationRun, EvaluationTestCase
from tests.runs_ui.conftest import QA_ROWS, builtin, execute, release


def _data(qa_version, **extra):
    data = {
        "name": "Warranty questions",
        "description": "What support must always get right.",
        "dataset": str(qa_version.dataset_id),
        "metrics": [str(builtin("contains").id), str(builtin("levenshtein_similarity").id)],
        "star": str(builtin("contains").id),
        "threshold": "0.5",
    }
    data.update(extra)
    return data


def test_create_a_test_case_from_the_ui(web, project, qa_version):
    url = reverse("runs:test_cases", args=[project.pk])
    assert "No test cases yet" in web.get(url).content.decode()
    response = web.post(url, _data(qa_version))
    case = EvaluationTestCase.objects.get(project=project)
    assert response.status_code == 302
    assert case.version == 1 and case.star_metric["success_threshold"] == 0.5
    html = web.get(url).content.decode()
    assert "Warranty questions" in html


def test_bad_input_is_a_form_error_and_creates_nothing(web, project, qa_version):
    url = reverse("runs:test_cases", args=[project.pk])
    response = web.post(url, _data(qa_version, name="", metrics=[]))
    assert response.status_code == 400
    assert not EvaluationTestCase.objects.exists()


def test_viewers_cannot_create(viewer_web, project, qa_version):
    url = reverse("runs:test_cases", args=[project.pk])
    assert viewer_web.post(url, _data(qa_version)).status_code == 403
    assert not EvaluationTestCase.objects.exists()


def test_edit_run_against_agents_and_see_the_trend(web, project, owner, agent):
    # The test case maps inputs by name: a dataset with the usual column names.
    rows = [{"question": r["question"], "ground_truth_answer": r["answer"]} for r in QA_ROWS]
    qa_version = release(project, owner, rows, name="Support questions (named)")
    # (Token F1's expected input is required, so the test case's run maps it.)
    only_contains = {
        "metrics": [str(builtin("squad_f1").id)],
        "star": str(builtin("squad_f1").id),
    }
    web.post(reverse("runs:test_cases", args=[project.pk]), _data(qa_version, **only_contains))
    case = EvaluationTestCase.objects.get(project=project)
    url = reverse("runs:test_case", args=[project.pk, case.pk])
    response = web.post(url, _data(qa_version, name="Warranty questions (strict)", **only_contains))
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.version == 2
    run_url = reverse("runs:test_case_run", args=[project.pk, case.pk])
    for _ in range(2):
        assert web.post(run_url, {"agents": [str(agent.id)]}).status_code == 302
    runs = list(EvaluationRun.objects.filter(test_case=case))
    assert len(runs) == 2 and all(r.test_case_version == 2 for r in runs)
    for run in runs:
        execute(run)
    html = web.get(url).content.decode()
    assert html.count("<circle") == 2
    assert re.search(r'<polyline points="[\d., ]+"', html)
    assert "v1" in html and "v2" in html  # the versions table
    assert "Warranty questions (strict) · Acme support agent (Python)" in html


def test_running_without_an_agent_says_so(web, project, qa_version):
    web.post(reverse("runs:test_cases", args=[project.pk]), _data(qa_version))
    case = EvaluationTestCase.objects.get(project=project)
    response = web.post(reverse("runs:test_case_run", args=[project.pk, case.pk]), {}, follow=True)
    assert "Choose at least one agent" in response.content.decode()
    assert not EvaluationRun.objects.exists()
