"""METRICS tab in a real browser: the implementation picker shows names grouped by category,
a deterministic metric, an LLM judge and a custom Python metric are each created from the UI
with a live "Try it" on sample inputs, and a saved metric is tried on its page."""

from __future__ import annotations

import json

import pytest

from metrics.models import Metric
from projects.demo import seed_demo
from tests.metrics.fake_openai import fake_openai_server
from tests.support.processes import web_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_metric_builder_for_each_kind(ui):
    project, _ = seed_demo()
    page = ui.page
    env = {"EVALSITE_CUSTOM_METRICS": "metrics.examples.keyword_coverage"}
    with fake_openai_server() as judge, web_server(**env) as base:
        judge.reply(json.dumps({"score": 0.8, "reasoning": "Mostly right."}))
        ui.login(base)
        ui.goto(f"/projects/{project.pk}/metrics/")
        page.wait_for_selector("text=Token F1 (SQuAD)")
        ui.shots("01_catalogue")

        # --- a deterministic metric: pick Contains by its name, fill, try live, create
        page.get_by_role("link", name="New metric").click()
        picker = page.locator("#implementation-picker")
        labels = picker.locator("option").all_inner_texts()
        assert len(labels) > 20 and all(label.strip() for label in labels)
        assert picker.locator("optgroup[label='Correctness'] option", has_text="Contains").count()
        picker.select_option(label="Contains")
        page.wait_for_selector("#id_param_values")
        ui.settle()
        assert "implementation=contains" in page.url
        page.fill("#id_name", "Mentions the warranty")
        page.fill("#id_param_values", "warranty")
        page.fill("#id_input_response", "Every robot has a two-year warranty.")
        page.wait_for_selector("#draft-try-result .score")
        assert page.locator("#draft-try-result .score").inner_text().strip() == "1"
        ui.shots("02_builder_contains")
        page.get_by_role("button", name="Create metric").click()
        page.wait_for_selector("text=Metric Mentions the warranty created.")
        metric = Metric.objects.get(project=project, name="Mentions the warranty")
        assert metric.latest_version().implementation == "contains"
        # ... and tried on its own page
        page.fill("#id_input_response", "No guarantee at all.")
        page.get_by_role("button", name="Score").click()
        page.wait_for_selector("#try-result .score")
        assert page.locator("#try-result .score").inner_text().strip() == "0"
        ui.shots("03_metric_detail_try")

        # --- an LLM judge: its own title and layout, tried against a fake judge model
        ui.goto(f"/projects/{project.pk}/metrics/")
        page.get_by_role("link", name="New LLM judge").click()
        page.wait_for_selector("h2:text('New LLM judge')")
        assert page.locator("h3", has_text="Judge model").count() == 1
        assert page.locator("h3", has_text="Rubric").count() == 1
        page.fill("#id_name", "Answer quality judge")
        page.fill("#id_param_base_url", judge.url)
        page.fill("#id_param_model", "judge-model")
        page.fill("#id_param_prompt", "Rate {{response}} against {{expected}}.")
        page.fill("#id_inputs", "response: the answer\nexpected: the reference")
        page.locator("#id_inputs").dispatch_event("change")
        page.wait_for_selector("#try-panel #id_input_expected")  # the sample fields follow
        # Leaving the field fires its own change; let the panel's re-renders finish first, or
        # the click can land while one replaces the form's panel.
        page.locator("#id_inputs").blur()
        ui.settle()
        ui.shots("04_builder_judge")
        page.get_by_role("button", name="Create judge").click()
        page.wait_for_selector("text=Metric Answer quality judge created.")
        page.fill("#id_input_response", "Two years.")
        page.fill("#id_input_expected", "A two-year warranty.")
        page.get_by_role("button", name="Score").click()
        page.wait_for_selector("#try-result .score")
        assert float(page.locator("#try-result .score").inner_text()) == 0.8
        ui.shots("05_judge_tried")

        # --- a custom Python metric from the allow-list
        ui.goto(f"/projects/{project.pk}/metrics/new/?implementation=custom_python")
        page.fill("#id_name", "Keyword coverage")
        page.fill("#id_param_path", "metrics.examples.keyword_coverage")
        page.fill("#id_inputs", "response: the answer\nexpected: the reference")
        page.get_by_role("button", name="Create metric").click()
        page.wait_for_selector("text=Metric Keyword coverage created.")
        page.fill("#id_input_response", "two year warranty")
        page.fill("#id_input_expected", "warranty two")
        page.get_by_role("button", name="Score").click()
        page.wait_for_selector("#try-result .score")
        assert float(page.locator("#try-result .score").inner_text()) == 1.0
        ui.shots("06_custom_tried")
    ui.assert_clean()
