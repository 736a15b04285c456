"""What a new user hit in the sheet: Enter in Name removed a row, empty pre-filled slots made
"Add agent" leave a blank agent behind, mode and dataset switches lost or kept stale choices,
and a posted draft version silently ran on the latest released one."""

from __future__ import annotations

import re

from django.urls import reverse

from datasets import services as dataset_services
from runs.models import EvaluationRun
from tests.runs_ui.conftest import builtin
from tests.runs_ui.test_sheet import form_data, new_url


def _form(html: str) -> str:
    return re.search(r'<form id="run-sheet-form".*?</form>', html, re.S).group(0)


def test_the_first_submit_button_is_harmless_so_enter_removes_nothing(web, project, qa_version):
    html = _form(web.get(new_url(project)).content.decode())
    first = re.search(r"<button[^>]*type=\"submit\"[^>]*>", html).group(0)
    assert 'value="refresh"' in first, first


def test_the_sheet_opens_without_empty_slots_and_add_agent_adds_one(web, project, qa_version):
    html = _form(web.get(new_url(project)).content.decode())
    assert 'name="agent-0-workflow"' not in html
    assert 'name="metric-0-metric"' not in html
    data = {"token": "t", "dataset": str(qa_version.dataset_id), "mode": "with_workflow"}
    html = web.post(new_url(project), {**data, "action": "add_agent"}).content.decode()
    assert 'name="agent-0-workflow"' in html and 'name="agent-1-workflow"' not in html
    # A second click while the new slot is still empty does not add another blank one.
    again = {**data, "agent-0-workflow": "", "action": "add_agent"}
    html = web.post(new_url(project), again).content.decode()
    assert 'name="agent-1-workflow"' not in html


def test_switching_to_dataset_only_and_back_keeps_the_agent(web, project, qa_version, agent):
    data = form_data(qa_version, agent, mode="dataset_only", action="refresh")
    html = web.post(new_url(project), data).content.decode()
    assert str(agent.id) in html  # kept, hidden, while in Dataset only
    back = {k: v for k, v in data.items() if not k.startswith("metric-")}
    hidden = dict(re.findall(r'<input type="hidden" name="(agent-[^"]+)" value="([^"]*)"', html))
    back.update(hidden, mode="with_workflow")
    html = web.post(new_url(project), back).content.decode()
    assert re.search(rf'<option value="{agent.id}" selected>', html)


def test_stale_mappings_are_cleared_and_said_so_after_a_mode_switch(
    web, project, qa_version, agent
):
    data = form_data(qa_version, agent, mode="dataset_only", action="refresh")
    html = web.post(new_url(project), data).content.decode()
    assert 'value="$.workflow.answer" selected' not in html
    assert "no longer applies" in html


def test_stale_dataset_mappings_are_cleared_after_a_dataset_switch(
    web, project, owner, qa_version, agent
):
    from tests.runs_ui.conftest import release

    other = release(project, owner, [{"prompt": "p", "gold": "g"}], name="Other set")
    data = form_data(qa_version, agent, action="refresh")
    data.update(dataset=str(other.dataset_id), dataset_version=str(qa_version.id))
    html = web.post(new_url(project), data).content.decode()
    assert 'value="$.dataset.question" selected' not in html
    assert 'value="$.dataset.answer" selected' not in html
    assert "no longer applies" in html


def test_a_posted_draft_version_is_refused_as_a_form_error(web, project, owner, qa_version, agent):
    draft = dataset_services.version_create_draft(dataset=qa_version.dataset, user=owner)
    response = web.post(
        new_url(project), form_data(qa_version, agent, dataset_version=str(draft.id))
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "is a draft" in html
    assert not EvaluationRun.objects.exists()


def test_the_start_button_disabling_targets_an_element_that_exists(web, project, qa_version):
    html = _form(web.get(new_url(project)).content.decode())
    target = re.search(r'hx-disabled-elt="([^"]+)"', html).group(1)
    assert target.startswith("#")
    assert f'id="{target[1:]}"' in html


def test_metrics_are_added_by_the_button_too(web, project, qa_version):
    data = {"token": "t", "dataset": str(qa_version.dataset_id), "action": "add_metric"}
    html = web.post(new_url(project), data).content.decode()
    assert 'name="metric-0-metric"' in html
    assert builtin("contains").name in html
    assert reverse("runs:new", args=[project.pk]) in html
