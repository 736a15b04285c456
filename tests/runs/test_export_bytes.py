"""The downloads are written straight from database records (h19r); their bytes must be the
ones the earlier dict-per-row code wrote (``tests/runs/export_reference.py``) on a run with
two agents, trials, costs, cached calls, a masked agent secret, missing and odd results
(control characters, formula text, unicode, tiny and huge numbers) and span-level results.
CSV also gains one column per span-level binding, checked here."""

from __future__ import annotations

import csv
import io
import json

import orjson
import pytest
from django.db import connection

from runs.columns import run_columns
from runs.exports import csv_header, run_results_download
from runs.models import MetricBinding, MetricResult, RunTask, TaskStatus
from runs.selectors import run_result_rows_iter
from tests.runs.conftest import builtin
from tests.runs.export_reference import reference_download
from tests.runs.test_engine import execute, start
from tests.workflows.fake_servers import FakeServer, Reply
from traces.models import SpanMetricResult

pytestmark = pytest.mark.django_db

AGENT_KEY = "sk-export-secret-4f1c9a"
ODD_TEXT = '=HYPERLINK("http://x")\x01\x1f "quoted" \\ back é✓ \u2028 line'


def _agent(request) -> Reply:
    question = (request.json or {}).get("question", "")
    return Reply(
        json={
            "answer": f"echo: {question}",
            "usage": {"input_tokens": 7, "output_tokens": 3},
            "chunks": [{"text": "chunk ü", "source_name": "doc.txt"}],
            "spans": [{"name": "tool", "type": "tool", "input": {"q": question}, "output": 1.5}],
        }
    )


