"""Span-level metric bindings: a metric bound to the spans of a type scores each of them
(one traces.SpanMetricResult per span), the row result is their mean, and both API dialects
show the per-span results."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from datasets.models import Dataset
from runs import services as run_services
from runs.models import EvaluationRun, MetricBinding, MetricResult, RunStatus
from tests.runs.conftest import builtin
from tests.support.processes import qcluster, wait_until
from traces import demo
from traces.models import SpanMetricResult

TOOL = "TRACE_SPAN_TYPE_TOOL"
LLM = "TRACE_SPAN_TYPE_LLM"
FINISHED = {RunStatus.SUCCEEDED, RunStatus.PARTIALLY_SUCCEEDED, RunStatus.FAILED}


def demo_version(project, owner):
    demo.seed(project=project, user=owner)
    return Dataset.objects.get(project=project, name=demo.DATASET_NAME).versions.get()


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
