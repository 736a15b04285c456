"""Shared fixtures for the security tests."""

from __future__ import annotations

import pytest

from datasets.services import items_add, version_create_draft
from metrics import services as metric_services
from projects.services import api_key_create
from runs import test_cases
from runs.model_evaluations import model_run_create
from tests.runs_ui.conftest import builtin, execute, release, start_dataset_run
from tests.workflows.conftest import make_workflow  # noqa: F401  (shared fixture)
from workflows import services as workflow_services
from workflows.demo import INPUTS, OUTPUTS

MARK = "zq-private-7c41"  # in every name of the project's objects


@pytest.fixture
def world(project, owner):
    """One of everything in ``project``, each named with MARK."""
    rows = [{"input": "q", "output": "a", "expected": "a"}]
    dataset_version = release(project, owner, rows, name=f"DS {MARK}")
    dataset = dataset_version.dataset
    draft = version_create_draft(dataset=dataset, user=owner)
    items_add(version=draft, rows=[{"input": f"row {MARK}", "output": "b", "expected": "b"}])
    workflow = workflow_services.workflow_create(
        project=project,
        user=owner,
        name=f"WF {MARK}",
        kind="python",
        config={"callable": "workflows.demo_agent.answer_question"},
        inputs=INPUTS,
        outputs=OUTPUTS,
    )
    metric = metric_services.metric_create(
        project=project, user=owner, name=f"M {MARK}", implementation="contains"
    )
    run = execute(start_dataset_run(project, owner, dataset_version, name=f"Run {MARK}"))
    test_case = test_cases.test_case_create(
        project=project,
        user=owner,
        name=f"TC {MARK}",
        dataset=dataset,
        metrics=[str(builtin("exact_match").id)],
    )
    candidate = workflow_services.workflow_create(
        project=project,
        user=owner,
        name=f"Model {MARK}",
        kind="openai_chat",
        config={"base_url": "http://127.0.0.1:9/v1", "model": "m", "user_prompt": "{{input}}"},
        inputs=[{"name": "input", "description": "", "required": True}],
        outputs=[{"name": "answer", "description": ""}],
    )
    model_run = model_run_create(
        user=owner,
        data={
            "name": f"Model run {MARK}",
            "candidate_model_uuid": str(candidate.id),
            "dataset_uuid": str(dataset.id),
            "metric_uuids": [str(builtin("exact_match").id)],
            "preset_save_sections": ["CANDIDATE", "DATASET", "METRICS"],
            "preset_name": f"Preset {MARK}",
        },
    )
    key, _ = api_key_create(user=owner, name=f"key {MARK}")
    from webhooks.services import endpoint_create

    endpoint, _ = endpoint_create(
        project=project, user=owner, url="http://127.0.0.1:9/hook", events=["run.finished"]
    )
    monitor = _monitor(project, owner)
    return {
        "monitor_id": monitor.id,
        "endpoint_id": endpoint.id,
        "project_id": project.id,
        "run_id": run.id,
        "evaluation_id": run.id,
        "evaluation_run_uuid": run.id,
        "dataset_id": dataset.id,
        "dataset_version_id": draft.id,
        "item_id": draft.items.first().id,
        "workflow_id": workflow.id,
        "workflow_version_id": workflow.latest_version().id,
        "metric_id": metric.id,
        "metric_version_id": metric.latest_version().id,
        "test_case_uuid": test_case.id,
        "workspace_uuid": project.id,
        "dataset_uuid": dataset.id,
        "metric_uuid": metric.id,
        "object_key": "not-a-signed-key",
        "token": "not-a-signed-token",
        "test_case_id": test_case.id,
        "evaluation_test_case_uuid": test_case.id,
        "key_id": key.id,
        "position": 0,
        "prompt_id": 1,
        "fmt": "csv",
        "eval_run_uuid": model_run.run_id,
        "eval_preset_uuid": model_run.preset_id,
    }


def _monitor(project, owner):
    """A monitor on a dataset of one ingested trace, with one alert."""
    from tests.traces import payloads
    from traces import monitors, otlp
    from traces.models import MonitorAlert
    from traces.services import traces_ingest

    _, spans = payloads.agent_trace(question=f"trace {MARK}")
    body = payloads.body(spans, dataset=f"Traces {MARK}", project=str(project.id))
    traces_ingest(user=owner, request=otlp.parse(body, otlp.JSON))
    dataset = project.datasets.get(name=f"Traces {MARK}")
    tool = builtin("span_tool_call_succeeded")
    monitor = monitors.monitor_save(
        project=project,
        user=owner,
        data={
            "name": f"Mon {MARK}",
            "dataset_id": str(dataset.id),
            "metrics": [{"id": str(tool.id), "span_type": "TRACE_SPAN_TYPE_TOOL"}],
            "star_metric_id": str(tool.id),
            "star_threshold": 0.9,
        },
    )
    MonitorAlert.objects.create(
        monitor=monitor,
        run_id=monitor.id,
        run_name=f"Run {MARK}",
        threshold=0.9,
        message=f"Below threshold {MARK}",
    )
    return monitor