def body(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def odd_run(project, owner, make_dataset, make_agent):
    rows = [
        {
            "question": f"q{i}",
            "ground_truth_answer": f"echo: q{i}" if i % 2 else "-2+3",
            "note": "=1+2" if i == 0 else ODD_TEXT,
            "meta": {"list": [1, 2.5, None, True], "nested": {"x": "ü"}},
            "n": i * 1.5,
        }
        for i in range(7)
    ]
    version = make_dataset(rows)
    exact = builtin("exact_match")
    levenshtein = builtin("levenshtein_similarity")
    with FakeServer(_agent) as server:
        first = make_agent(server.url, name="First", headers={"X-Key": {"secret": AGENT_KEY}})
        second = make_agent(server.url, name="Second")
        entries = [
            {
                "workflow": {
                    "id": str(workflow.id),
                    "input_transformer": {"selector": {"question": "$.dataset.question"}},
                },
                "metrics": [
                    {
                        "id": str(metric.id),
                        "input_transformer": {
                            "selector": {
                                "response": "$.workflow.answer",
                                "expected": "$.dataset.ground_truth_answer",
                            }
                        },
                    }
                    for metric in (exact, levenshtein)
                ],
            }
            for workflow in (first, second)
        ]
        run = execute(start(project, owner, version, entries, options={"repetitions": 2}))
    assert run.total_tasks == 7 * 2 * 2
    tasks = list(RunTask.objects.filter(run=run).order_by("position", "id"))
    RunTask.objects.filter(id=tasks[0].id).update(cost=0.000123, cached=True)
    RunTask.objects.filter(id=tasks[1].id).update(cost=12.0, latency_ms=None)
    RunTask.objects.filter(id=tasks[2].id).update(
        status=TaskStatus.FAILED, error=ODD_TEXT, outputs={}, input_tokens=None
    )
    MetricResult.objects.filter(task_id=tasks[2].id).delete()  # nothing was scored
    results = list(MetricResult.objects.filter(run=run).order_by("task__position", "id"))
    odd_values = [1e-7, 1e16, 1.0, 0.30000000000000004, -0.0, 123456789.125]
    for result, value in zip(results, odd_values, strict=False):
        MetricResult.objects.filter(id=result.id).update(
            number_value=value, reasoning=ODD_TEXT, cost=0.5
        )
    MetricResult.objects.filter(id=results[6].id).update(
        number_value=None, string_value="@SUM(A1)", error_description="-bad\ttab"
    )
    if connection.vendor == "postgresql":  # SQLite stores NaN as NULL
        MetricResult.objects.filter(id=results[7].id).update(number_value=float("nan"))
    return run


def add_span_results(run) -> MetricBinding:
    binding = MetricBinding.objects.filter(run=run).order_by("position")[1]
    MetricBinding.objects.filter(id=binding.id).update(span_type="TRACE_SPAN_TYPE_TOOL")
    tasks = RunTask.objects.filter(run=run, entry_id=binding.entry_id).order_by("position", "id")
    spans = []
    for task in tasks[:3]:
        for index in (1, 0):  # written out of order: read back by span index
            spans.append(
                SpanMetricResult(
                    task=task,
                    binding=binding,
                    span_index=index,
                    span_id=f"s{task.id}-{index}",
                    span_name=ODD_TEXT if index else "tool",
                    number_value=0.25 * index,
                    reasoning="=cmd" if index else "",
                    error_description="",
                )
            )
    SpanMetricResult.objects.bulk_create(spans)
    return binding


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_downloads_are_byte_identical_to_the_dict_per_row_code(odd_run, fmt):
    expected = reference_download(odd_run, fmt)
    got = body(run_results_download(odd_run, fmt=fmt))
    assert got == expected
    assert AGENT_KEY not in got.decode()
    if fmt != "csv":
        # (not splitlines: U+2028 in the text is a line break to it, not to JSON)
        assert got.count(b"\n") == (28 if fmt == "jsonl" else 28 + 2)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_span_results_download_byte_identical(odd_run, fmt):
    binding = add_span_results(odd_run)
    expected = reference_download(odd_run, fmt)
    got = body(run_results_download(odd_run, fmt=fmt))
    assert got == expected
    label = run_columns(odd_run).binding(binding.id).label
    rows = (
        [json.loads(line) for line in got.decode().split("\n") if line] if fmt == "jsonl" else None
    )
    if rows is not None:
        carried = [r["metrics"][label].get("span_results") for r in rows if label in r["metrics"]]
        assert [len(c) for c in carried if c] == [2, 2, 2]
        assert [s["span_index"] for s in next(c for c in carried if c)] == [0, 1]


def test_csv_carries_span_results_in_their_own_column(odd_run):
    binding = add_span_results(odd_run)
    columns = run_columns(odd_run)
    label = columns.binding(binding.id).label
    header = csv_header(columns)
    assert header.count(f"{label}.span_results") == 1
    assert header.index(f"{label}.span_results") == header.index(f"{label}.error") + 1
    table = list(csv.reader(io.StringIO(body(run_results_download(odd_run, fmt="csv")).decode())))
    assert table[0] == header
    column = header.index(f"{label}.span_results")
    cells = [row[column] for row in table[1:]]
    scored = [json.loads(cell) for cell in cells if cell]
    assert len(scored) == 3 and all(len(spans) == 2 for spans in scored)
    assert scored[0][1]["span_name"] == ODD_TEXT and scored[0][1]["reasoning"] == "=cmd"
    assert [s["number_value"] for s in scored[0]] == [0.0, 0.25]
    # Every other column is what the reference wrote (which had no span column).
    reference = list(csv.reader(io.StringIO(reference_download(odd_run, "csv").decode())))
    assert [r[:column] + r[column + 1 :] for r in table] == reference


def test_csv_cells_that_look_like_formulas_are_neutralised(odd_run):
    text = body(run_results_download(odd_run, fmt="csv")).decode()
    table = list(csv.reader(io.StringIO(text)))
    header = table[0]
    notes = [row[header.index("dataset.note")] for row in table[1:]]
    # one line per agent and trial: row 0 is the first four
    assert set(notes[:4]) == {"'=1+2"} and all(n.startswith("'=HYPERLINK") for n in notes[4:])
    truths = [row[header.index("dataset.ground_truth_answer")] for row in table[1:]]
    assert "-2+3" not in truths and "'-2+3" in truths
    values = [cell for row in table[1:] for cell in row]
    assert "'@SUM(A1)" in values and "'-bad\ttab" in values


def test_the_row_dicts_read_the_same_records(odd_run):
    binding = add_span_results(odd_run)
    rows = list(run_result_rows_iter(odd_run))
    assert [r["row"] for r in rows] == sorted(r["row"] for r in rows) and len(rows) == 28
    lines = [
        json.loads(line)
        for line in body(run_results_download(odd_run, fmt="jsonl")).decode().split("\n")
        if line
    ]
    assert orjson.loads(orjson.dumps(rows, default=str)) == lines  # (NaN reads as null)
    label = run_columns(odd_run).binding(binding.id).label
    assert sum(1 for r in rows if r["metrics"].get(label, {}).get("span_results")) == 3
