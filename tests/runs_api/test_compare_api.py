"""``GET /v1/evaluations/{id}/compare?baseline=<id>``: the compare page's comparison as JSON."""

from __future__ import annotations

import pytest

from runs import services
from runs.compare import runs_compare_pair
from tests.runs_api.conftest import builtin, exact_match_entry, execute, qa_rows
from tests.support.controlled_agent import ControlledAgent, questions
from tests.workflows.fake_servers import FakeServer

pytestmark = pytest.mark.django_db

ROWS = 30


@pytest.fixture
def controlled():
    agent = ControlledAgent()
    with FakeServer(agent) as server:
        agent.url = server.url
        yield agent


@pytest.fixture
def start(project, owner, make_dataset, make_agent, controlled):
    version = make_dataset(qa_rows(ROWS))
    workflow = make_agent(controlled.url)
    metric = builtin("exact_match")

    def start_run(name: str, *, wrong=(), dataset_version=None):
        controlled.wrong = questions(wrong)
        run = services.run_start(
            project=project,
            user=owner,
            name=name,
            dataset_version_id=(dataset_version or version).id,
            config=[exact_match_entry(workflow)],
            star_metric={"metric_id": str(metric.id), "threshold": 0.3},
        )
        return execute(run)

    start_run.version = version
    return start_run


def compare(api, run, baseline):
    return api.get(f"/v1/evaluations/{run.id}/compare", {"baseline": str(baseline.id)})


def test_it_answers_the_comparison_the_compare_page_shows(api, project, start):
    baseline = start("baseline")
    candidate = start("candidate", wrong=range(15))

    response = compare(api, candidate, baseline)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["baseline"]["id"] == str(baseline.id)
    assert body["other"]["id"] == str(candidate.id)
    assert body["other"]["status"] == "succeeded" and body["other"]["pass_status"] is True
    [metric] = body["metrics"]
    page = runs_compare_pair(project=project, baseline_id=baseline.id, other_id=candidate.id)
    [shown] = page["metrics"]
    assert {k: v for k, v in metric.items() if k != "is_star"} == shown
    assert metric["verdict"] == "regressed" and metric["delta"] == pytest.approx(-0.5)
    assert metric["is_star"] is True and metric["metric"]["name"] == "Exact match"
    assert metric["n"] == ROWS and metric["significant"] is True
    assert body["test"]["min_paired_rows"] == page["test"]["min_paired_rows"]
    assert metric["regressed_rows"] == 15 and metric["improved_rows"] == 0
    assert {row["position"] for row in metric["regressions"]} == set(range(15))
    assert body["latency_ms"]["n"] == ROWS


def test_the_named_baseline_is_the_baseline_even_when_it_ran_later(api, start):
    first = start("worse, earlier", wrong=range(15))
    second = start("better, later")

    body = compare(api, first, second).json()

    assert body["baseline"]["id"] == str(second.id)
    [metric] = body["metrics"]
    assert metric["verdict"] == "regressed" and metric["delta"] < 0


def test_noise_is_no_significant_change(api, start):
    baseline = start("baseline", wrong=[0, 1])
    candidate = start("candidate", wrong=[2, 3])

    [metric] = compare(api, candidate, baseline).json()["metrics"]

    assert metric["verdict"] == "no_significant_change"
    assert metric["significant"] is False


def test_runs_on_different_dataset_versions_are_a_400_naming_both(api, start, make_dataset):
    baseline = start("baseline")
    other_version = make_dataset(qa_rows(ROWS), name="Other set")
    candidate = start("candidate", dataset_version=other_version)

    response = compare(api, candidate, baseline)

    assert response.status_code == 400
    message = response.json()["message"]
    assert "same dataset version" in message
    assert '"QA" version 1' in message and '"Other set" version 1' in message
    assert "baseline" in response.json()["errors"]


def test_a_missing_or_identical_baseline_is_a_400(api, start):
    run = start("run")

    missing = api.get(f"/v1/evaluations/{run.id}/compare")
    same = compare(api, run, run)

    assert missing.status_code == 400 and "baseline" in missing.json()["errors"]
    assert same.status_code == 400 and "different run" in same.json()["message"]


def test_another_projects_run_is_a_404(api, start, outsider, other_project):
    from tests.conftest import _api_client_for

    run = start("mine")
    stranger = _api_client_for(outsider)

    assert compare(stranger, run, run).status_code == 404
    assert (
        api.get(
            f"/v1/evaluations/{run.id}/compare",
            {"baseline": "00000000-0000-0000-0000-000000000000"},
        ).status_code
        == 404
    )
    assert api.get(f"/v1/evaluations/{run.id}/compare", {"baseline": "nope"}).status_code == 404


def test_the_schema_documents_the_compare_operation(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    operation = response.json()["paths"]["/v1/evaluations/{evaluation_id}/compare"]["get"]
    assert operation["operationId"] == "evaluations_compare"
    [baseline] = [p for p in operation["parameters"] if p["name"] == "baseline"]
    assert baseline["required"] is True and baseline["in"] == "query"
    assert {"200", "400", "404"} <= set(operation["responses"])
