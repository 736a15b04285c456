"""Downloads and reads key results by metric binding: the same metric bound twice, or the
same metric on two agents, keeps every column in JSON, JSONL, CSV and the results table."""

from __future__ import annotations

import csv
import io
import json

import pytest

from runs.columns import run_columns
from runs.exports import run_results_download
from runs.results_table import results_table_page
from tests.runs.conftest import builtin, exact_match_entry, qa_rows, trace_rows
from tests.runs.test_engine import execute, start
from tests.workflows.fake_servers import FakeServer, echo_agent

pytestmark = pytest.mark.django_db


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


def exact(response: str, expected: str) -> dict:
    return {
        "id": str(builtin("exact_match").id),
        "input_transformer": {"selector": {"response": response, "expected": expected}},
    }


@pytest.fixture
def twice_bound(project, owner, make_dataset):
    """Exact match bound twice: output vs expected (half match), output vs itself (all)."""
    version = make_dataset(trace_rows(6))
    config = [
        {
            "workflow": None,
            "metrics": [
                exact("$.dataset.output", "$.dataset.expected"),
                exact("$.dataset.output", "$.dataset.output"),
            ],
        }
    ]
    return execute(start(project, owner, version, config))


def test_a_metric_bound_twice_keeps_both_columns_everywhere(twice_bound):
    run = twice_bound
    first, second = run_columns(run).bindings
    assert (first.label, second.label) == ("Exact match (v1) #1", "Exact match (v1) #2")

    document = json.loads(body(run_results_download(run, fmt="json")))
    row = document["results"][1]  # odd rows: output differs from expected
    assert set(row["metrics"]) == {first.label, second.label}
    assert row["metrics"][first.label]["number_value"] == 0.0
    assert row["metrics"][second.label]["number_value"] == 1.0
    assert row["metrics"][second.label]["binding_id"] == str(second.id)

    lines = body(run_results_download(run, fmt="jsonl")).splitlines()
    assert [json.loads(line)["metrics"] for line in lines] == [
        r["metrics"] for r in document["results"]
    ]

    table = list(csv.reader(io.StringIO(body(run_results_download(run, fmt="csv")))))
    header = table[0]
    assert header.count(first.label) == 1 and header.count(second.label) == 1
    values = [(r[header.index(first.label)], r[header.index(second.label)]) for r in table[1:]]
    assert values == [("1.0", "1.0"), ("0.0", "1.0")] * 3

    page = results_table_page(run)
    cells = [
        (row.score(first.id).number_value, row.score(second.id).number_value) for row in page.rows
    ]
    assert cells == [(1.0, 1.0), (0.0, 1.0)] * 3


def test_the_same_metric_on_two_agents_is_labelled_by_agent(
    project, owner, make_dataset, make_agent
):
    version = make_dataset(qa_rows(4))
    with FakeServer(echo_agent()) as first, FakeServer(echo_agent()) as second:
        agent_a = make_agent(first.url, name="Alpha")
        agent_b = make_agent(second.url, name="Beta")
        run = execute(
            start(project, owner, version, [exact_match_entry(agent_a), exact_match_entry(agent_b)])
        )
    labels = [b.label for b in run_columns(run).bindings]
    assert labels == ["Exact match (v1) · Alpha v1", "Exact match (v1) · Beta v1"]

    table = list(csv.reader(io.StringIO(body(run_results_download(run, fmt="csv")))))
    header = table[0]
    assert all(header.count(label) == 1 for label in labels)
    by_agent = {}
    for line in table[1:]:
        workflow = line[header.index("workflow")]
        by_agent[workflow] = by_agent.get(workflow, 0) + 1
        own = labels[0] if workflow == "Alpha" else labels[1]
        other = labels[1] if workflow == "Alpha" else labels[0]
        assert line[header.index(own)] == "1.0" and line[header.index(other)] == ""
    assert by_agent == {"Alpha": 4, "Beta": 4}

    document = json.loads(body(run_results_download(run, fmt="json")))
    keys = {tuple(row["metrics"]) for row in document["results"]}
    assert keys == {(labels[0],), (labels[1],)}


def test_a_metric_bound_once_keeps_its_plain_name(project, owner, make_dataset):
    version = make_dataset(trace_rows(2))
    run = execute(
        start(
            project,
            owner,
            version,
            [exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")],
        )
    )
    document = json.loads(body(run_results_download(run, fmt="json")))
    assert list(document["results"][0]["metrics"]) == ["Exact match"]
