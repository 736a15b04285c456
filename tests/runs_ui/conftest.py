"""Fixtures for the runs UI: a released QA dataset, a trace-shaped dataset, the offline
Python demo agent, and runs executed in-process by the real engine."""

from __future__ import annotations

import pytest

from datasets import services as dataset_services
from metrics.catalogue import ensure_builtin_metrics
from metrics.models import Metric
from runs import services as run_services
from runs.engine import drainer, planning
from workflows import services as workflow_services
from workflows.demo import INPUTS, OUTPUTS


def builtin(key: str) -> Metric:
    metric = Metric.objects.filter(builtin_key=key, project__isnull=True).first()
    if metric is None:
        ensure_builtin_metrics()
        metric = Metric.objects.get(builtin_key=key, project__isnull=True)
    return metric


def release(project, user, rows, *, name):
    dataset = dataset_services.dataset_create(project=project, name=name, user=user)
    version = dataset_services.version_create_draft(dataset=dataset, user=user)
    dataset_services.items_add(version=version, rows=rows)
    return dataset_services.version_release(version=version, user=user)


QA_ROWS = [
    {"question": "How long is the warranty?", "answer": "two-year limited warranty"},
    {"question": "Do you ship to Norway?", "answer": "European Union"},
    {"question": "What does Acme Care cost?", "answer": "59 euros per year"},
    {"question": "When is support open?", "answer": "Monday to Friday"},
]

TRACE_ROWS = [
    {
        "input": f"q{i}",
        "output": f"a{i}",
        "expected": f"a{i}" if i % 2 == 0 else "other",
        "status": "ok",
        "trace_id": f"t{i}",
    }
    for i in range(6)
]


@pytest.fixture
def qa_version(project, owner):
    return release(project, owner, QA_ROWS, name="Support questions")


@pytest.fixture
def trace_version(project, owner):
    return release(project, owner, TRACE_ROWS, name="Recorded chats")


@pytest.fixture
def agent(project, owner):
    return workflow_services.workflow_create(
        project=project,
        user=owner,
        name="Acme support agent (Python)",
        kind="python",
        config={"callable": "workflows.demo_agent.answer_question", "max_concurrency": 4},
        inputs=INPUTS,
        outputs=OUTPUTS,
    )


def execute(run):
    planning.plan_run(run.id)
    for _ in range(5):
        drainer.drain_run(run.id)
        run.refresh_from_db()
        if run.is_finished:
            break
    return run


def start_workflow_run(
    project, user, version, workflow, *, name="With agent", star=True, options=None
):
    contains = builtin("contains")
    config = [
        {
            "workflow": {
                "id": str(workflow.id),
                "input_transformer": {"selector": {"question": "$.dataset.question"}},
            },
            "metrics": [
                {
                    "id": str(contains.id),
                    "input_transformer": {
                        "selector": {
                            "response": "$.workflow.answer",
                            "expected": "$.dataset.answer",
                        }
                    },
                },
                {
                    "id": str(builtin("levenshtein_similarity").id),
                    "input_transformer": {
                        "selector": {
                            "response": "$.workflow.answer",
                            "expected": "$.dataset.answer",
                        }
                    },
                },
            ],
        }
    ]
    star_metric = {"metric_id": str(contains.id), "threshold": 0.5} if star else None
    return run_services.run_start(
        project=project,
        user=user,
        name=name,
        dataset_version_id=version.id,
        config=config,
        star_metric=star_metric,
        options=options,
    )


def start_dataset_run(project, user, version, *, name="Traces"):
    metric = builtin("exact_match")
    config = [
        {
            "workflow": None,
            "metrics": [
                {
                    "id": str(metric.id),
                    "input_transformer": {
                        "selector": {
                            "response": "$.dataset.output",
                            "expected": "$.dataset.expected",
                        }
                    },
                }
            ],
        }
    ]
    return run_services.run_start(
        project=project, user=user, name=name, dataset_version_id=version.id, config=config
    )


@pytest.fixture
def finished_run(project, owner, qa_version, agent):
    return execute(start_workflow_run(project, owner, qa_version, agent))


@pytest.fixture
def dataset_run(project, owner, trace_version):
    return execute(start_dataset_run(project, owner, trace_version))
