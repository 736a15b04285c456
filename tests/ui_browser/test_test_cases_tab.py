"""Test cases in a real browser: create one from the UI on the demo dataset, run it against
the Python demo agent (a real qcluster executes it), watch its runs and the star metric's
trend chart."""

from __future__ import annotations

import pytest

from projects.demo import seed_demo
from runs.models import EvaluationRun, EvaluationTestCase
from tests.support.processes import qcluster, wait_until, web_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_run_and_trend_a_test_case(ui):
    project, _ = seed_demo()
    page = ui.page
    with web_server() as base, qcluster():
        ui.login(base)
        ui.goto(f"/projects/{project.pk}/evaluations/")
        page.get_by_role("link", name="Test cases").click()
        page.wait_for_selector("text=No test cases yet")
        page.fill("#id_name", "Support regression set")
        page.select_option("#id_dataset", label="Support questions")
        page.get_by_label("Token F1 (SQuAD)").first.check()
        page.select_option("#id_star", label="Token F1 (SQuAD)")
        page.fill("#id_threshold", "0.3")
        ui.shots("01_new_test_case")
        page.get_by_role("button", name="Create test case").click()
        page.wait_for_selector("text=Test case Support regression set created.")
        case = EvaluationTestCase.objects.get(project=project)
        for _ in range(2):
            page.get_by_label("Acme support agent (Python)").check()
            page.get_by_role("button", name="Run test case").click()
            page.wait_for_selector("text=Started 1 run.")
        wait_until(
            lambda: (
                EvaluationRun.objects.filter(test_case=case, finished_at__isnull=False).count() == 2
            ),
            timeout=120,
            message="the test case's runs",
        )
        page.reload()
        page.wait_for_selector(".trend-chart circle")
        assert page.locator(".trend-chart circle").count() == 2
        ui.shots("02_test_case_runs_and_trend")
        ui.goto(f"/projects/{project.pk}/evaluations/test-cases/")
        page.wait_for_selector("text=Support regression set")
        ui.shots("03_test_case_list")
    ui.assert_clean()
