"""Ingested traces are ordinary trace-shaped rows: a dataset-only run scores them."""

from __future__ import annotations

import pytest

from datasets import services as dataset_services
from datasets.models import Dataset
from runs import services as run_services
from runs.engine import drainer, planning
from runs.models import MetricResult
from tests.runs.conftest import builtin
from tests.traces import payloads as p
from traces import otlp, services

pytestmark = pytest.mark.django_db


def test_a_dataset_only_run_reads_trace_fields_of_ingested_rows(project, owner, api):
    fast_id, fast = p.agent_trace(question="fast?")
    slow_id, slow = p.agent_trace(question="slow?")
    slow[0]["endTimeUnixNano"] = str(int(slow[0]["startTimeUnixNano"]) + 2_500_000_000)
    request = otlp.parse(p.body(fast + slow, dataset="Prod"), otlp.JSON)
    services.traces_ingest(user=owner, request=request)
    draft = Dataset.objects.get(name="Prod").versions.get()
    version = dataset_services.version_release(version=draft, user=owner)
    assert version.is_trace_shaped

    metric = builtin("latency_under")  # 2,000 ms by default
    run = run_services.run_start(
        project=project,
        user=owner,
        name="latency of production traces",
        dataset_version_id=version.id,
        config=[
            {
                "workflow": None,
                "metrics": [
                    {
                        "id": str(metric.id),
                        "input_transformer": {
                            "selector": {"latency_ms": "$.dataset.trace.latency_ms"}
                        },
                    }
                ],
            }
        ],
    )
    assert run.mode == "dataset_only"
    planning.plan_run(run.id)
    drainer.drain_run(run.id)
    scores = dict(
        MetricResult.objects.filter(run=run).values_list("task__item__data__input", "number_value")
    )
    assert scores == {"fast?": 1.0, "slow?": 0.0}

    # The Gradient dialect shows the ingested spans and the retriever's chunks.
    response = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}/results?per_page=10")
    assert response.status_code == 200, response.content
    prompts = {prompt["input"]: prompt for prompt in response.json()["prompts"]}
    spans = prompts["fast?"]["evaluation_trace_spans"]
    assert [s["type"] for s in spans] == [
        "TRACE_SPAN_TYPE_UNKNOWN",
        "TRACE_SPAN_TYPE_RETRIEVER",
        "TRACE_SPAN_TYPE_TOOL",
        "TRACE_SPAN_TYPE_LLM",
    ]
    assert spans[1]["retriever_chunks"][0]["source_name"] == "shipping.md"
    assert prompts["fast?"]["trace_id"] == fast_id
