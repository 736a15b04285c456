"""Browser tests: Debian's Chromium (headless) through Playwright against the real web server
and a real qcluster. Start a with-workflow run and a dataset-only run through the sheet,
watch them finish without reloading, open a row, download the results, rerun, compare.
On the shared harness (tests/support/browser.py): no console errors or failed requests, and
every screen shot at 1440 px and 390 px, light and dark, into test-output/screenshots/."""

from __future__ import annotations

import json
import re

import pytest

from projects.demo import seed_demo
from runs.models import EvaluationRun
from tests.support.processes import qcluster, web_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FINISHED = re.compile(r"Succeeded|Partially succeeded|Failed")
SCREENSHOT_PREFIX = "runs"  # runs_01_list_with_demo_runs_1440_light.png, ...


def open_sheet(page):
    page.get_by_role("link", name="Run evaluation").first.click()
    page.wait_for_selector(".sheet #run-sheet-form")


def add_row(ui, button: str, selector: str):
    """The sheet opens without empty slots: Add agent / Add metric make the first one."""
    ui.settle()
    ui.page.get_by_role("button", name=button).click()
    ui.page.wait_for_selector(selector)
    ui.settle()


def test_start_watch_open_download_rerun_and_compare(ui, tmp_path):
    project, _ = seed_demo()
    page = ui.page
    with web_server() as base, qcluster():
        ui.login(base)
        ui.goto(f"/projects/{project.pk}/evaluations/")
        page.wait_for_selector("text=Evaluation Runs")
        ui.shots("01_list_with_demo_runs")

        # --- a with-workflow run through the sheet
        open_sheet(page)
        page.fill("#sheet-name", "Sheet run with the Python agent")
        page.select_option("#sheet-dataset", label="Support questions")
        page.wait_for_selector("#sheet-version option:not([value=''])", state="attached")
        ui.settle()
        add_row(ui, "Add agent", "#agent-0-workflow")
        page.select_option("#agent-0-workflow", label="Acme support agent (Python)")
        page.wait_for_selector("#agent-0-input-question")
        ui.settle()
        assert page.input_value("#agent-0-input-question") == "$.dataset.question"
        add_row(ui, "Add metric", "#metric-0-metric")
        page.select_option("#metric-0-metric", label="Levenshtein similarity")
        page.wait_for_selector("#metric-0-input-response")
        ui.settle()
        assert page.input_value("#metric-0-input-response") == "$.workflow.answer"
        assert page.input_value("#metric-0-input-expected") == "$.dataset.ground_truth_answer"
        page.check("input[name=star][value='0']")
        page.fill("#sheet-threshold", "0.3")
        ui.shots("02_sheet_with_workflow")
        page.get_by_role("button", name="Start").dblclick()
        page.wait_for_selector("text=Sheet run with the Python agent")
        assert EvaluationRun.objects.filter(name="Sheet run with the Python agent").count() == 1
        ui.shots("03_list_running")

        # --- a dataset-only run through the sheet
        open_sheet(page)
        page.fill("#sheet-name", "Recorded chats, dataset only")
        page.select_option("#sheet-dataset", label="Recorded support chats")
        ui.settle()
        page.check("input[name=mode][value=dataset_only]")
        ui.settle()
        page.wait_for_selector("text=$.trace is available", state="attached")
        add_row(ui, "Add metric", "#metric-0-metric")
        page.select_option("#metric-0-metric", label="No refusal or apology")
        page.wait_for_selector("#metric-0-input-response")
        ui.settle()
        page.select_option("#metric-0-input-response", "$.dataset.output")
        ui.shots("04_sheet_dataset_only")
        page.get_by_role("button", name="Start").click()
        page.wait_for_selector("text=Recorded chats, dataset only")

        # --- both finish without reloading (htmx polling of the rows)
        marker = page.evaluate("window.__noReload = 1")
        for name in ("Sheet run with the Python agent", "Recorded chats, dataset only"):
            row = page.locator("tr", has_text=name)
            row.locator(".badge", has_text=FINISHED).wait_for(timeout=90_000)
        assert page.evaluate("window.__noReload") == 1, marker
        ui.shots("05_list_finished")

        # --- the run page: summaries, results table, a row drawer
        page.get_by_role("link", name="Sheet run with the Python agent").click()
        page.wait_for_selector("#results table")
        page.wait_for_selector(".chart")
        ui.shots("06_run_page")
        page.locator("#results tbody tr").first.locator("a").first.click()
        page.wait_for_selector(".drawer")
        page.wait_for_selector("text=Workflow outputs")
        ui.shots("07_row_drawer")
        page.keyboard.press("Escape")
        page.wait_for_selector(".drawer", state="detached")

        # --- sort by score and filter
        page.locator("#results thead a", has_text="Levenshtein similarity").click()
        ui.settle()
        page.wait_for_selector("#results th[aria-sort=ascending]")
        ui.shots("08_results_sorted")

        # --- download the results and check the file
        with page.expect_download() as info:
            page.get_by_role("link", name="Download results").click()
        path = tmp_path / "results.json"
        info.value.save_as(path)
        document = json.loads(path.read_text())
        assert document["name"] == "Sheet run with the Python agent"
        assert len(document["results"]) == 50
        assert info.value.suggested_filename.endswith(".json")

        # --- rerun: nothing failed (or the failed rows go again)
        page.get_by_role("button", name="Rerun failed").click()
        page.wait_for_selector(".messages")
        message = page.locator(".messages").inner_text()
        assert "No failed tasks to rerun." in message or "Rerunning" in message
        ui.shots("09_rerun_message")

        # --- compare two runs on the same dataset version
        first = EvaluationRun.objects.get(name="Sheet run with the Python agent")
        ui.goto(f"/projects/{project.pk}/evaluations/")
        open_sheet(page)
        page.fill("#sheet-name", "Second run for comparison")
        page.select_option("#sheet-dataset", label="Support questions")
        ui.settle()
        add_row(ui, "Add agent", "#agent-0-workflow")
        page.select_option("#agent-0-workflow", label="Acme support agent (Python)")
        page.wait_for_selector("#agent-0-input-question")
        ui.settle()
        add_row(ui, "Add metric", "#metric-0-metric")
        page.select_option("#metric-0-metric", label="Levenshtein similarity")
        page.wait_for_selector("#metric-0-input-response")
        ui.settle()
        page.get_by_role("button", name="Start").click()
        row = page.locator("tr", has_text="Second run for comparison")
        row.locator(".badge", has_text=FINISHED).wait_for(timeout=90_000)
        first.refresh_from_db()
        if first.is_active:
            page.locator("tr", has_text=first.name).locator(".badge", has_text=FINISHED).wait_for(
                timeout=90_000
            )
        page.locator("tr", has_text=first.name).locator("input[name=runs]").check()
        row.locator("input[name=runs]").check()
        page.get_by_role("button", name="Compare selected").click()
        page.wait_for_selector("text=95% CI")
        page.wait_for_selector(".compare-table")
        assert page.locator("text=Latency (ms)").count() == 1
        ui.shots("10_compare")
    ui.assert_clean()
