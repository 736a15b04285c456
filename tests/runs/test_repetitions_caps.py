"""Repetitions, caps, cost and the call cache through a real qcluster and real HTTP servers.

The fake agent's answer and token usage vary per call; every expected figure is computed here
from what the agent says it answered, never read back from the code under test."""

from __future__ import annotations

import itertools
import json
import statistics
import threading

import pytest

from metrics import services as metric_services
from runs import services
from runs.engine.budget import NOT_RUN_PREFIX
from runs.models import EvaluationRun, MetricResult, RunStatus, RunTask, TaskStatus
from runs.pricing import shipped_price_list
from runs.trials import binding_trials, row_stats, run_stats
from tests.runs.conftest import builtin, exact_match_entry, qa_rows
from tests.support.processes import qcluster, wait_until
from tests.workflows.fake_servers import FakeServer, Reply, openai_chat
from workflows import services as workflow_services

FINISHED = (
    RunStatus.SUCCEEDED,
    RunStatus.PARTIALLY_SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.CANCELED,
)
MODEL = "gpt-4o-mini"


class VaryingAgent:
    """Answers right or wrong depending on a per-question call counter, with token usage
    that changes from call to call. Records every answer it gave."""

    def __init__(self, *, wrong_every: int = 3):
        self.lock = threading.Lock()
        self.calls: dict[str, int] = {}
        self.answers: dict[str, list[str]] = {}
        self.usage: list[tuple[int, int]] = []
        self.usage_by_question: dict[str, list[tuple[int, int]]] = {}
        self.counter = itertools.count()
        self.wrong_every = wrong_every

    def __call__(self, request) -> Reply:
        question = request.json["question"]
        with self.lock:
            n = self.calls.get(question, 0)
            self.calls[question] = n + 1
            k = next(self.counter)
            number = int(question[1:])
            # A different pattern per question: some always right, some mixed.
            right = (n + number) % self.wrong_every != 0 if number % 4 else True
            answer = f"echo: {question}" if right else f"wrong {n}"
            self.answers.setdefault(question, []).append(answer)
            usage = (1000 + (k * 37) % 500, 100 + (k * 11) % 100)
            self.usage.append(usage)
            self.usage_by_question.setdefault(question, []).append(usage)
        return Reply(
            json={
                "answer": answer,
                "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
            }
        )


def wait_finished(run, cluster, *, timeout=240):
    def done():
        run.refresh_from_db()
        return run.status in FINISHED

    wait_until(done, timeout=timeout, message=f"run to finish\n{cluster.log()[-3000:]}")
    return run


def make_agent(project, owner, url, *, concurrency=8, model=MODEL):
    return workflow_services.workflow_create(
        project=project,
        user=owner,
        name="Varying agent",
        kind="http",
        config={
            "url": url,
            "model": model,
            "method": "POST",
            "body_template": {"question": "{{question}}"},
            "output_paths": {"answer": "$.answer"},
            "input_tokens_path": "$.usage.input_tokens",
            "output_tokens_path": "$.usage.output_tokens",
            "timeout_s": 10,
            "max_retries": 0,
            "max_concurrency": concurrency,
        },
        inputs=[{"name": "question", "description": "", "required": True}],
        outputs=[{"name": "answer", "description": ""}],
    )


def start(project, owner, version, workflow, **options):
    return services.run_start(
        project=project,
        user=owner,
        name="run",
        dataset_version_id=version.id,
        config=[exact_match_entry(workflow)],
        star_metric={"metric_id": str(builtin("exact_match").id), "threshold": 0.5},
        options=options,
    )


def price():
    return shipped_price_list()["models"][MODEL]


def call_cost(input_tokens, output_tokens) -> float:
    p = price()
    return (input_tokens * p.input_per_million + output_tokens * p.output_per_million) / 1e6


def judge_params(base_url: str, **extra) -> dict:
    return {
        "preset": "correctness",
        "base_url": base_url + "v1",
        "model": MODEL,
        "score_min": 1,
        "score_max": 5,
        "max_retries": 0,
        "timeout_s": 5,
        **extra,
    }


def make_judge(project, owner, base_url: str):
    return metric_services.metric_create(
        project=project,
        user=owner,
        name="Judge",
        implementation="llm_judge",
        params=judge_params(base_url),
    )


def judge_metric(judge) -> dict:
    """The judge bound to a config entry: it scores the agent's answer."""
    return {
        "id": str(judge.id),
        "input_transformer": {
            "selector": {
                "question": "$.dataset.question",
                "expected": "$.dataset.ground_truth_answer",
                "response": "$.workflow.answer",
            }
        },
    }


