"""One FilterSet per list (runs, datasets, workflows, metrics, results), shared by the UI list
and the API list: good values filter both, a bad value is a 400 naming the field in the API
and a form error in the UI."""

from __future__ import annotations

import pytest

from tests.runs_api.conftest import builtin

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path, params, field",
    [
        ("/v1/evaluations", {"status": "bogus"}, "status"),
        ("/v1/evaluations", {"dataset_id": "not-a-uuid"}, "dataset_id"),
        ("/v1/datasets", {"released": "perhaps"}, "released"),
        ("/v1/workflows", {"kind": "carrier-pigeon"}, "kind"),
        ("/v1/metrics", {"category": "METRIC_CATEGORY_BOGUS"}, "category"),
        ("/v1/metrics", {"metric_type": "nope"}, "metric_type"),
        ("/v1/metrics", {"origin": "elsewhere"}, "origin"),
    ],
)
def test_api_lists_answer_400_naming_the_bad_filter(api, project, path, params, field):
    response = api.get(path, {"project_id": str(project.id), **params})
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_api_lists_filter_with_good_values(api, project, qa_version, agent):
    base = {"project_id": str(project.id)}
    datasets = api.get("/v1/datasets", {**base, "search": "q", "released": "true"}).json()
    assert [d["id"] for d in datasets["data"]] == [str(qa_version.dataset_id)]
    assert api.get("/v1/datasets", {**base, "search": "zzz"}).json()["data"] == []
    workflows = api.get("/v1/workflows", {**base, "kind": "http"}).json()["data"]
    assert [w["id"] for w in workflows] == [str(agent.id)]
    assert api.get("/v1/workflows", {**base, "kind": "python"}).json()["data"] == []
    metrics = api.get("/v1/metrics", {**base, "search": "answer correctness"}).json()["data"]
    assert [m["id"] for m in metrics] == [str(builtin("answer_correctness").id)]
    assert api.get("/v1/metrics", {**base, "origin": "project"}).json()["data"] == []


def test_results_filter_is_validated(api, finished_run):
    base = f"/v1/evaluations/{finished_run.id}/results"
    bad = api.get(base, {"status": "bogus"})
    assert bad.status_code == 400 and "status" in bad.json()["errors"]
    bad = api.get(base, {"below": "low"})
    assert bad.status_code == 400 and "below" in bad.json()["errors"]
    ok = api.get(base, {"status": "failed"})
    assert ok.status_code == 200 and ok.json()["data"] == []
    assert len(api.get(base, {"status": "succeeded"}).json()["data"]) == 5


@pytest.mark.parametrize(
    "area, params",
    [
        ("datasets", {"released": "perhaps"}),
        ("workflows", {"kind": "carrier-pigeon"}),
        ("metrics", {"origin": "elsewhere"}),
    ],
)
def test_ui_lists_show_a_bad_filter_as_a_form_error(web, project, area, params):
    response = web.get(f"/projects/{project.id}/{area}/", params)
    assert response.status_code == 200
    (field,) = params
    assert field in response.context["filter_errors"]
    assert f"{field}: Select a valid choice." in response.content.decode()


def test_ui_results_table_shows_a_bad_filter(web, project, finished_run):
    response = web.get(
        f"/projects/{project.id}/evaluations/{finished_run.id}/", {"status": "bogus"}
    )
    assert response.status_code == 200
    # The results section is rendered on its own (and cached for a finished run,
    # runs.results_cache): the error is read from the page it shows.
    html = response.content.decode()
    alert = html.split('class="callout callout-error" role="alert">', 1)[1].split("</div>", 1)[0]
    assert "status" in alert
