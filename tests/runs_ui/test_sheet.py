"""The New Evaluation Run sheet: cascading choices, the run mode cards, Add agent / Add
metric with selector pickers, inline errors from the service, one run per double click."""

from __future__ import annotations

from django.urls import reverse

from runs.models import EvaluationRun, RunMode
from tests.runs_ui.conftest import builtin


def new_url(project):
    return reverse("runs:new", args=[project.pk])


def form_data(version, agent, **extra):
    metric = builtin("contains")
    data = {
        "token": "tok-1",
        "name": "From the sheet",
        "dataset": str(version.dataset_id),
        "dataset_version": str(version.id),
        "mode": "with_workflow",
        "agent-0-workflow": str(agent.id),
        "agent-0-input-question": "$.dataset.question",
        "metric-0-metric": str(metric.id),
        "metric-0-input-response": "$.workflow.answer",
        "metric-0-input-expected": "$.dataset.answer",
        "action": "start",
    }
    data.update(extra)
    return data


def test_the_sheet_opens_as_a_side_sheet_and_as_a_page(web, project, qa_version):
    fragment = web.get(new_url(project), HTTP_HX_REQUEST="true").content.decode()
    assert 'class="sheet"' in fragment and "<html" not in fragment
    page = web.get(new_url(project)).content.decode()
    assert "<html" in page
    for text in (
        "New Evaluation Run",
        "Name",
        "Dataset",
        "Dataset version",
        "Run mode",
        "With workflow",
        "Dataset only",
        "Add agent",
        "Add metric",
        "Start",
    ):
        assert text in page
    assert "Support questions" in page


def test_only_datasets_with_a_released_version_are_offered(web, project, owner, qa_version):
    from datasets import services

    draft_only = services.dataset_create(project=project, name="Draft only set", user=owner)
    services.version_create_draft(dataset=draft_only, user=owner)
    page = web.get(new_url(project)).content.decode()
    assert "Support questions" in page and "Draft only set" not in page