def assert_within_the_reservation_rule(uses: list[float], cap: float, *, concurrency: int):
    """The reservation rule for the token and cost caps (runs.engine.budget): a row reserves
    the most any settled row has used; only rows claimed when the last reservation was
    granted can overshoot, each by what it used above its reservation (<= max - min), and one
    drainer holds at most 2 x concurrency claimed rows (its window: one round running, one
    ready). And the cap was really reached: not even one more of the costliest rows fitted."""
    spent = sum(uses)
    assert spent <= cap + 2 * concurrency * (max(uses) - min(uses)) + 1e-12
    assert spent + max(uses) > cap
    return spent


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_repetitions_store_every_trial_with_mean_stddev_and_pass_at_k(project, owner, make_dataset):
    version = make_dataset(qa_rows(12))
    agent = VaryingAgent()
    judge_reply = openai_chat(content='{{"score": 4, "reasoning": "ok"}}', prompt_tokens=50)
    with FakeServer(agent) as server, FakeServer(judge_reply) as judge_server:
        judge = make_judge(project, owner, judge_server.url)
        workflow = make_agent(project, owner, server.url)
        entry = exact_match_entry(workflow)
        entry["metrics"].append(judge_metric(judge))
        with qcluster() as cluster:
            run = services.run_start(
                project=project,
                user=owner,
                name="five trials",
                dataset_version_id=version.id,
                config=[entry],
                star_metric={"metric_id": str(builtin("exact_match").id), "threshold": 0.5},
                options={"repetitions": 5, "cache_judge_calls": False},
            )
            run = wait_finished(run, cluster)

    assert run.repetitions == 5
    assert run.total_tasks == 60
    assert len(server.requests) == 60  # five independent agent calls per row
    assert len(judge_server.requests) == 60  # the judge scored every trial
    assert all(len(a) == 5 for a in agent.answers.values())
    assert RunTask.objects.filter(run=run).values("item_id", "trial").distinct().count() == 60
    assert run.status == RunStatus.SUCCEEDED

    binding = run.bindings.get(position=0)
    stored = binding_trials(
        binding.id, entry_id=binding.entry_id, run_id=run.id, not_run_prefix="!"
    )
    # Expected per question, from what the agent answered (trial order does not matter for
    # mean / stddev / pass counts).
    items = dict(RunTask.objects.filter(run=run).values_list("item_id", "item__data__question"))
    expected_rows = []
    for item_id, by_trial in stored.items():
        question = items[item_id]
        values = [1.0 if a == f"echo: {question}" else 0.0 for a in agent.answers[question]]
        assert sorted(by_trial.values()) == sorted(values)
        got = row_stats([by_trial[t] for t in range(5)], threshold=0.5)
        mean = sum(values) / 5
        assert got["mean"] == pytest.approx(mean)
        assert got["stddev"] == pytest.approx(statistics.stdev(values))
        assert (got["min"], got["max"]) == (min(values), max(values))
        assert got["pass_at_k"] == (max(values) >= 0.5)
        assert got["pass_all_k"] == (min(values) >= 0.5)
        expected_rows.append(values)
    assert any(0 < sum(v) < 5 for v in expected_rows)  # some rows really vary
    assert any(sum(v) == 5 for v in expected_rows)

    summary = run.summaries[str(binding.id)]["trials"]
    means = [sum(v) / 5 for v in expected_rows]
    assert summary["mean"] == pytest.approx(statistics.fmean(means))
    half = 2.201 * statistics.stdev(means) / len(means) ** 0.5  # t(0.975, 11)
    assert summary["ci95"] == pytest.approx(
        [statistics.fmean(means) - half, statistics.fmean(means) + half]
    )
    assert summary["pass_at_k"] == pytest.approx(sum(max(v) >= 0.5 for v in expected_rows) / 12)
    assert summary["pass_all_k"] == pytest.approx(sum(min(v) >= 0.5 for v in expected_rows) / 12)
    consistent = sum(1 for v in expected_rows if len(set(v)) == 1) / 12
    assert summary["consistency"] == pytest.approx(consistent)
    assert run_stats([row_stats(v, threshold=0.5) for v in expected_rows], thresholded=True)[
        "consistency"
    ] == pytest.approx(consistent)

    # Cost: every agent call priced from its own tokens, judges from theirs.
    agent_cost = sum(call_cost(i, o) for i, o in agent.usage)
    judge_cost = 60 * call_cost(50, 2)
    assert run.agent_calls == 60 and run.judge_calls == 60
    assert run.cost_used == pytest.approx(agent_cost + judge_cost)
    assert run.tokens_used == sum(i + o for i, o in agent.usage) + 60 * 52
    judge_binding = run.bindings.get(position=1)
    assert run.summaries[str(judge_binding.id)]["cost"] == pytest.approx(judge_cost)
    task_costs = sorted(RunTask.objects.filter(run=run).values_list("cost", flat=True))
    assert task_costs == pytest.approx(sorted(call_cost(i, o) for i, o in agent.usage))

    # Reads: the results table shows one row per item with the trials' mean and spread, the
    # drawer every trial, downloads one line per trial.
    from runs import exports
    from runs.results_table import results_table_page, run_result_row

    page = results_table_page(run, limit=50)
    assert len(page.rows) == 12
    for row in page.rows:
        question = row.data["question"]
        values = [1.0 if a == f"echo: {question}" else 0.0 for a in agent.answers[question]]
        cell = row.score(binding.id)
        assert cell.number_value == pytest.approx(sum(values) / 5)
        assert cell.stddev == pytest.approx(statistics.stdev(values))
        assert sorted(cell.trials) == sorted(values)
        assert cell.pass_at_k == (max(values) >= 0.5)
    drawer = run_result_row(run, 3)
    assert sorted(t["trial"] for t in drawer["tasks"]) == [0, 1, 2, 3, 4]
    download = b"".join(exports.run_results_download(run, fmt="jsonl").streaming_content)
    lines = [json.loads(line) for line in download.splitlines()]
    assert len(lines) == 60
    assert sorted({line["trial"] for line in lines}) == [0, 1, 2, 3, 4]
    assert all(line["workflow"]["cost"] is not None for line in lines)

    # /v2 prompts are rows: the row-level aggregate (mean over trials), trials as an extra.
    from runs import selectors
    from runs.api.gradient_shapes import RunContext, prompt_dict

    rows = selectors.run_prompt_rows(run, entry_id=binding.entry_id, start=0, stop=12)
    prompts = [prompt_dict(task, results, RunContext(run)) for task, results in rows]
    assert [p["prompt_id"] for p in prompts] == list(range(1, 13))
    assert selectors.prompt_total(run, 1) == 12
    for prompt in prompts:
        question = prompt["input"]
        values = [1.0 if a == f"echo: {question}" else 0.0 for a in agent.answers[question]]
        exact = prompt["prompt_level_metric_results"][0]
        assert exact["number_value"] == pytest.approx(sum(values) / 5)
        assert sorted(prompt["trials"][str(binding.id)]) == sorted(values)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_cost_cap_stops_a_2000_row_run_at_the_cap_with_concurrency_50(project, owner, make_dataset):
    version = make_dataset(qa_rows(2000))
    agent = VaryingAgent()
    cap = 0.10
    with FakeServer(agent) as server:
        workflow = make_agent(project, owner, server.url, concurrency=50)
        with qcluster() as cluster:
            run = wait_finished(start(project, owner, version, workflow, max_cost=cap), cluster)

    costs = [call_cost(i, o) for i, o in agent.usage]
    spent = assert_within_the_reservation_rule(costs, cap, concurrency=50)
    called = len(server.requests)
    assert run.agent_calls == called
    assert run.cost_used == pytest.approx(spent)
    overshoot = max(0.0, spent - cap)
    assert 0 < called < 2000
    assert run.status == RunStatus.PARTIALLY_SUCCEEDED
    assert run.cap_reached == "max_cost"
    not_run = RunTask.objects.filter(run=run, error__startswith=NOT_RUN_PREFIX).count()
    assert not_run == 2000 - called
    assert run.error_description.startswith(
        f"Stopped at the cost cap of $0.10 after {called:,} of 2,000 rows"
    )
    assert run.reserved_cost == 0 and run.reserved_agent_calls == 0
    print(f"cost cap ${cap}: spent ${spent:.6f} over {called} rows, overshoot ${overshoot:.6f}")
    # Cost per row stored on every row that was called.
    assert RunTask.objects.filter(run=run, cost__isnull=False).count() == called


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_call_cap_is_exact_and_a_rerun_with_a_raised_cap_continues(project, owner, make_dataset):
    version = make_dataset(qa_rows(2000))
    agent = VaryingAgent()
    with FakeServer(agent) as server:
        workflow = make_agent(project, owner, server.url, concurrency=50)
        with qcluster() as cluster:
            run = wait_finished(
                start(project, owner, version, workflow, max_agent_calls=300), cluster
            )
            assert len(server.requests) == 300  # exactly the cap, never one more
            assert run.agent_calls == 300
            assert run.cap_reached == "max_agent_calls"
            assert run.status == RunStatus.PARTIALLY_SUCCEEDED
            assert run.error_description.startswith(
                "Stopped at the agent call cap of 300 after 300 of 2,000 rows"
            )
            assert RunTask.objects.filter(run=run, status=TaskStatus.SUCCEEDED).count() == 300
            called_first = set(
                RunTask.objects.filter(run=run, status=TaskStatus.SUCCEEDED).values_list(
                    "id", flat=True
                )
            )

            run = services.run_rerun(run=run, caps={"max_agent_calls": 1000})
            run = wait_finished(run, cluster)
            assert len(server.requests) == 1000
            assert run.agent_calls == 1000
            assert run.cap_reached == "max_agent_calls"
            assert run.error_description.startswith("Stopped at the agent call cap of 1,000")

            run = services.run_rerun(run=run, caps={"max_agent_calls": None})
            run = wait_finished(run, cluster)

    assert len(server.requests) == 2000  # every row called once in all: the rerun continued
    assert len(set(r.json["question"] for r in server.requests)) == 2000
    assert run.status == RunStatus.SUCCEEDED
    assert run.cap_reached == ""
    assert run.error_description == ""
    assert run.agent_calls == 2000
    assert called_first <= set(
        RunTask.objects.filter(run=run, status=TaskStatus.SUCCEEDED).values_list("id", flat=True)
    )


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_judge_call_cap_is_exact_with_concurrency_50(project, owner, make_dataset):
    version = make_dataset(qa_rows(600))
    agent = VaryingAgent()
    judge_reply = openai_chat(content='{{"score": 4}}', prompt_tokens=40, completion_tokens=4)
    with FakeServer(agent) as server, FakeServer(judge_reply) as judge_server:
        workflow = make_agent(project, owner, server.url, concurrency=50)
        entry = exact_match_entry(workflow)
        entry["metrics"].append(judge_metric(make_judge(project, owner, judge_server.url)))
        with qcluster() as cluster:
            run = services.run_start(
                project=project,
                user=owner,
                name="judge cap",
                dataset_version_id=version.id,
                config=[entry],
                options={"max_judge_calls": 150, "cache_judge_calls": False},
            )
            run = wait_finished(run, cluster)

    # The rule for call caps: a row reserves 1 call per judge bound to it before it is
    # claimed, so the judge is never called once more than the cap.
    assert len(judge_server.requests) == 150
    assert run.judge_calls == 150
    # A row runs whole or not at all: the agent ran for exactly the rows the judge scored.
    assert len(server.requests) == run.agent_calls == 150
    assert run.status == RunStatus.PARTIALLY_SUCCEEDED
    assert run.cap_reached == "max_judge_calls"
    assert run.error_description.startswith(
        "Stopped at the judge call cap of 150 after 150 of 600 rows"
    )
    assert RunTask.objects.filter(run=run, status=TaskStatus.SUCCEEDED).count() == 150
    not_run = RunTask.objects.filter(run=run, error__startswith=NOT_RUN_PREFIX)
    assert not_run.count() == 450
    assert not_run.first().error == "Not run: the judge call cap of 150 was reached."
    assert run.reserved_judge_calls == 0 and run.reserved_agent_calls == 0


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_token_cap_stops_a_run_within_the_reservation_rule(project, owner, make_dataset):
    version = make_dataset(qa_rows(1000))
    agent = VaryingAgent()
    cap = 300_000  # about 220 of the agent's 1,100-1,600-token calls
    with FakeServer(agent) as server:
        workflow = make_agent(project, owner, server.url, concurrency=50)
        with qcluster() as cluster:
            run = wait_finished(start(project, owner, version, workflow, max_tokens=cap), cluster)

    tokens = [i + o for i, o in agent.usage]
    spent = assert_within_the_reservation_rule(tokens, cap, concurrency=50)
    called = len(server.requests)
    assert run.tokens_used == spent
    assert run.agent_calls == called
    assert 0 < called < 1000
    assert run.status == RunStatus.PARTIALLY_SUCCEEDED
    assert run.cap_reached == "max_tokens"
    assert run.error_description.startswith(
        f"Stopped at the token cap of 300,000 after {called:,} of 1,000 rows"
    )
    not_run = RunTask.objects.filter(run=run, error__startswith=NOT_RUN_PREFIX)
    assert not_run.count() == 1000 - called
    assert run.reserved_tokens == 0 and run.reserved_agent_calls == 0
    print(f"token cap {cap:,}: used {spent:,} over {called} rows, overshoot {spent - cap:,}")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_cached_rerun_makes_no_agent_calls_and_a_version_change_misses(
    project, owner, make_dataset
):
    version = make_dataset(qa_rows(20))
    agent = VaryingAgent()
    with FakeServer(agent) as server:
        workflow = make_agent(project, owner, server.url)
        with qcluster() as cluster:
            first = wait_finished(
                start(project, owner, version, workflow, cache_agent_calls=True), cluster
            )
            assert len(server.requests) == 20
            assert first.cached_calls == 0
            second = wait_finished(
                start(project, owner, version, workflow, cache_agent_calls=True), cluster
            )
            assert len(server.requests) == 20  # zero agent calls
            assert second.agent_calls == 0 and second.cost_used == 0
            assert second.cached_calls == 20
            assert second.cached_cost_saved == pytest.approx(first.cost_used)
            assert RunTask.objects.filter(run=second, cached=True).count() == 20

            # Same answers, same scores as the run that made the calls.
            def scores(run):
                return sorted(
                    MetricResult.objects.filter(run=run).values_list(
                        "task__position", "number_value"
                    )
                )

            assert scores(second) == scores(first)

            # Without the cache option the agent is called again.
            wait_finished(start(project, owner, version, workflow), cluster)
            assert len(server.requests) == 40

            # A new workflow version misses the cache.
            config = dict(workflow.latest_version().config, timeout_s=9)
            workflow_services.workflow_version_create(workflow=workflow, user=owner, config=config)
            third = wait_finished(
                start(project, owner, version, workflow, cache_agent_calls=True), cluster
            )
            assert len(server.requests) == 60
            assert third.cached_calls == 0 and third.agent_calls == 20


