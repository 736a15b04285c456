"""Cost on every read: `/v1` runs' `usage`, `/v2` prompts' `cost` extra, the comparison's cost
delta (service and page), and comparison rows paired by their trial means.

Two runs of three trials per row, executed in-process by the real engine against a real HTTP
fake agent whose answers and token counts vary per call. Every expected figure is computed
here from the shipped price list and the tokens the agent reported, never read back from the
code under test."""

from __future__ import annotations

import statistics

import pytest
from django.urls import reverse

from runs.compare import runs_compare
from runs.models import RunStatus
from tests.runs.conftest import qa_rows
from tests.runs.test_repetitions_caps import VaryingAgent, call_cost, make_agent, start
from tests.runs_ui.conftest import execute
from tests.workflows.fake_servers import FakeServer

ROWS = 8
TRIALS = 3


@pytest.fixture
def two_runs(project, owner, make_dataset):
    """(baseline, candidate) and, per run, {question: ([(in, out) tokens], [answers])} of the
    agent calls that run made."""
    version = make_dataset(qa_rows(ROWS))
    # wrong_every=2: a question's row mean moves between the runs (2/3 <-> 1/3) for most rows.
    agent = VaryingAgent(wrong_every=2)
    runs, calls = [], []
    with FakeServer(agent) as server:
        workflow = make_agent(project, owner, server.url)
        for _ in range(2):
            before = {q: len(v) for q, v in agent.answers.items()}
            run = execute(start(project, owner, version, workflow, repetitions=TRIALS))
            assert run.status == RunStatus.SUCCEEDED
            runs.append(run)
            calls.append(
                {
                    q: (agent.usage_by_question[q][before.get(q, 0) :], answers[before.get(q, 0) :])
                    for q, answers in agent.answers.items()
                }
            )
    for made in calls:
        assert sorted(made) == [f"q{i}" for i in range(ROWS)]
        assert all(len(usage) == TRIALS for usage, _ in made.values())
    return runs, calls


def row_costs(made: dict) -> dict[int, list[float]]:
    """Per dataset position, the cost of each trial's agent call."""
    return {int(q[1:]): [call_cost(i, o) for i, o in usage] for q, (usage, _) in made.items()}


def row_means(made: dict) -> dict[int, float]:
    """Per dataset position, the exact-match mean over the row's trials."""
    return {
        int(q[1:]): statistics.fmean(1.0 if a == f"echo: {q}" else 0.0 for a in answers)
        for q, (_, answers) in made.items()
    }


def test_v1_usage_reports_the_runs_exact_cost_and_tokens(api, two_runs):
    runs, calls = two_runs
    for run, made in zip(runs, calls, strict=True):
        usage = api.get(f"/v1/evaluations/{run.id}").json()["usage"]
        cost = sum(sum(c) for c in row_costs(made).values())
        tokens = sum(i + o for u, _ in made.values() for i, o in u)
        assert usage["agent_calls"] == ROWS * TRIALS and usage["judge_calls"] == 0
        assert usage["tokens"] == tokens
        assert usage["cost"] == pytest.approx(cost, abs=1e-6)  # rounded to 6 decimals
        assert usage["cost"] > 0


def test_v2_prompts_carry_the_rows_cost_summed_over_its_trials(api, two_runs):
    runs, calls = two_runs
    run, costs = runs[1], row_costs(calls[1])
    for position in range(ROWS):
        response = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}/results/{position + 1}")
        assert response.status_code == 200
        prompt = response.json()["prompt"]
        assert prompt["input"] == f"q{position}"
        assert prompt["cost"] == pytest.approx(sum(costs[position]), rel=1e-9)
    page = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}/results?per_page={ROWS}").json()
    assert [p["cost"] for p in page["prompts"]] == pytest.approx(
        [sum(costs[p]) for p in range(ROWS)], rel=1e-9
    )


def test_the_comparison_pairs_rows_by_trial_means_and_reports_the_cost_delta(project, two_runs):
    (baseline, other), calls = two_runs
    pair = runs_compare(project=project, run_ids=[other.id, baseline.id]).pairs[0]
    assert (pair.baseline.id, pair.other.id) == (baseline.id, other.id)  # earliest: baseline

    # Scores: one pair per row (not per trial), each side its row's mean over 3 trials.
    first, second = row_means(calls[0]), row_means(calls[1])
    assert any(first[p] != second[p] for p in range(ROWS))  # the runs really differ
    (exact,) = pair.metrics
    assert exact.delta.n == ROWS
    assert exact.delta.mean_baseline == pytest.approx(statistics.fmean(first.values()))
    assert exact.delta.mean_other == pytest.approx(statistics.fmean(second.values()))
    assert exact.delta.delta == pytest.approx(
        statistics.fmean(second[p] - first[p] for p in range(ROWS))
    )
    assert exact.improved_rows == sum(second[p] > first[p] for p in range(ROWS))
    assert exact.regressed_rows == sum(second[p] < first[p] for p in range(ROWS))
    for change in exact.regressions + exact.improvements:
        assert change.baseline == pytest.approx(first[change.position])
        assert change.other == pytest.approx(second[change.position])

    # Cost: the agent call's cost per row (mean over the trials), and each run's total.
    a, b = row_costs(calls[0]), row_costs(calls[1])
    per_row_a = {p: statistics.fmean(c) for p, c in a.items()}
    per_row_b = {p: statistics.fmean(c) for p, c in b.items()}
    assert pair.cost.n == ROWS
    assert pair.cost.mean_baseline == pytest.approx(statistics.fmean(per_row_a.values()))
    assert pair.cost.mean_other == pytest.approx(statistics.fmean(per_row_b.values()))
    assert pair.cost.delta == pytest.approx(
        statistics.fmean(per_row_b[p] - per_row_a[p] for p in range(ROWS))
    )
    total_a, total_b = sum(map(sum, a.values())), sum(map(sum, b.values()))
    assert pair.total_cost == pytest.approx(
        {"baseline": total_a, "other": total_b, "delta": total_b - total_a}
    )
    assert total_a != total_b  # token counts differ from call to call


def test_the_compare_page_shows_the_cost_delta(web, project, two_runs):
    (baseline, other), calls = two_runs
    a, b = row_costs(calls[0]), row_costs(calls[1])
    per_row_a = statistics.fmean(statistics.fmean(c) for c in a.values())
    per_row_b = statistics.fmean(statistics.fmean(c) for c in b.values())
    total_a, total_b = sum(map(sum, a.values())), sum(map(sum, b.values()))
    url = reverse("runs:compare", args=[project.pk])
    html = web.get(url, {"runs": [baseline.id, other.id]}).content.decode()
    row = html[html.index("Agent cost per row ($)") :].split("</tr>", 1)[0]
    assert f"{per_row_a:.6f}" in row and f"{per_row_b:.6f}" in row
    assert f"{per_row_b - per_row_a:+.6f}" in row
    assert f"n={ROWS}" in row
    total = html[html.index("Run cost, agents and judges ($)") :].split("</tr>", 1)[0]
    assert f"{total_a:.4f}" in total and f"{total_b:.4f}" in total
    assert f"{total_b - total_a:+.4f}" in total
