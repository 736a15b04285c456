"""The sheet's Score picker: a metric slot scores the row or each span of a type. Span-level
metrics force a span type; a row metric given one is refused by the service's own check and
the error shows next to the picker."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from datasets.models import Dataset
from runs.models import EvaluationRun, MetricBinding
from tests.runs_ui.conftest import builtin
from traces import demo

pytestmark = pytest.mark.django_db


@pytest.fixture
def traces_version(project, owner):
    demo.seed(project=project, user=owner)
    return Dataset.objects.get(project=project, name=demo.DATASET_NAME).versions.get()


def post(web, project, version, **fields):
    data = {
        "token": "tok-spans",
        "name": "Span run",
        "dataset": str(version.dataset_id),
        "dataset_version": str(version.id),
        "mode": "dataset_only",
        "action": "refresh",
        **fields,
    }
    return web.post(reverse("runs:new", args=[project.pk]), data, HTTP_HX_REQUEST="true")


def options(html: str, name: str) -> list[tuple[str, bool]]:
    select = re.search(rf'<select id="{name}" name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no select {name}"
    return [
        (value, bool(selected))
        for value, selected in re.findall(r'<option value="([^"]*)"\s*(selected)?', select.group(1))
    ]


def test_a_span_metric_forces_a_span_type_and_maps_trace_and_question(web, project, traces_version):
    relevance = builtin("span_retriever_chunk_relevance")
    html = post(web, project, traces_version, **{"metric-0-metric": str(relevance.id)}).content
    html = html.decode()
    choices = options(html, "metric-0-span_type")
    # No "the row" choice; the retriever type the metric is made for is chosen.
    assert [value for value, _ in choices] == [
        "TRACE_SPAN_TYPE_LLM",
        "TRACE_SPAN_TYPE_RETRIEVER",
        "TRACE_SPAN_TYPE_TOOL",
    ]
    assert [value for value, chosen in choices if chosen] == ["TRACE_SPAN_TYPE_RETRIEVER"]
    # The inputs are where the spans are and the question; never the span itself.
    assert 'name="metric-0-input-trace"' in html and 'name="metric-0-input-span"' not in html
    assert [v for v, chosen in options(html, "metric-0-input-trace") if chosen] == [
        "$.dataset.trace"
    ]
    assert [v for v, chosen in options(html, "metric-0-input-question") if chosen] == [
        "$.dataset.input"
    ]


def test_a_row_metric_offers_the_row_first(web, project, traces_version):
    contains = builtin("contains")
    html = post(web, project, traces_version, **{"metric-0-metric": str(contains.id)})
    choices = options(html.content.decode(), "metric-0-span_type")
    assert choices[0] == ("", True) and len(choices) == 4


def test_start_binds_the_chosen_span_type(web, project, traces_version):
    tool = builtin("span_tool_call_succeeded")
    response = post(
        web,
        project,
        traces_version,
        action="start",
        **{
            "metric-0-metric": str(tool.id),
            "metric-0-span_type": "TRACE_SPAN_TYPE_TOOL",
            "metric-0-input-trace": "$.dataset.trace",
        },
    )
    assert response.status_code == 200 and response.headers.get("HX-Redirect"), response.content
    binding = MetricBinding.objects.get(run__name="Span run")
    assert binding.span_type == "TRACE_SPAN_TYPE_TOOL"
    assert binding.input_selector == {"trace": "$.dataset.trace"}


def test_a_row_metric_given_a_span_type_is_a_form_error(web, project, traces_version):
    contains = builtin("contains")
    response = post(
        web,
        project,
        traces_version,
        action="start",
        **{
            "metric-0-metric": str(contains.id),
            "metric-0-span_type": "TRACE_SPAN_TYPE_TOOL",
            "metric-0-input-response": "$.dataset.output",
            "metric-0-input-expected": "$.dataset.input",
        },
    )
    html = response.content.decode()
    assert not EvaluationRun.objects.exists()
    picker = html[html.index('for="metric-0-span_type"') :]
    picker = picker[: picker.index("</div>")]
    assert "This metric scores rows, not spans" in picker
    # The choice stays as posted, so the user sees what was refused.
    assert ("TRACE_SPAN_TYPE_TOOL", True) in options(html, "metric-0-span_type")


def test_a_bad_span_type_posted_by_hand_is_replaced_for_span_metrics(web, project, traces_version):
    tool = builtin("span_tool_call_succeeded")
    html = post(
        web,
        project,
        traces_version,
        **{"metric-0-metric": str(tool.id), "metric-0-span_type": "nonsense"},
    ).content.decode()
    assert [v for v, chosen in options(html, "metric-0-span_type") if chosen] == [
        "TRACE_SPAN_TYPE_TOOL"
    ]


def test_with_an_agent_the_spans_are_the_ones_it_reports(web, project, qa_version, agent):
    latency = builtin("span_llm_latency_under")
    response = post(
        web,
        project,
        qa_version,
        mode="with_workflow",
        **{
            "agent-0-workflow": str(agent.id),
            "agent-0-input-question": "$.dataset.question",
            "metric-0-metric": str(latency.id),
        },
    )
    html = response.content.decode()
    assert [v for v, chosen in options(html, "metric-0-span_type") if chosen] == [
        "TRACE_SPAN_TYPE_LLM"
    ]
    assert [v for v, chosen in options(html, "metric-0-input-trace") if chosen] == [
        "$.workflow.spans"
    ]
