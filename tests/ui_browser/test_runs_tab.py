"""EVALUATIONS tab in a real browser, from the seeded demo (which already has two finished
runs): the sheet by mouse and by keyboard (Enter in Name removes nothing, Add agent fills
the first slot, focus stays in the sheet), a run executed by a real qcluster, the results
table with the agent's outputs, paging and sort in the URL, hidden columns remembered, the
row drawer with keyboard navigation and the agent's trace tree (not wider than a 390 px
phone), and comparing runs side by side."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from projects.demo import seed_demo
from runs.demo import DATASET_ONLY, WITH_AGENT
from runs.models import EvaluationRun
from tests.support.processes import qcluster, web_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
FINISHED = re.compile(r"Succeeded|Partially succeeded|Failed")


def test_sheet_results_paging_drawer_and_compare(ui):
    project, _ = seed_demo()
    page = ui.page
    runs_url = f"/projects/{project.pk}/evaluations/"
    with web_server() as base, qcluster():
        ui.login(base)
        ui.goto(runs_url)
        page.wait_for_selector(f"text={WITH_AGENT}")
        assert page.locator("tr", has_text=DATASET_ONLY).count() == 1
        ui.shots("01_list_with_demo_runs")

        # --- the sheet by mouse
        page.get_by_role("link", name="Run evaluation").first.click()
        page.wait_for_selector(".sheet #run-sheet-form")
        assert page.locator("#agent-0-workflow").count() == 0  # no empty pre-filled slot
        page.fill("#sheet-name", "Mouse run")
        page.select_option("#sheet-dataset", label="Support questions")
        ui.settle()
        page.get_by_role("button", name="Add agent").click()
        page.wait_for_selector("#agent-0-workflow")
        page.select_option("#agent-0-workflow", label="Acme support agent (Python)")
        page.wait_for_selector("#agent-0-input-question")
        ui.settle()
        assert page.input_value("#agent-0-input-question") == "$.dataset.question"
        # Enter in the Name field refreshes; it never removes the agent.
        page.focus("#sheet-name")
        page.keyboard.press("Enter")
        ui.settle()
        assert page.locator("#agent-0-workflow").count() == 1
        assert page.locator("#agent-1-workflow").count() == 0
        # Switching to Dataset only and back keeps the agent.
        page.check("input[name=mode][value=dataset_only]")
        ui.settle()
        page.check("input[name=mode][value=with_workflow]")
        ui.settle()
        assert page.input_value("#agent-0-workflow") != ""
        page.get_by_role("button", name="Add metric").click()
        page.wait_for_selector("#metric-0-metric")
        page.select_option("#metric-0-metric", label="Token F1 (SQuAD)")
        page.wait_for_selector("#metric-0-input-response")
        ui.settle()
        assert page.input_value("#metric-0-input-response") == "$.workflow.answer"
        ui.shots("02_sheet_by_mouse")
        page.get_by_role("button", name="Start").click()
        page.wait_for_selector("tr:has-text('Mouse run')")

        # --- the sheet by keyboard only
        page.focus("a:has-text('Run evaluation')")
        page.keyboard.press("Enter")
        page.wait_for_selector(".sheet #run-sheet-form")
        page.wait_for_function(
            "document.activeElement && document.activeElement.id === 'sheet-name'"
        )
        page.keyboard.type("Keyboard run")
        page.focus("#sheet-dataset")
        page.keyboard.press("End")  # "Support questions", the last dataset
        ui.settle()
        page.wait_for_selector("#sheet-version option:not([value=''])", state="attached")
        ui.settle()
        page.focus("button[value=add_agent]")
        page.keyboard.press("Enter")
        page.wait_for_selector("#agent-0-workflow")
        ui.settle()
        page.focus("#agent-0-workflow")
        page.keyboard.press("End")  # the Python demo agent, the last one
        page.wait_for_selector("#agent-0-input-question")
        ui.settle()
        assert page.input_value("#agent-0-input-question") == "$.dataset.question"
        # Focus stays inside the sheet however far one tabs.
        for _ in range(40):
            page.keyboard.press("Tab")
        assert page.evaluate("!!document.activeElement.closest('.sheet')")
        ui.shots("03_sheet_by_keyboard")
        page.focus("#sheet-start")
        page.keyboard.press("Enter")
        page.wait_for_selector("tr:has-text('Keyboard run')")
        # A run ticked for comparison stays ticked while the list refreshes itself.
        demo_box = page.locator("tr", has_text=DATASET_ONLY).locator("input[name=runs]")
        demo_box.check()
        page.wait_for_timeout(2500)  # at least one poll of the rows
        assert demo_box.is_checked()
        demo_box.uncheck()
        for name in ("Mouse run", "Keyboard run"):
            page.locator("tr", has_text=name).locator(".badge", has_text=FINISHED).wait_for(
                timeout=120_000
            )
        assert EvaluationRun.objects.filter(name__in=["Mouse run", "Keyboard run"]).count() == 2
        ui.shots("04_list_finished")

        # --- results: the agent's outputs beside the expected answer, pages in the URL
        page.get_by_role("link", name=WITH_AGENT).click()
        page.wait_for_selector("#results th[data-col='output:0:answer']")
        assert page.locator("#results th[data-col='column:ground_truth_answer']").count() == 1
        first_answer = page.locator("#results tbody tr").first.locator("td.output-cell")
        assert first_answer.inner_text().strip() not in ("", "—")
        ui.shots("05_run_results")
        page.select_option("#results-per-page", "10")
        page.wait_for_selector("text=Page 1 of 5")
        page.get_by_role("link", name="Next").click()
        page.wait_for_selector("text=Page 2 of 5")
        assert "page=2" in page.url
        page.get_by_role("link", name="Last").click()
        page.wait_for_selector("text=Page 5 of 5")
        page.get_by_role("link", name="Previous").click()
        page.wait_for_selector("text=Page 4 of 5")
        page.go_back()
        page.wait_for_selector("text=Page 5 of 5")
        page.locator("#results thead a", has_text="Token F1").click()
        sorted_by_f1 = "#results th[aria-sort=ascending]:has-text('Token F1')"
        page.wait_for_selector(sorted_by_f1)
        assert "sort=score" in page.url
        page.reload()
        page.wait_for_selector(sorted_by_f1)
        ui.shots("06_results_sorted_paged")
        # hide the context column; the choice survives a reload
        page.locator("[data-column-picker] summary").click()
        page.uncheck("[data-col-toggle='column:context']")
        assert page.locator("#results th[data-col='column:context']").is_hidden()
        page.reload()
        page.wait_for_selector("#results table")
        assert page.locator("#results th[data-col='column:context']").is_hidden()

        # --- the row drawer, previous / next with the keyboard
        page.locator("#results tbody tr").first.locator("a").first.click()
        page.wait_for_selector(".drawer")
        heading = page.locator("#drawer-title").inner_text()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "(h) => document.querySelector('#drawer-title')?.innerText !== h", arg=heading
        )
        # The agent's trace as a tree: its spans with durations, each opening to its JSON.
        spans = page.locator(".drawer .trace-tree .trace-span")
        # Waits for the next row's body: its title can change before its trace is swapped in.
        expect(spans.locator(".span-name")).to_have_text(["retrieve", "answer"])
        assert spans.locator(".span-duration").count() == 2
        for span in spans.all():
            span.locator("summary").click()
        assert page.locator(".drawer .trace-tree .span-io pre.code").count() >= 4
        assert "documents" in spans.first.locator(".span-io").inner_text()
        # Nothing in the drawer is cut off or scrolls sideways on a phone (the JSON wraps).
        ui.assert_fits_a_phone(
            ".drawer, .drawer .trace-tree, .drawer .trace-span, .drawer .trace-tree pre.code"
        )
        ui.shots("07_row_drawer")
        page.keyboard.press("Escape")
        page.wait_for_selector(".drawer", state="detached")

        # --- compare: from the run page nothing is red; then side by side
        page.get_by_role("link", name="Compare…").click()
        page.wait_for_selector("text=Pick one more run")
        assert page.locator(".callout-error").count() == 0
        assert page.locator("input[name=runs]").count() >= 2
        page.locator("tr", has_text=DATASET_ONLY).locator("input[name=runs]").check()
        page.get_by_role("button", name="Compare").click()
        page.wait_for_selector("#compare-rows")
        assert page.locator("#compare-rows .compare-output").count() >= 1
        assert page.locator("#compare-rows .compare-fields dt", has_text="question").count()
        ui.shots("08_compare")
        page.get_by_role("link", name=re.compile("Regressions only")).click()
        page.wait_for_selector("#compare-rows")
        ui.shots("09_compare_regressions")
    ui.assert_clean()
