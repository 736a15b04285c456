"""A run with repetitions and a cap, on the run page in a real browser (screenshots for the
issue's note, at 1440 and 390 px, light and dark): the budget line, the cap that stopped it,
rows' trial means with spread."""

from __future__ import annotations

import re

import pytest

from datasets.models import Dataset
from projects.demo import seed_demo
from runs import services
from runs.models import EvaluationRun
from tests.runs.conftest import builtin
from tests.support.processes import qcluster, wait_until, web_server
from workflows.models import Workflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOT_PREFIX = "runs"  # runs_budget_repetitions_and_cap_1440_light.png, ...


def test_a_run_with_repetitions_and_a_cap_on_the_run_page(ui):
    project, _ = seed_demo()
    page = ui.page
    dataset = Dataset.objects.get(project=project, name="Support questions")
    version = dataset.versions.filter(released_at__isnull=False).order_by("-number").first()
    agent = Workflow.objects.get(project=project, name="Acme support agent (Python)")
    metric = builtin("levenshtein_similarity")
    with web_server() as base, qcluster():
        run = services.run_start(
            project=project,
            user=None,
            name="Three trials, capped at 60 agent calls",
            dataset_version_id=version.id,
            config=[
                {
                    "workflow": {
                        "id": str(agent.id),
                        "input_transformer": {"selector": {"question": "$.dataset.question"}},
                    },
                    "metrics": [
                        {
                            "id": str(metric.id),
                            "input_transformer": {
                                "selector": {
                                    "response": "$.workflow.answer",
                                    "expected": "$.dataset.ground_truth_answer",
                                }
                            },
                        }
                    ],
                }
            ],
            star_metric={"metric_id": str(metric.id), "threshold": 0.3},
            options={"repetitions": 3, "max_agent_calls": 60},
        )

        def finished():
            run.refresh_from_db()
            return run.is_finished

        wait_until(finished, timeout=120, message="the capped run to finish")
        assert run.agent_calls == 60
        ui.login(base)
        ui.goto(f"/projects/{project.pk}/evaluations/{run.pk}/")
        page.wait_for_selector("text=Partially succeeded")
        text = page.inner_text("main") if page.query_selector("main") else page.content()
        assert "Stopped at the agent call cap of 60 after 60 of 150 rows" in text
        assert re.search(r"Repetitions\s+3 per row", text, re.I)
        assert re.search(r"Agent calls\s+60 of 60 cap", text, re.I)
        assert "3 trials/row" in text
        assert page.query_selector(".spread") is not None
        ui.shots("budget_repetitions_and_cap")
        assert EvaluationRun.objects.get(pk=run.pk).cap_reached == "max_agent_calls"

        # Raise the cap on the page and rerun: the rows not run run now, and only those.
        form = page.get_by_role("form", name="Rerun with caps")
        assert form.get_by_label("Agent call cap").input_value() == "60"
        form.get_by_label("Agent call cap").fill("150")
        form.get_by_role("button", name="Rerun with these caps").click()
        # The page polls its status while the run works and stops when it has finished.
        page.wait_for_selector(".badge-succeeded", timeout=120_000)
        wait_until(finished, timeout=120, message="the rerun to finish")
        page.reload()
        assert (run.status, run.agent_calls, run.max_agent_calls) == ("succeeded", 150, 150)
        text = page.inner_text("main") if page.query_selector("main") else page.content()
        assert re.search(r"Agent calls\s+150 of 150 cap", text, re.I)
        assert page.query_selector("form[aria-label='Rerun with caps']") is None
    ui.assert_clean()
