"""Compare side by side: per row the input, the expected answer and each run's output with a
word-level diff, scores and deltas, filterable to regressions; only comparable runs are
offered, and nothing is red before anything is picked."""

from __future__ import annotations

import re

from django.urls import reverse

from runs import services
from runs.compare_rows import word_diff
from runs.models import MetricResult, RunTask
from tests.runs_ui.conftest import builtin, execute, start_dataset_run, start_workflow_run


def test_word_diff_marks_inserted_and_deleted_words():
    segments = word_diff("the warranty lasts two years", "the warranty lasts three years")
    assert ("equal", "the warranty lasts") in segments
    assert ("delete", "two") in segments and ("insert", "three") in segments


def _two_runs(project, owner, qa_version, agent):
    a = execute(start_workflow_run(project, owner, qa_version, agent, name="Baseline run"))
    b = execute(start_workflow_run(project, owner, qa_version, agent, name="Candidate run"))
    task = RunTask.objects.get(run=b, position=1)
    task.outputs = {**task.outputs, "answer": "Completely different reply"}
    task.save(update_fields=["outputs"])
    lev = b.bindings.order_by("position")[1]
    MetricResult.objects.filter(binding=lev, task__position=1).update(number_value=0.0)
    return a, b


def test_rows_side_by_side_with_input_expected_outputs_diff_and_delta(
    web, project, owner, qa_version, agent
):
    a, b = _two_runs(project, owner, qa_version, agent)
    url = reverse("runs:compare", args=[project.pk])
    html = web.get(url, {"runs": [a.id, b.id]}).content.decode()
    section = re.search(r'<section[^>]*id="compare-rows".*?</section>', html, re.S).group(0)
    assert "Do you ship to Norway?" in section  # the input
    assert "European Union" in section  # the expected answer
    assert "<ins>" in section and "Completely different reply" in section
    assert "<del>" in section
    assert re.search(r'class="[^"]*delta negative"', section)


def test_the_rows_filter_to_regressions(web, project, owner, qa_version, agent):
    a, b = _two_runs(project, owner, qa_version, agent)
    url = reverse("runs:compare", args=[project.pk])
    html = web.get(url, {"runs": [a.id, b.id], "rows": "regressions"}).content.decode()
    section = re.search(r'<section[^>]*id="compare-rows".*?</section>', html, re.S).group(0)
    assert "Do you ship to Norway?" in section
    assert "How long is the warranty?" not in section


def test_nothing_is_an_error_before_two_runs_are_picked(web, project, owner, qa_version, agent):
    a = execute(start_workflow_run(project, owner, qa_version, agent, name="Only run"))
    url = reverse("runs:compare", args=[project.pk])
    response = web.get(url, {"runs": [a.id]})
    html = response.content.decode()
    assert response.status_code == 200
    assert "callout-error" not in html
    assert "Pick one more run" in html


def test_only_runs_on_the_same_dataset_version_are_offered(
    web, project, owner, qa_version, trace_version, agent
):
    a = execute(start_workflow_run(project, owner, qa_version, agent, name="QA run"))
    execute(start_workflow_run(project, owner, qa_version, agent, name="QA run two"))
    execute(start_dataset_run(project, owner, trace_version, name="Trace run"))
    url = reverse("runs:compare", args=[project.pk])
    html = web.get(url, {"runs": [a.id]}).content.decode()
    assert "QA run two" in html and "Trace run" not in html
    # With nothing picked, runs are grouped by dataset version, one Compare per group.
    html = web.get(url).content.decode()
    assert html.count('class="compare-group"') == 2


def test_a_dataset_only_baseline_is_not_labelled_with_the_agents_output(
    web, project, owner, qa_version, agent
):
    contains = builtin("contains")
    config = [
        {
            "workflow": None,
            "metrics": [
                {
                    "id": str(contains.id),
                    "input_transformer": {
                        "selector": {"response": "$.dataset.answer", "expected": "$.dataset.answer"}
                    },
                }
            ],
        }
    ]
    base = execute(
        services.run_start(
            project=project,
            user=owner,
            name="Dataset baseline",
            dataset_version_id=qa_version.id,
            config=config,
        )
    )
    other = execute(start_workflow_run(project, owner, qa_version, agent, name="Agent run"))
    url = reverse("runs:compare", args=[project.pk])
    html = web.get(url, {"runs": [base.id, other.id]}).content.decode()
    section = re.search(r'<section[^>]*id="compare-rows".*?</section>', html, re.S).group(0)
    assert "Baseline · Agent run" not in section
    assert "<h5>Agent run" in section
