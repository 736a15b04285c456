"""Factories for run tests: released datasets, built-in metrics, HTTP agents."""

from __future__ import annotations

import pytest

from datasets import services as dataset_services
from metrics.models import Metric
from tests.workflows.conftest import http_config
from workflows import services as workflow_services

QUESTION_IN = [{"name": "question", "description": "", "required": True}]
ANSWER_OUT = [{"name": "answer", "description": ""}]


def qa_rows(count: int, *, offset: int = 0) -> list[dict]:
    return [
        {"question": f"q{i}", "ground_truth_answer": f"echo: q{i}", "n": i}
        for i in range(offset, offset + count)
    ]


def trace_rows(count: int) -> list[dict]:
    return [
        {
            "input": f"q{i}",
            "output": f"a{i}",
            "expected": f"a{i}" if i % 2 == 0 else "other",
            "status": "ok",
            "trace_id": f"t{i}",
        }
        for i in range(count)
    ]


@pytest.fixture
def make_dataset(project, owner):
    def make(rows: list[dict], *, name: str = "QA", release: bool = True):
        dataset = dataset_services.dataset_create(project=project, name=name, user=owner)
        version = dataset_services.version_create_draft(dataset=dataset, user=owner)
        dataset_services.items_add(version=version, rows=rows)
        if release:
            version = dataset_services.version_release(version=version, user=owner)
        return version

    return make


def builtin(key: str) -> Metric:
    """A built-in metric (re-created when a transactional test flushed the migration's rows)."""
    metric = Metric.objects.filter(builtin_key=key, project__isnull=True).first()
    if metric is None:
        from metrics.catalogue import ensure_builtin_metrics

        ensure_builtin_metrics()
        metric = Metric.objects.get(builtin_key=key, project__isnull=True)
    return metric


def http_agent_config(url: str, **overrides) -> dict:
    """The workflows tests' fake-agent config, without retries and at concurrency 8."""
    return http_config(url, **{"max_retries": 0, "max_concurrency": 8, **overrides})


@pytest.fixture
def make_agent(project, owner):
    def make(url: str, *, name: str = "Agent", **overrides):
        return workflow_services.workflow_create(
            project=project,
            user=owner,
            name=name,
            kind="http",
            config=http_agent_config(url, **overrides),
            inputs=QUESTION_IN,
            outputs=ANSWER_OUT,
        )

    return make


def exact_match_entry(workflow=None, *, response="$.workflow.answer", expected=None) -> dict:
    metric = builtin("exact_match")
    return {
        "workflow": None
        if workflow is None
        else {
            "id": str(workflow.id),
            "input_transformer": {"selector": {"question": "$.dataset.question"}},
        },
        "metrics": [
            {
                "id": str(metric.id),
                "input_transformer": {
                    "selector": {
                        "response": response,
                        "expected": expected or "$.dataset.ground_truth_answer",
                    }
                },
            }
        ],
    }
