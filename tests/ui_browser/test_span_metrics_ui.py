"""Span-level metrics in a real browser: on the demo's production traces, the sheet's Score
picker binds a metric to each retriever span and another to each tool span; a real qcluster
runs it; the run page shows each binding's span summary and the row drawer the per-span
results."""

from __future__ import annotations

import re

import pytest

from projects.demo import seed_demo
from runs.models import EvaluationRun, MetricBinding
from tests.support.processes import qcluster, web_server
from traces import demo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
FINISHED = re.compile(r"Succeeded|Partially succeeded|Failed")


def test_pick_span_metrics_run_them_and_see_span_results(ui):
    project, _ = seed_demo()
    page = ui.page
    with web_server() as base, qcluster():
        ui.login(base)
        ui.goto(f"/projects/{project.pk}/evaluations/")
        page.get_by_role("link", name="Run evaluation").first.click()
        page.wait_for_selector(".sheet #run-sheet-form")
        page.fill("#sheet-name", "Spans from the sheet")
        page.select_option("#sheet-dataset", label=demo.DATASET_NAME)
        ui.settle()
        page.check("input[name=mode][value=dataset_only]")
        ui.settle()

        page.get_by_role("button", name="Add metric").click()
        page.wait_for_selector("#metric-0-metric")
        page.select_option("#metric-0-metric", label="Retriever chunk relevance")
        page.wait_for_selector("#metric-0-span_type")
        ui.settle()
        # A span-only metric: no "the row" choice, its retriever spans chosen; it maps where
        # the spans are and the question (the trace's input).
        assert page.locator("#metric-0-span_type option[value='']").count() == 0
        assert page.input_value("#metric-0-span_type") == "TRACE_SPAN_TYPE_RETRIEVER"
        assert page.input_value("#metric-0-input-trace") == "$.dataset.trace"
        assert page.input_value("#metric-0-input-question") == "$.dataset.input"

        page.get_by_role("button", name="Add metric").click()
        page.wait_for_selector("#metric-1-metric")
        page.select_option("#metric-1-metric", label="Tool call succeeded")
        page.wait_for_selector("#metric-1-span_type")
        ui.settle()
        page.select_option("#metric-1-span_type", label="each tool span")
        ui.settle()
        ui.shots("01_sheet_span_pickers")
        page.get_by_role("button", name="Start").click()
        row = page.locator("tr", has_text="Spans from the sheet")
        row.locator(".badge", has_text=FINISHED).wait_for(timeout=120_000)

        run = EvaluationRun.objects.get(name="Spans from the sheet")
        assert sorted(
            MetricBinding.objects.filter(run=run).values_list("span_type", flat=True)
        ) == [
            "TRACE_SPAN_TYPE_RETRIEVER",
            "TRACE_SPAN_TYPE_TOOL",
        ]
        page.get_by_role("link", name="Spans from the sheet").click()
        page.wait_for_selector("[data-span-summary]")
        summaries = page.locator("[data-span-summary]").all_inner_texts()
        # Four chats, one retriever each; two of them call a tool and one of those fails.
        assert any(
            t.startswith("Each retriever span: 4 spans · span mean 0.688") for t in summaries
        )
        assert any(
            t.startswith("Each tool span: 2 spans · span mean 0.5") and "1 failing (50%)" in t
            for t in summaries
        ), summaries
        ui.shots("02_run_span_summaries")

        # The row drawer lists each span's result.
        page.locator("#results tbody tr").first.locator("a").first.click()
        page.wait_for_selector(".drawer")
        table = page.locator(".drawer table.span-results")
        table.first.wait_for()
        text = table.first.inner_text()
        assert "retrieve_docs" in text and "question terms" in text
        ui.shots("03_row_drawer_span_results")
        ui.assert_clean()
