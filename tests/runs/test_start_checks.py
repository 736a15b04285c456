"""Start-time checks and the one ``suggest_selectors()``: a required metric input left
unmapped is refused (API 400 field error, sheet form error); optional inputs stay unmapped
unless the user maps them; span inputs read ``$.trace`` on trace-shaped datasets."""

from __future__ import annotations

import pytest
from django.urls import reverse

from runs.forms import MetricRow, SheetState
from runs.mapping import suggest_selectors
from runs.models import EvaluationRun
from runs.views.sheet import sheet_context
from tests.runs.conftest import builtin, qa_rows, trace_rows

pytestmark = pytest.mark.django_db

REQUIRED = {"required": True}
OPTIONAL = {"required": False}


def specs(**names) -> list[dict]:
    return [{"name": name, **flags} for name, flags in names.items()]


def test_suggestions_cover_required_inputs_only():
    inputs = specs(response=REQUIRED, expected=REQUIRED, pattern=OPTIONAL)
    columns = ["question", "ground_truth_answer", "pattern"]
    assert suggest_selectors(inputs, columns=columns, outputs=["answer"]) == {
        "response": "$.workflow.answer",
        "expected": "$.dataset.ground_truth_answer",
    }


def test_span_inputs_read_the_trace_on_trace_shaped_datasets():
    inputs = specs(spans=REQUIRED, expected_tool=OPTIONAL)
    columns = ["input", "output", "status", "trace_id", "expected_tool"]
    assert suggest_selectors(inputs, columns=columns, trace=True) == {"spans": "$.trace"}
    assert suggest_selectors(inputs, columns=columns, outputs=["answer"]) == {
        "spans": "$.workflow.spans"
    }
    assert suggest_selectors(inputs, columns=["input"], trace=False) == {}


def test_dataset_only_response_and_expected_never_share_a_column():
    inputs = specs(response=REQUIRED, expected=REQUIRED)
    assert suggest_selectors(inputs, columns=["input", "output", "expected"]) == {
        "response": "$.dataset.output",
        "expected": "$.dataset.expected",
    }
    assert suggest_selectors(inputs, columns=["answer"]) == {"response": "$.dataset.answer"}


def test_workflow_inputs_read_same_named_or_question_columns():
    assert suggest_selectors(
        specs(question=REQUIRED), columns=["query", "answer"], for_workflow=True
    ) == {"question": "$.dataset.query"}
    assert suggest_selectors(specs(text=REQUIRED), columns=["prompt"], for_workflow=True) == {
        "text": "$.dataset.prompt"
    }


def _metric_row_inputs(project, version, metric, *, mode):
    state = SheetState(
        token="t",
        dataset_id=str(version.dataset_id),
        version_id=str(version.id),
        mode=mode,
        metrics=[MetricRow(metric_id=str(metric.id))],
    )
    context = sheet_context(project, state)
    return {row["name"]: row["value"] for row in context["metric_rows"][0]["inputs"]}


def test_the_sheet_leaves_optional_inputs_unmapped(project, make_dataset):
    rows = [{"response": "abc", "pattern": "a.c", "expected": "abc"} for _ in range(2)]
    version = make_dataset(rows)
    values = _metric_row_inputs(project, version, builtin("regex_match"), mode="dataset_only")
    assert values["response"] == "$.dataset.response"
    assert values["pattern"] == ""  # optional: "Not mapped" until the user picks a column


def test_the_sheet_preselects_the_trace_for_span_inputs(project, make_dataset):
    version = make_dataset(trace_rows(3))
    assert version.is_trace_shaped
    values = _metric_row_inputs(project, version, builtin("tool_called"), mode="dataset_only")
    assert values == {"spans": "$.trace", "expected_tool": ""}


def test_a_required_input_left_unmapped_is_a_sheet_form_error(web, project, make_dataset):
    version = make_dataset(qa_rows(3))
    metric = builtin("exact_match")
    data = {
        "token": "tok-unmapped",
        "name": "Unmapped",
        "dataset": str(version.dataset_id),
        "dataset_version": str(version.id),
        "mode": "dataset_only",
        "metric-0-metric": str(metric.id),
        "metric-0-input-response": "$.dataset.ground_truth_answer",
        "metric-0-input-expected": "",  # "Not mapped"
        "action": "start",
    }
    response = web.post(reverse("runs:new", args=[project.pk]), data, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert not EvaluationRun.objects.exists()
    block = html.split('id="metric-0-input-expected"')[1].split("</tr>")[0]
    assert "Map the input &#x27;expected&#x27; of metric &#x27;Exact match&#x27;" in block


def test_a_required_input_left_unmapped_is_an_api_400(api, project, make_dataset):
    version = make_dataset(qa_rows(3))
    metric = builtin("exact_match")
    body = {
        "name": "Unmapped",
        "project_id": str(project.id),
        "dataset_id": str(version.dataset_id),
        "dataset_version_id": str(version.id),
        "config": [
            {
                "metrics": [
                    {
                        "id": str(metric.id),
                        "input_transformer": {
                            "selector": {"response": "$.dataset.ground_truth_answer"}
                        },
                    }
                ]
            }
        ],
    }
    response = api.post("/v1/evaluations", body, format="json")
    assert response.status_code == 400, response.content
    field = "config[0].metrics[0].input_transformer.selector.expected"
    assert "Map the input 'expected'" in response.json()["errors"][field][0]
    assert not EvaluationRun.objects.exists()
