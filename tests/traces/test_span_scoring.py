"""Span-level metric bindings: a metric bound to the spans of a type scores each of them
(one traces.SpanMetricResult per span), the row result is their mean, and both API dialects
show the per-span results."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from datasets.models import Dataset
from runs import services as run_services
from runs.models import EvaluationRun, MetricBinding, MetricResult, RunStatus
from tests.runs.conftest import builtin, make_dataset  # noqa: F401 - a fixture
from tests.runs_api.test_pydo import pydo_client
from tests.support.processes import qcluster, wait_until, web_server
from traces import demo
from traces.models import SpanMetricResult

TOOL = "TRACE_SPAN_TYPE_TOOL"
LLM = "TRACE_SPAN_TYPE_LLM"
FINISHED = {RunStatus.SUCCEEDED, RunStatus.PARTIALLY_SUCCEEDED, RunStatus.FAILED}


def demo_version(project, owner):
    demo.seed(project=project, user=owner)
    return Dataset.objects.get(project=project, name=demo.DATASET_NAME).versions.get()


def span_judge(project, owner, url: str, name: str, prompt: str):
    """An LLM judge whose prompt names span variables (so it scores spans) at ``url``."""
    from metrics import services as metric_services

    return metric_services.metric_create(
        project=project,
        user=owner,
        name=name,
        implementation="llm_judge",
        params={"base_url": url, "model": "judge-1", "max_retries": 0, "prompt": prompt},
    )


def start(project, owner, version, metrics):
    return run_services.run_start(
        project=project,
        user=owner,
        name="span metrics over production traces",
        dataset_version_id=version.id,
        config=[{"workflow": None, "metrics": metrics}],
    )


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_tool_span_metric_over_the_demo_traces_fills_span_level_results(project, owner, api):
    version = demo_version(project, owner)
    succeeded = builtin("span_tool_call_succeeded")
    tokens = builtin("span_llm_tokens_under")
    run = start(
        project,
        owner,
        version,
        [
            {"id": str(succeeded.id), "span_type": TOOL},
            {"id": str(tokens.id), "span_type": LLM},
        ],
    )
    tool_binding = MetricBinding.objects.get(run=run, metric_version__metric=succeeded)
    assert tool_binding.span_type == TOOL
    assert tool_binding.input_selector == {"trace": "$.dataset.trace"}
    with qcluster() as cluster:

        def done():
            run.refresh_from_db()
            return run.status in FINISHED

        wait_until(done, timeout=90, message=f"run to finish\n{cluster.log()[-3000:]}")
    assert run.status == RunStatus.SUCCEEDED, run.error_description

    # Demo chats 2 and 4 call a tool (the second one fails); 1 and 3 call none.
    spans = {
        (r.task.item.data["input"], r.span_index): (r.span_id, r.number_value)
        for r in SpanMetricResult.objects.filter(binding=tool_binding).select_related("task__item")
    }
    assert sorted(value for _, value in spans.values()) == [0.0, 1.0]
    assert all(span_id for span_id, _ in spans.values())
    rows = dict(
        MetricResult.objects.filter(binding=tool_binding).values_list(
            "task__item__data__input", "number_value"
        )
    )
    assert len(rows) == 2 and sorted(rows.values()) == [0.0, 1.0]  # not applicable: no row
    # Every chat has one LLM span, all within 4000 tokens.
    assert SpanMetricResult.objects.filter(binding__run=run, binding__span_type=LLM).count() == 4

    # /v2: each prompt's tool span carries its result; other spans carry none of it.
    response = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}/results?per_page=10")
    assert response.status_code == 200, response.content
    tool_results = {}
    for prompt in response.json()["prompts"]:
        for span in prompt["evaluation_trace_spans"]:
            names = [r["metric_name"] for r in span["span_level_metric_results"]]
            if span["type"] == TOOL:
                assert names == [succeeded.name]
                tool_results[prompt["input"]] = span["span_level_metric_results"][0]
            elif span["type"] == LLM:
                assert names == [tokens.name]
            else:
                assert names == []
    assert sorted(r.get("number_value") for r in tool_results.values()) == [0.0, 1.0]
    # The same through DigitalOcean's own client, pydo, against a live server.
    with web_server() as base:
        do = pydo_client(base, api.raw_key).genai
        page = do.get_evaluation_run_results(str(run.id), per_page=10)
    through_pydo = sorted(
        result.get("number_value")
        for prompt in page["prompts"]
        for span in prompt["evaluation_trace_spans"]
        if span["type"] == TOOL
        for result in span["span_level_metric_results"]
    )
    assert through_pydo == [0.0, 1.0]
    failed = next(r for r in tool_results.values() if r.get("number_value") == 0.0)
    assert "failed" in failed["reasoning"]

    # /v1: the run-level summary aggregates the spans; the download carries them per row.
    response = api.get(f"/v1/evaluations/{run.id}/metrics")
    assert response.status_code == 200, response.content
    summary = next(s for s in response.json()["data"] if s["binding_id"] == str(tool_binding.id))
    assert summary["span_summary"]["spans"] == 2
    assert summary["span_summary"]["failing_share"] == 0.5
    response = api.get(f"/v1/evaluations/{run.id}/results?limit=10")
    assert response.status_code == 200, response.content
    paged = [
        span["number_value"]
        for row in response.json()["data"]
        for metric in row["metrics"]
        if metric["binding_id"] == str(tool_binding.id)
        for span in metric.get("span_results", [])
    ]
    assert sorted(paged) == [0.0, 1.0]
    response = api.get(f"/v1/evaluations/{run.id}/results/download?format=json")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    import json

    document = json.loads(body)
    rows = document["results"] if isinstance(document, dict) else document
    carried = [
        entry["span_results"]
        for row in rows
        for entry in row["metrics"].values()
        if entry["binding_id"] == str(tool_binding.id) and entry.get("span_results")
    ]
    assert sorted(s["number_value"] for spans in carried for s in spans) == [0.0, 1.0]


@pytest.mark.django_db
def test_span_targets_are_checked_at_start(project, owner):
    version = demo_version(project, owner)
    succeeded = builtin("span_tool_call_succeeded")
    exact = builtin("exact_match")
    cases = [
        ({"id": str(succeeded.id)}, "set span_type"),
        ({"id": str(succeeded.id), "span_type": "TOOL"}, "span_type must be one of"),
        ({"id": str(exact.id), "span_type": TOOL}, "scores rows, not spans"),
    ]
    for metric, message in cases:
        with pytest.raises(ValidationError) as raised:
            start(project, owner, version, [metric])
        assert message in str(raised.value.message_dict), raised.value.message_dict
    assert not EvaluationRun.objects.exists()


@pytest.mark.django_db
def test_the_v1_create_body_rejects_a_bad_span_type_with_a_400(project, owner, api):
    version = demo_version(project, owner)
    succeeded = builtin("span_tool_call_succeeded")
    response = api.post(
        "/v1/evaluations",
        {
            "name": "bad span target",
            "project_id": str(project.id),
            "dataset_id": str(version.dataset_id),
            "dataset_version_id": str(version.id),
            "config": [
                {"workflow": None, "metrics": [{"id": str(succeeded.id), "span_type": "x"}]}
            ],
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "span_type" in response.content.decode()
    assert not EvaluationRun.objects.exists()


@pytest.mark.django_db
def test_a_with_workflow_run_scores_the_agents_reported_spans(project, owner, api):
    from runs.engine import drainer, planning
    from tests.runs.conftest import qa_rows
    from tests.workflows.fake_servers import FakeServer, echo_agent
    from workflows import services as workflow_services

    version = _dataset(project, owner, qa_rows(2))
    latency = builtin("span_llm_latency_under")
    with FakeServer(echo_agent()) as server:
        agent = _make_agent(project, owner, server.url, workflow_services)
        run = run_services.run_start(
            project=project,
            user=owner,
            name="agent spans",
            dataset_version_id=version.id,
            config=[
                {
                    "workflow": {
                        "id": str(agent.id),
                        "input_transformer": {"selector": {"question": "$.dataset.question"}},
                    },
                    "metrics": [{"id": str(latency.id), "span_type": LLM}],
                }
            ],
        )
        binding = MetricBinding.objects.get(run=run)
        assert binding.input_selector == {"trace": "$.workflow.spans"}
        planning.plan_run(run.id)
        drainer.drain_run(run.id)
    # The echo agent reports one short-form "llm" span without a latency: each span's
    # result says so, and the row result is an error (no span could be scored).
    spans = list(SpanMetricResult.objects.filter(binding=binding))
    assert len(spans) == 2 and all(s.span_index == 0 for s in spans)
    assert all("has no latency" in s.error_description for s in spans)
    rows = list(MetricResult.objects.filter(binding=binding))
    assert len(rows) == 2 and all("No span could be scored" in r.error_description for r in rows)
    response = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}/results?per_page=10")
    assert response.status_code == 200, response.content
    for prompt in response.json()["prompts"]:
        (span,) = prompt["evaluation_trace_spans"]
        (result,) = span["span_level_metric_results"]
        assert "has no latency" in result["error_description"] and "number_value" not in result


def _dataset(project, owner, rows):
    from datasets import services as dataset_services

    dataset = dataset_services.dataset_create(project=project, name="QA", user=owner)
    draft = dataset_services.version_create_draft(dataset=dataset, user=owner)
    dataset_services.items_add(version=draft, rows=rows)
    return dataset_services.version_release(version=draft, user=owner)


def _make_agent(project, owner, url, workflow_services):
    from tests.runs.conftest import ANSWER_OUT, QUESTION_IN, http_agent_config

    return workflow_services.workflow_create(
        project=project,
        user=owner,
        name="Agent",
        kind="http",
        config=http_agent_config(url),
        inputs=QUESTION_IN,
        outputs=ANSWER_OUT,
    )


def test_span_rows_aggregate_by_the_stated_rules():
    from metrics.scoring import MetricOutcome
    from traces.span_scoring import SpanScorer

    class Inner:
        is_async = False

        def score(self, inputs):
            span = inputs["span"]
            if span.get("boom"):
                raise RuntimeError("broken span")
            return MetricOutcome(number_value=span["value"])

    scorer = SpanScorer(Inner(), "TRACE_SPAN_TYPE_TOOL")
    trace = {
        "spans": [
            {"type": "TRACE_SPAN_TYPE_LLM", "value": 0.0},
            {"type": "TRACE_SPAN_TYPE_TOOL", "value": 1.0, "span_id": "a"},
            {"type": "tool", "value": 0.0, "span_id": "b"},
            {"type": "TRACE_SPAN_TYPE_TOOL", "boom": True},
        ]
    }
    row = scorer.score({"trace": trace})
    assert row.number_value == 0.5 and not row.not_applicable
    assert [index for index, *_ in row.spans] == [1, 2, 3]
    assert row.spans[2][3].error_description == "RuntimeError: broken span"
    assert row.details["spans"]["failing_share"] == 0.5 and row.details["spans"]["errors"] == 1
    # No tool span: not applicable (no row result is stored).
    empty = scorer.score({"trace": {"spans": [{"type": "TRACE_SPAN_TYPE_LLM"}]}})
    assert empty.not_applicable and empty.number_value is None and not empty.is_error
    # Only broken spans: the row result is an error.
    broken = scorer.score({"trace": [{"type": "TRACE_SPAN_TYPE_TOOL", "boom": True}]})
    assert broken.is_error and "broken span" in broken.error_description


RETRIEVER = "TRACE_SPAN_TYPE_RETRIEVER"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_schema_relevance_and_a_span_judge_through_a_real_cluster(project, owner, api):
    """The three span metrics of issue 17 left open, over the demo's production traces in a
    dataset-only run drained by a real qcluster; results read through /v2 with pydo."""
    from metrics import services as metric_services
    from tests.metrics.fake_openai import fake_openai_server

    version = demo_version(project, owner)
    schema = metric_services.metric_create(
        project=project,
        user=owner,
        name="Order tools take their ids",
        implementation="span_tool_arguments_match_schema",
        params={
            "schemas_by_tool": {
                "lookup_order": {
                    "type": "object",
                    "properties": {"order_id": {"type": "string", "pattern": "^[0-9]+$"}},
                    "required": ["order_id"],
                },
                "get_plan": {"type": "object", "required": ["customer_id"]},
            }
        },
    )
    relevance = builtin("span_retriever_chunk_relevance")
    with fake_openai_server() as judge_server:
        judge_server.reply('{"score": 0.5, "reasoning": "Half right."}')
        judge = span_judge(
            project,
            owner,
            judge_server.url,
            "LLM step judge",
            "Rate the {{span_type}} step {{span_name}}: {{span_output}}",
        )
        run = start(
            project,
            owner,
            version,
            [
                {"id": str(schema.id), "span_type": TOOL},
                {"id": str(relevance.id), "span_type": RETRIEVER},
                {"id": str(judge.id), "span_type": LLM},
            ],
        )
        bindings = {b.metric_version.metric_id: b for b in MetricBinding.objects.filter(run=run)}
        # The question defaults to the trace's input in a dataset-only run over traces.
        assert bindings[relevance.id].input_selector == {
            "trace": "$.dataset.trace",
            "question": "$.dataset.input",
        }
        with qcluster() as cluster:

            def done():
                run.refresh_from_db()
                return run.status in FINISHED

            wait_until(done, timeout=120, message=f"run to finish\n{cluster.log()[-3000:]}")
        prompts = [r["json"]["messages"][1]["content"] for r in judge_server.requests]
    assert run.status == RunStatus.SUCCEEDED, run.error_description

    # One judge call per LLM span (four chats, one model call each), each seeing its span.
    assert len(prompts) == 4
    assert run.judge_calls == 4  # counted per span call, not once per row
    assert all(p.startswith("Rate the LLM step chat acme-mini: ") for p in prompts)
    assert any("two-year limited warranty" in p for p in prompts)

    def span_values(metric):
        return sorted(
            SpanMetricResult.objects.filter(binding=bindings[metric.id]).values_list(
                "number_value", flat=True
            )
        )

    # Tools: lookup_order's arguments match; get_plan's are not JSON.
    assert span_values(schema) == [0.0, 1.0]
    # Question terms (stop words out, stemmed) found in the one chunk of each retriever:
    # warranty 1/2, order 1/2, rover/boundary/wire of rover/need/boundary/wire 3/4, all 3 of
    # pause/acme/care.
    assert span_values(relevance) == [0.5, 0.5, 0.75, 1.0]
    assert span_values(judge) == [0.5] * 4

    # Row level: each row's result is the mean of its spans; run level: mean, share failing.
    rows = dict(
        MetricResult.objects.filter(binding=bindings[relevance.id]).values_list(
            "task__item__data__input", "number_value"
        )
    )
    assert rows["Does the Rover need a boundary wire?"] == 0.75 and len(rows) == 4
    response = api.get(f"/v1/evaluations/{run.id}/metrics")
    assert response.status_code == 200, response.content
    summaries = {s["binding_id"]: s for s in response.json()["data"]}
    relevance_summary = summaries[str(bindings[relevance.id].id)]["span_summary"]
    assert relevance_summary["spans"] == 4 and relevance_summary["mean"] == pytest.approx(0.6875)
    assert relevance_summary["failing_share"] == 0.75
    assert summaries[str(bindings[schema.id].id)]["span_summary"]["failing_share"] == 0.5
    assert summaries[str(bindings[judge.id].id)]["span_summary"]["mean"] == 0.5

    with web_server() as base:
        do = pydo_client(base, api.raw_key).genai
        page = do.get_evaluation_run_results(str(run.id), per_page=10)
    by_type: dict[str, list] = {}
    for prompt in page["prompts"]:
        for span in prompt["evaluation_trace_spans"]:
            for result in span["span_level_metric_results"]:
                by_type.setdefault(span["type"], []).append(
                    (result["metric_name"], result.get("number_value"))
                )
    assert sorted(by_type[RETRIEVER]) == [(relevance.name, v) for v in (0.5, 0.5, 0.75, 1.0)]
    assert sorted(by_type[TOOL]) == [(schema.name, 0.0), (schema.name, 1.0)]
    assert by_type[LLM] == [(judge.name, 0.5)] * 4


@pytest.mark.django_db
def test_a_span_metrics_other_inputs_are_checked_like_a_row_metrics(project, owner):
    version = demo_version(project, owner)
    relevance = builtin("span_retriever_chunk_relevance")
    cases = [
        ({"question": "$.dataset.nope"}, "question"),
        ({"answer": "$.dataset.input"}, "not answer"),
    ]
    for selector, message in cases:
        metric = {
            "id": str(relevance.id),
            "span_type": RETRIEVER,
            "input_transformer": {"selector": selector},
        }
        with pytest.raises(ValidationError) as raised:
            start(project, owner, version, [metric])
        assert message in str(raised.value.message_dict), raised.value.message_dict
    assert not EvaluationRun.objects.exists()


def test_a_span_row_is_never_put_in_the_judge_cache():
    """The drainer sets the judge-call cache key on a judge's outcome and the batch write
    stores outcomes that have one; a cached row would come back without its spans."""
    from metrics.scoring import MetricOutcome
    from runs.engine.drainer import _keyed
    from traces.span_scoring import aggregate

    judged = MetricOutcome(number_value=1.0, called=True, input_tokens=10, output_tokens=2)
    row = aggregate(LLM, [(0, {"span_id": "a", "name": "chat"}, judged)])
    assert row.input_tokens == 10 and row.output_tokens == 2 and row.called

    async def scored():
        return row

    import asyncio

    keyed = asyncio.run(_keyed(scored(), "judge-key"))
    assert keyed is row and keyed.cache_key is None
    plain = asyncio.run(_keyed(_plain(), "judge-key"))
    assert plain.cache_key == "judge-key"  # row metrics keep theirs


async def _plain():
    from metrics.scoring import MetricOutcome

    return MetricOutcome(number_value=1.0)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_span_judge_counts_one_judge_call_per_span_it_scored(project, owner, make_dataset):  # noqa: F811
    """Two traces with three LLM spans each: six judge calls, and the run counts six (it
    used to count one per row), so usage and the judge-call cap see the real calls."""
    from tests.metrics.fake_openai import fake_openai_server

    def trace(i):
        return {
            "input": f"q{i}",
            "trace": {
                "spans": [
                    {"span_id": f"s{i}{k}", "name": f"chat {k}", "type": LLM, "output": "ok"}
                    for k in range(3)
                ]
            },
        }

    version = make_dataset([trace(0), trace(1)], name="Multi-step traces")
    with fake_openai_server() as judge_server:
        judge_server.reply('{"score": 1, "reasoning": "Fine."}')
        judge = span_judge(
            project,
            owner,
            judge_server.url,
            "Step judge",
            "Rate the step {{span_name}}: {{span_output}}",
        )
        run = start(project, owner, version, [{"id": str(judge.id), "span_type": LLM}])
        with qcluster() as cluster:

            def done():
                run.refresh_from_db()
                return run.status in FINISHED

            wait_until(done, timeout=120, message=f"run to finish\n{cluster.log()[-3000:]}")
        calls = len(judge_server.requests)
    assert run.status == RunStatus.SUCCEEDED, run.error_description
    assert calls == 6
    assert run.judge_calls == 6
    assert SpanMetricResult.objects.filter(binding__run=run).count() == 6