def test_choosing_a_dataset_loads_its_released_versions_and_columns(
    web, project, qa_version, agent
):
    response = web.post(
        new_url(project),
        {
            "token": "t",
            "dataset": str(qa_version.dataset_id),
            "mode": "with_workflow",
            "agent-0-workflow": str(agent.id),
            "action": "refresh",
        },
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<form id="run-sheet-form"')
    assert f'value="{qa_version.id}"' in html
    assert "<code>question</code>" in html
    # the agent's input is mapped by name to the dataset column
    assert 'value="$.dataset.question" selected' in html


def test_add_and_remove_rows(web, project, qa_version):
    base = {
        "token": "t",
        "dataset": str(qa_version.dataset_id),
        "mode": "with_workflow",
        "agent-0-workflow": "",
        "metric-0-metric": "",
    }
    # The last slot is still empty: Add fills (keeps) it rather than adding a blank second.
    html = web.post(new_url(project), {**base, "action": "add_agent"}).content.decode()
    assert 'name="agent-0-workflow"' in html and 'name="agent-1-workflow"' not in html
    chosen = {**base, "metric-0-metric": str(builtin("contains").id), "action": "add_metric"}
    html = web.post(new_url(project), chosen).content.decode()
    assert 'name="metric-1-metric"' in html
    html = web.post(new_url(project), {**base, "action": "remove_agent:0"}).content.decode()
    assert 'name="agent-0-workflow"' not in html


def test_metric_sources_follow_the_mode(web, project, qa_version, trace_version, agent):
    metric = builtin("exact_match")
    with_workflow = web.post(
        new_url(project),
        {
            "token": "t",
            "dataset": str(qa_version.dataset_id),
            "mode": "with_workflow",
            "agent-0-workflow": str(agent.id),
            "metric-0-metric": str(metric.id),
            "action": "refresh",
        },
    ).content.decode()
    assert "$.workflow.answer" in with_workflow and "$.trace" not in with_workflow
    dataset_only = web.post(
        new_url(project),
        {
            "token": "t",
            "dataset": str(trace_version.dataset_id),
            "mode": "dataset_only",
            "metric-0-metric": str(metric.id),
            "action": "refresh",
        },
    ).content.decode()
    assert "$.trace" in dataset_only and "$.workflow.answer" not in dataset_only
    assert "Add agent" not in dataset_only
    qa_only = web.post(
        new_url(project),
        {
            "token": "t",
            "dataset": str(qa_version.dataset_id),
            "mode": "dataset_only",
            "metric-0-metric": str(metric.id),
            "action": "refresh",
        },
    ).content.decode()
    assert 'value="$.trace"' not in qa_only  # not trace-shaped


def test_start_creates_one_run_even_when_posted_twice(web, project, qa_version, agent):
    data = form_data(qa_version, agent)
    first = web.post(new_url(project), data, HTTP_HX_REQUEST="true")
    second = web.post(new_url(project), data, HTTP_HX_REQUEST="true")
    assert first.status_code == 200 and first["HX-Redirect"] == reverse(
        "runs:list", args=[project.pk]
    )
    assert second["HX-Redirect"]
    runs = EvaluationRun.objects.filter(project=project)
    assert runs.count() == 1
    run = runs.get()
    assert run.mode == RunMode.WITH_WORKFLOW
    assert run.config[0]["workflow"]["input_transformer"]["selector"] == {
        "question": "$.dataset.question"
    }
    assert run.config[0]["metrics"][0]["input_transformer"]["selector"]["response"] == (
        "$.workflow.answer"
    )


def test_without_javascript_start_redirects(web, project, qa_version, agent):
    response = web.post(new_url(project), form_data(qa_version, agent, token="nojs"))
    assert response.status_code == 302
    assert EvaluationRun.objects.filter(project=project).count() == 1


def test_a_dataset_only_run_with_a_star_metric(web, project, trace_version):
    metric = builtin("exact_match")
    response = web.post(
        new_url(project),
        {
            "token": "t2",
            "name": "Trace check",
            "dataset": str(trace_version.dataset_id),
            "dataset_version": str(trace_version.id),
            "mode": "dataset_only",
            "metric-0-metric": str(metric.id),
            "metric-0-input-response": "$.dataset.output",
            "metric-0-input-expected": "$.dataset.expected",
            "star": "0",
            "threshold": "0.5",
            "action": "start",
        },
    )
    assert response.status_code == 302
    run = EvaluationRun.objects.get(name="Trace check")
    assert run.mode == RunMode.DATASET_ONLY
    assert run.star_binding is not None and run.star_threshold == 0.5


def test_errors_show_next_to_their_fields(web, project, qa_version, agent):
    data = form_data(qa_version, agent, name="", **{"metric-0-input-expected": "$.dataset.nope"})
    response = web.post(new_url(project), data, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert not EvaluationRun.objects.exists()
    name_block = html.split('id="sheet-name"')[1].split("</div>")[0]
    assert "Give the run a name." in name_block
    expected_block = html.split('id="metric-0-input-expected"')[1].split("</tr>")[0]
    assert "Unknown column &#x27;nope&#x27;" in expected_block


def test_a_missing_agent_or_metric_is_reported_inline(web, project, qa_version):
    data = {
        "token": "t3",
        "name": "x",
        "dataset": str(qa_version.dataset_id),
        "dataset_version": str(qa_version.id),
        "mode": "with_workflow",
        "agent-0-workflow": "",
        "metric-0-metric": "",
        "action": "start",
    }
    html = web.post(new_url(project), data).content.decode()
    assert "Choose an agent." in html
    assert "Choose a metric, or remove this row." in html
    assert not EvaluationRun.objects.exists()


def test_another_projects_dataset_is_refused(web, project, other_project, outsider, agent):
    from tests.runs_ui.conftest import release

    foreign = release(other_project, outsider, [{"question": "q", "answer": "a"}], name="F")
    data = form_data(foreign, agent, **{"dataset": str(foreign.dataset_id)})
    html = web.post(new_url(project), data).content.decode()
    assert not EvaluationRun.objects.exists()
    assert "Choose a dataset." in html


def test_the_sheet_sets_repetitions_caps_and_the_cache(web, project, qa_version, agent):
    from runs.models import ProjectRunDefaults

    ProjectRunDefaults.objects.create(project=project, max_tokens=50_000)
    page = web.get(new_url(project)).content.decode()
    assert 'name="repetitions"' in page and 'name="max_cost"' in page
    assert "50000 (project default)" in page
    data = form_data(
        qa_version,
        agent,
        repetitions="3",
        max_cost="5.00",
        max_agent_calls="1,000",
        options_sent="1",
        cache_agent_calls="on",
    )
    response = web.post(new_url(project), data, HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"]
    run = EvaluationRun.objects.get(project=project)
    assert (run.repetitions, run.max_cost, run.max_agent_calls) == (3, 5.0, 1000)
    assert run.max_tokens == 50_000  # the project's default cap
    assert run.max_judge_calls is None
    assert run.cache_agent_calls is True and run.cache_judge_calls is False


def test_bad_run_options_show_next_to_their_fields(web, project, qa_version, agent):
    data = form_data(qa_version, agent, repetitions="40", max_cost="lots")
    response = web.post(new_url(project), data, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert not EvaluationRun.objects.exists()
    assert "A whole number from 1 to 20." in html.split('id="sheet-repetitions"')[1]
    cost_block = html.split('id="sheet-max-cost"')[1].split("</div>")[0]
    assert "or empty for no cap" in cost_block
