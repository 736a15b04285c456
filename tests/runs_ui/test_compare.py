"""Comparing runs: the paired sign-flip test (checked against scipy in
test_compare_statistics.py), verdicts respecting inverted metrics and the minimum of paired
rows, per-row regressions and improvements, the plain-dict pair comparison, and the page."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from runs.compare import MIN_PAIRED_ROWS, paired_difference, runs_compare, runs_compare_pair
from runs.models import MetricResult
from tests.runs_ui.conftest import (
    QA_ROWS,
    execute,
    release,
    start_dataset_run,
    start_workflow_run,
)


def test_the_test_is_reproducible_and_detects_a_real_shift():
    rng = np.random.default_rng(1)
    base = rng.normal(0.5, 0.1, 200)
    shifted = base + 0.05 + rng.normal(0, 0.02, 200)
    first = paired_difference(base, shifted)
    assert first == paired_difference(base, shifted)
    assert first.significant and first.ci_low > 0 and first.p_value < 0.001
    assert first.method == "monte_carlo" and first.effect_size > 1
    same = paired_difference(base, base + rng.normal(0, 0.02, 200))
    assert not same.significant and same.ci_low < 0 < same.ci_high and same.p_value > 0.05


def test_comparing_two_runs_of_the_same_agent(project, owner, qa_version, agent):
    first = execute(start_workflow_run(project, owner, qa_version, agent, name="A"))
    second = execute(start_workflow_run(project, owner, qa_version, agent, name="B"))
    # make B worse on one row for the Levenshtein metric
    binding = second.bindings.order_by("position")[1]
    MetricResult.objects.filter(binding=binding, task__position=0).update(number_value=0.0)
    comparison = runs_compare(project=project, run_ids=[first.id, second.id])
    pair = comparison.pairs[0]
    names = [m.name for m in pair.metrics]
    assert names == ["Contains", "Levenshtein similarity"]
    lev = pair.metrics[1]
    assert lev.delta.delta < 0
    assert lev.regressed_rows == 1 and lev.regressions[0].position == 0
    # 4 paired rows are fewer than the minimum: no verdict, whatever the numbers say
    assert {m.verdict for m in pair.metrics} == {"not_enough_data"}
    assert pair.latency.n == 4


def _worse_everywhere(run):
    """Drop the run's Levenshtein score to 0 on every row (the agent answered well)."""
    binding = run.bindings.order_by("position")[1]
    MetricResult.objects.filter(binding=binding).update(number_value=0.0)
    return binding


def test_two_paired_rows_are_never_significant(project, owner, qa_version, agent):
    first = execute(start_workflow_run(project, owner, qa_version, agent, name="A"))
    second = execute(start_workflow_run(project, owner, qa_version, agent, name="B"))
    binding = _worse_everywhere(second)
    # only rows 0 and 1 keep a value in B: 2 paired rows, both worse
    MetricResult.objects.filter(binding=binding, task__position__gte=2).update(
        number_value=None, error_description="could not score"
    )
    lev = runs_compare(project=project, run_ids=[first.id, second.id]).pairs[0].metrics[1]
    assert lev.delta.n == 2 and lev.delta.delta < 0
    assert lev.verdict == "not_enough_data" and lev.verdict_label == "Not enough paired rows"
    assert lev.delta.p_value == 0.5  # exact: 2 of the 4 sign vectors are as extreme


def test_one_of_forty_rows_improved_is_no_change_with_p_one():
    baseline = np.zeros(40)
    other = baseline.copy()
    other[7] = 1.0
    delta = paired_difference(baseline, other)
    assert delta.n == 40 and delta.delta == pytest.approx(0.025)
    assert delta.p_value == 1.0  # one non-zero difference: every flip is as extreme
    assert not delta.significant and delta.ci_low <= 0 <= delta.ci_high


TWELVE_ROWS = QA_ROWS * 3


def test_a_significant_change_shows_its_test_and_n(web, project, owner, agent):
    version = release(project, owner, TWELVE_ROWS, name="Twelve questions")
    a = execute(start_workflow_run(project, owner, version, agent, name="Baseline run"))
    b = execute(start_workflow_run(project, owner, version, agent, name="Candidate run"))
    _worse_everywhere(b)
    lev = runs_compare(project=project, run_ids=[a.id, b.id]).pairs[0].metrics[1]
    assert lev.delta.n == 12 >= MIN_PAIRED_ROWS
    assert lev.delta.method == "exact" and lev.delta.p_value == pytest.approx(2 / 4096)
    assert lev.verdict == "regressed" and lev.delta.ci_high < 0
    html = web.get(reverse("runs:compare", args=[project.pk]), {"runs": [a.id, b.id]})
    page = html.content.decode()
    assert "Significantly worse" in page
    assert "sign-flip, exact · n=12 · p = 0.00049" in page

    data = runs_compare_pair(project=project, baseline_id=a.id, other_id=b.id)
    json.dumps(data)  # plain, JSON-ready
    assert data["baseline"]["id"] == str(a.id) and data["other"]["id"] == str(b.id)
    by_name = {m["metric"]["name"]: m for m in data["metrics"]}
    lev_dict = by_name["Levenshtein similarity"]
    assert lev_dict["verdict"] == "regressed" and lev_dict["n"] == 12
    assert lev_dict["test"] == "Paired sign-flip permutation test (exact)"
    assert lev_dict["p_value"] == pytest.approx(2 / 4096) and lev_dict["effect_size_dz"] < 0
    assert data["test"]["min_paired_rows"] == MIN_PAIRED_ROWS
    reverse_pair = runs_compare_pair(project=project, baseline_id=b.id, other_id=a.id)
    flipped = {m["metric"]["name"]: m for m in reverse_pair["metrics"]}
    assert flipped["Levenshtein similarity"]["verdict"] == "improved"
    with pytest.raises(ValidationError):
        runs_compare_pair(project=project, baseline_id=a.id, other_id=a.id)


def test_it_refuses_runs_on_different_dataset_versions(
    web, project, owner, qa_version, trace_version, agent
):
    a = execute(start_workflow_run(project, owner, qa_version, agent, name="A"))
    b = execute(start_dataset_run(project, owner, trace_version, name="B"))
    response = web.get(reverse("runs:compare", args=[project.pk]), {"runs": [a.id, b.id]})
    assert response.status_code == 400
    assert "same dataset version" in response.content.decode()


def test_the_compare_page(web, project, owner, qa_version, agent):
    a = execute(start_workflow_run(project, owner, qa_version, agent, name="Baseline run"))
    b = execute(start_workflow_run(project, owner, qa_version, agent, name="Candidate run"))
    url = reverse("runs:compare", args=[project.pk])
    empty = web.get(url).content.decode()
    assert "Pick two or more runs" in empty
    html = web.get(url, {"runs": [a.id, b.id]}).content.decode()
    assert "Candidate run" in html and "95% CI" in html
    assert "Not enough paired rows" in html and "n=4" in html
    assert "Significantly" not in html
    assert "Latency (ms)" in html
    one = web.get(url, {"runs": [a.id]})
    assert one.status_code == 200 and "Pick one more run" in one.content.decode()
    bad = web.get(url, {"runs": [a.id, "not-a-uuid"]})
    assert bad.status_code == 400
