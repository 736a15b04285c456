"""MONITORS tab in a real browser: an editor opens the form, gets a field error for a bad
interval, fixes it and saves a monitor on the demo's ingested traces."""

from __future__ import annotations

import pytest

from projects.demo import seed_demo
from tests.support.processes import web_server
from traces.models import Monitor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_a_monitor_from_the_form(ui):
    project, _ = seed_demo()
    page = ui.page
    with web_server() as base:
        ui.login(base)
        ui.goto(f"/projects/{project.pk}/monitors/")
        page.wait_for_selector("text=No monitors yet")
        ui.shots("01_empty_list")
        page.get_by_role("link", name="New monitor").click()
        page.wait_for_selector("#monitor-form")
        page.fill("#id_name", "Production tool calls")
        page.select_option("#id_dataset", label="Production traces (OpenTelemetry)")
        page.get_by_label("Tool call succeeded", exact=True).check()
        page.select_option("#id_star_metric_id", label="Tool call succeeded")
        page.fill("#id_star_threshold", "0.9")
        page.fill("#id_interval_minutes", "0")
        ui.allowed_statuses.add(400)  # the refused form answers 400
        page.get_by_role("button", name="Save monitor").click()
        page.wait_for_selector("#field-interval_minutes .form-error")
        assert "A whole number of minutes" in page.inner_text("#field-interval_minutes")
        assert not Monitor.objects.exists()
        ui.shots("02_form_error")
        page.fill("#id_interval_minutes", "15")
        page.get_by_role("button", name="Save monitor").click()
        page.wait_for_selector("h2:has-text('Production tool calls')")
        monitor = Monitor.objects.get(project=project)
        assert monitor.interval_minutes == 15 and monitor.star_threshold == 0.9
        assert monitor.metrics[0]["span_type"] == "TRACE_SPAN_TYPE_TOOL"
        ui.shots("03_monitor_detail")
        ui.goto(f"/projects/{project.pk}/monitors/")
        page.wait_for_selector("#monitors >> text=Production tool calls")
        ui.shots("04_list")
        ui.assert_clean()
