"""Reads shared by the UI and the APIs: run lists, prompts, export rows, summaries."""

from __future__ import annotations

import pytest

from runs import selectors
from tests.runs.conftest import exact_match_entry, trace_rows
from tests.runs.test_engine import execute, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished_run(project, owner, make_dataset):
    version = make_dataset(trace_rows(25))
    config = [exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")]
    return execute(start(project, owner, version, config))


def test_export_rows_stream_every_row_in_dataset_order(finished_run):
    rows = list(selectors.run_result_rows_iter(finished_run))
    assert [row["row"] for row in rows] == list(range(25))
    assert rows[0]["metrics"]["Exact match"]["number_value"] == 1.0
    assert rows[1]["metrics"]["Exact match"]["number_value"] == 0.0
    assert rows[0]["data"]["trace_id"] == "t0" and rows[0]["workflow"] is None


def test_prompts_are_paged_by_position(finished_run):
    entry = finished_run.entries.get()
    assert selectors.prompt_total(finished_run, 1) == 25
    page = selectors.run_prompt_rows(finished_run, entry_id=entry.id, start=20, stop=30)
    assert [task["position"] for task, _ in page] == [20, 21, 22, 23, 24]
    assert all(len(results) == 1 for _, results in page)


def test_summaries_follow_the_metric_columns(finished_run):
    (summary,) = selectors.run_metric_summaries(finished_run)
    assert summary["metric_name"] == "Exact match"
    assert summary["count"] == 25 and summary["errors"] == 0
    assert summary["mean"] == pytest.approx(13 / 25)


def test_runs_for_project_filters_by_status_and_name(project, finished_run):
    assert list(selectors.runs_for_project(project, status="succeeded")) == [finished_run]
    assert list(selectors.runs_for_project(project, search="nope")) == []