@pytest.mark.django_db
def test_run_options_are_checked(project, owner, make_dataset):
    from django.core.exceptions import ValidationError

    version = make_dataset(qa_rows(3))
    for options, field in (
        ({"repetitions": 0}, "repetitions"),
        ({"repetitions": 21}, "repetitions"),
        ({"repetitions": "two"}, "repetitions"),
        ({"max_cost": -1}, "max_cost"),
        ({"max_agent_calls": 1.5}, "max_agent_calls"),
        ({"cache_agent_calls": "maybe"}, "cache_agent_calls"),
    ):
        with pytest.raises(ValidationError) as caught:
            services.run_start(
                project=project,
                user=owner,
                name="bad",
                dataset_version_id=version.id,
                config=[exact_match_entry(None, response="$.dataset.ground_truth_answer")],
                options=options,
            )
        assert field in caught.value.message_dict
    assert not EvaluationRun.objects.exists()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_judge_calls_are_cached_by_default_and_a_new_judge_version_misses(
    project, owner, make_dataset
):
    version = make_dataset(qa_rows(15))
    agent = VaryingAgent()
    judge_reply = openai_chat(content='{{"score": 3}}', prompt_tokens=40, completion_tokens=4)
    with FakeServer(agent) as server, FakeServer(judge_reply) as judge_server:
        judge = make_judge(project, owner, judge_server.url)
        workflow = make_agent(project, owner, server.url)

        def run_once(cluster):
            run = services.run_start(
                project=project,
                user=owner,
                name="judged",
                dataset_version_id=version.id,
                config=[
                    {
                        "workflow": {
                            "id": str(workflow.id),
                            "input_transformer": {"selector": {"question": "$.dataset.question"}},
                        },
                        "metrics": [judge_metric(judge)],
                    }
                ],
                options={"cache_agent_calls": True},  # same answers -> same judge inputs
            )
            return wait_finished(run, cluster)

        with qcluster() as cluster:
            first = run_once(cluster)
            assert len(judge_server.requests) == 15 and first.judge_calls == 15
            second = run_once(cluster)
            assert len(server.requests) == 15  # agent answers cached too
            assert len(judge_server.requests) == 15  # every judge score came from the cache
            assert second.judge_calls == 0 and second.cached_calls == 30
            assert second.cost_used == 0
            assert second.cached_cost_saved == pytest.approx(first.cost_used)
            assert (
                sorted(
                    MetricResult.objects.filter(run=second).values_list("number_value", flat=True)
                )
                == [3.0] * 15
            )
            # A new judge version (another prompt) misses the cache.
            metric_services.metric_version_create(
                metric=judge,
                user=owner,
                params=judge_params(judge_server.url, criteria="Be strict."),
            )
            third = run_once(cluster)
            assert len(judge_server.requests) == 30 and third.judge_calls == 15
