"""Comparing runs: paired bootstrap deltas, verdicts respecting inverted metrics, per-row
regressions and improvements, and the page."""

from __future__ import annotations

import numpy as np
from django.urls import reverse

from runs.compare import paired_bootstrap, runs_compare
from runs.models import MetricResult
from tests.runs_ui.conftest import execute, start_dataset_run, start_workflow_run


def test_the_bootstrap_is_reproducible_and_detects_a_real_shift():
    rng = np.random.default_rng(1)
    base = rng.normal(0.5, 0.1, 200)
    shifted = base + 0.05 + rng.normal(0, 0.02, 200)
    first = paired_bootstrap(base, shifted)
    assert first == paired_bootstrap(base, shifted)
    assert first.significant and first.ci_low > 0
    same = paired_bootstrap(base, base + rng.normal(0, 0.02, 200))
    assert not same.significant and same.ci_low < 0 < same.ci_high


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
    assert pair.metrics[0].verdict == "no_significant_change"
    assert pair.latency.n == 4


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
    assert "No significant change" in html
    assert "Latency (ms)" in html
    one = web.get(url, {"runs": [a.id]})
    assert one.status_code == 200 and "Pick one more run" in one.content.decode()
    bad = web.get(url, {"runs": [a.id, "not-a-uuid"]})
    assert bad.status_code == 400
