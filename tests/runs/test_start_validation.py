"""Starting a run: one clear message per problem, nothing saved; pinning; idempotency."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from runs import services
from runs.models import EvaluationRun
from tests.runs.conftest import builtin, exact_match_entry, qa_rows, trace_rows

pytestmark = pytest.mark.django_db

AGENT_URL = "http://127.0.0.1:9/"


def errors_of(project, owner, *, version_id, config, **extra) -> dict:
    with pytest.raises(ValidationError) as caught:
        services.run_start(
            project=project,
            user=owner,
            name=extra.pop("name", "run"),
            dataset_version_id=version_id,
            config=config,
            **extra,
        )
    assert not EvaluationRun.objects.exists()
    return caught.value.message_dict


def test_it_refuses_an_unknown_or_draft_dataset_version(project, owner, make_dataset):
    draft = make_dataset(trace_rows(3), release=False)
    config = [exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")]
    assert (
        "is a draft"
        in errors_of(project, owner, version_id=draft.id, config=config)["dataset_version_id"][0]
    )
    assert errors_of(project, owner, version_id="nope", config=config)["dataset_version_id"] == [
        "Unknown dataset version."
    ]


def test_it_refuses_another_projects_objects(project, owner, other_project, make_dataset):
    from datasets import services as dataset_services

    dataset = dataset_services.dataset_create(project=other_project, name="theirs")
    version = dataset_services.version_create_draft(dataset=dataset)
    dataset_services.items_add(version=version, rows=trace_rows(2))
    version = dataset_services.version_release(version=version)
    config = [exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")]
    errors = errors_of(project, owner, version_id=version.id, config=config)
    assert errors["dataset_version_id"] == ["Unknown dataset version."]


def test_it_names_every_bad_mapping(project, owner, make_dataset, make_agent):
    version = make_dataset(qa_rows(3))
    agent = make_agent(AGENT_URL)
    metric = builtin("exact_match")
    config = [
        {
            "workflow": {"id": str(agent.id), "input_transformer": {"selector": {}}},
            "metrics": [
                {
                    "id": str(metric.id),
                    "input_transformer": {
                        "selector": {"response": "$.workflow.nope", "expected": "$.dataset.zzz"}
                    },
                }
            ],
        }
    ]
    errors = errors_of(project, owner, version_id=version.id, config=config)
    base = "config[0].workflow.input_transformer.selector"
    assert "Map the input 'question'" in errors[f"{base}.question"][0]
    metric_base = "config[0].metrics[0].input_transformer.selector"
    assert "has no output 'nope'" in errors[f"{metric_base}.response"][0]
    assert "Unknown column 'zzz'" in errors[f"{metric_base}.expected"][0]


def test_it_refuses_workflow_selectors_in_a_dataset_only_run(project, owner, make_dataset):
    version = make_dataset(trace_rows(3))
    config = [exact_match_entry(response="$.workflow.answer", expected="$.dataset.expected")]
    errors = errors_of(project, owner, version_id=version.id, config=config)
    message = errors["config[0].metrics[0].input_transformer.selector.response"][0]
    assert "dataset-only run" in message


def test_it_refuses_trace_when_items_are_not_trace_shaped(project, owner, make_dataset):
    version = make_dataset(qa_rows(3))
    config = [exact_match_entry(response="$.trace", expected="$.dataset.question")]
    errors = errors_of(project, owner, version_id=version.id, config=config)
    assert (
        "not trace-shaped" in errors["config[0].metrics[0].input_transformer.selector.response"][0]
    )


def test_it_refuses_an_unmapped_metric_input_and_unknown_ids(project, owner, make_dataset):
    version = make_dataset(trace_rows(3))
    metric = builtin("exact_match")
    config = [
        {
            "metrics": [
                {"id": str(metric.id), "input_transformer": {"selector": {"response": "$.trace"}}},
                {"id": "00000000-0000-0000-0000-000000000000"},
            ]
        },
        {"workflow": {"id": "not-a-uuid"}, "metrics": []},
    ]
    errors = errors_of(project, owner, version_id=version.id, config=config, name="")
    assert (
        "Map the input 'expected'"
        in errors["config[0].metrics[0].input_transformer.selector.expected"][0]
    )
    assert errors["config[0].metrics[1].id"] == ["Unknown metric."]
    assert errors["config[1].workflow.id"] == ["Unknown workflow."]
    assert errors["name"] == ["Give the run a name."]


def test_it_refuses_a_star_metric_outside_the_run(project, owner, make_dataset):
    version = make_dataset(trace_rows(3))
    config = [exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")]
    other = builtin("contains")
    errors = errors_of(
        project,
        owner,
        version_id=version.id,
        config=config,
        star_metric={"metric_id": str(other.id), "threshold": "high"},
    )
    assert errors["star_metric.metric_id"] == ["The star metric must be one of the run's metrics."]
    assert errors["star_metric.threshold"] == ["The threshold must be a number."]


def test_it_pins_the_latest_versions_and_freezes_the_config(
    project, owner, make_dataset, make_agent
):
    version = make_dataset(qa_rows(3))
    agent = make_agent(AGENT_URL)
    run = services.run_start(
        project=project,
        user=owner,
        name="pinned",
        dataset_version_id=version.id,
        config=[exact_match_entry(agent)],
    )
    entry = run.entries.get()
    assert entry.workflow_version == agent.latest_version()
    binding = run.bindings.get()
    assert binding.metric_version == builtin("exact_match").latest_version()
    frozen = run.config[0]
    assert frozen["workflow"]["version_id"] == str(entry.workflow_version_id)
    assert frozen["metrics"][0]["version_id"] == str(binding.metric_version_id)
    assert "url" not in str(frozen)  # the workflow's config (and its secrets) is not copied
    assert run.mode == "with_workflow" and run.status == "pending"


def test_a_repeated_idempotency_key_returns_the_same_run(project, owner, make_dataset):
    version = make_dataset(trace_rows(3))
    config = [exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")]
    kwargs = dict(project=project, user=owner, name="r", dataset_version_id=version.id)
    first = services.run_start(config=config, idempotency_key="k-1", **kwargs)
    again = services.run_start(config=config, idempotency_key="k-1", **kwargs)
    other = services.run_start(config=config, idempotency_key="k-2", **kwargs)
    assert first.id == again.id != other.id
    assert EvaluationRun.objects.count() == 2
