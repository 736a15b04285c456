"""DATASETS and WORKFLOWS tabs in a real browser: create a dataset, upload a CSV into its
draft, release it (and see it offered in the sheet); register a Python workflow and try it."""

from __future__ import annotations

import pytest

from datasets.models import Dataset, VersionStatus
from projects.demo import seed_demo
from tests.support.processes import web_server
from workflows.models import Workflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSV = (
    "question,ground_truth_answer\n"
    "How long is the warranty?,Two years.\n"
    "Do you ship to Norway?,No.\n"
)


def test_create_upload_release_a_dataset_then_register_and_try_a_workflow(ui, tmp_path):
    project, _ = seed_demo()
    page = ui.page
    upload = tmp_path / "questions.csv"
    upload.write_text(CSV)
    with web_server() as base:
        ui.login(base)
        ui.goto(f"/projects/{project.pk}/datasets/")
        page.wait_for_selector("text=Support questions")
        ui.shots("01_datasets_list")

        # --- create, upload, release
        page.fill("#id_name", "Browser questions")
        page.get_by_role("button", name="Create dataset").click()
        page.wait_for_selector("h2:has-text('Browser questions')")
        page.get_by_role("button", name="Create draft").click()
        page.wait_for_selector("#import-card")
        page.set_input_files("#import-card input[type=file]", str(upload))
        page.locator("#import-card").get_by_role("button", name="Upload").click()
        page.wait_for_selector("text=How long is the warranty?")
        ui.settle()
        ui.shots("02_draft_with_rows")
        page.get_by_role("button", name="Release").click()
        page.wait_for_selector(".badge-released")
        version = Dataset.objects.get(project=project, name="Browser questions").versions.get()
        assert version.status == VersionStatus.RELEASED and version.row_count == 2
        ui.shots("03_released_version")

        # --- a Python workflow, created and tried
        ui.goto(f"/projects/{project.pk}/workflows/")
        page.wait_for_selector("text=Acme support agent (Python)")
        ui.shots("04_workflows_list")
        page.get_by_role("link", name="New Python callable").click()
        page.fill("#id_name", "Browser Python agent")
        page.fill("#id_inputs", "question: the user's question")
        page.fill("#id_outputs", "answer: the reply")
        page.select_option("#id_callable", "workflows.demo_agent.answer_question")
        ui.shots("05_workflow_form")
        page.get_by_role("button", name="Create workflow").click()
        page.wait_for_selector("h2:has-text('Browser Python agent')")
        assert Workflow.objects.filter(project=project, name="Browser Python agent").exists()
        page.fill("#try textarea, #try input[type=text]", "How long is the warranty?")
        page.locator("#try").get_by_role("button", name="Run").click()
        page.wait_for_selector("#try .callout-success")
        assert "warranty" in page.locator("#try dl.kv").inner_text().lower()
        ui.shots("06_workflow_tried")
    ui.assert_clean()
