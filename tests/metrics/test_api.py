import uuid

import pytest

from metrics.catalogue import CATALOGUE
from metrics.models import Metric, MetricVersion

try:  # the published SDK's models, to check field names exactly
    from gradient.types.agents.api_evaluation_metric import APIEvaluationMetric
    from gradient.types.agents.api_evaluation_metric_result import APIEvaluationMetricResult
except ImportError:  # pragma: no cover
    APIEvaluationMetric = APIEvaluationMetricResult = None


def _create(client, project, **overrides):
    body = {
        "project_id": str(project.id),
        "name": "Polite answers",
        "description": "Contains a greeting",
        "implementation": "contains_any",
        "params": {"values": ["hello", "hi"], "case_sensitive": False},
        **overrides,
    }
    return client.post("/v1/metrics", body, format="json")


def test_the_list_includes_the_builtins_and_project_metrics(api, project):
    _create(api, project)
    response = api.get(f"/v1/metrics?project_id={project.id}")
    assert response.status_code == 200
    data = response.json()["data"]
    assert len(data) == len(CATALOGUE) + 1
    exact = next(m for m in data if m["name"] == "Exact match")
    assert exact["is_builtin"] and exact["project_id"] is None
    assert [i["name"] for i in exact["inputs"]] == ["response", "expected"]
    assert exact["latest_version"]["implementation"] == "exact_match"


def test_project_id_is_required_and_must_be_a_uuid(api, project):
    response = api.get("/v1/metrics")
    assert response.status_code == 400 and "project_id" in response.json()["errors"]
    response = api.get("/v1/metrics?project_id=nope")
    assert response.status_code == 400 and "project_id" in response.json()["errors"]


def test_another_projects_metrics_are_not_found(outsider_api, api, project):
    metric_id = _create(api, project).json()["id"]
    assert outsider_api.get(f"/v1/metrics?project_id={project.id}").status_code == 404
    assert outsider_api.get(f"/v1/metrics/{metric_id}").status_code == 404
    assert outsider_api.delete(f"/v1/metrics/{metric_id}").status_code == 404
    assert outsider_api.get(f"/v1/metrics/{metric_id}/versions").status_code == 404


def test_anonymous_callers_are_refused(anon_api, project):
    assert anon_api.get(f"/v1/metrics?project_id={project.id}").status_code in (401, 403)


def test_create_returns_the_metric_with_its_declared_inputs(editor_api, project):
    response = _create(editor_api, project)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["project_id"] == str(project.id) and body["latest_version"]["number"] == 1
    assert [i["name"] for i in body["inputs"]] == ["response", "expected"]
    assert body["value_type"] == "METRIC_VALUE_TYPE_NUMBER"
    assert (body["range_min"], body["range_max"]) == (0.0, 1.0)


def test_viewers_cannot_create(viewer_api, project):
    assert _create(viewer_api, project).status_code == 403
    assert not Metric.objects.filter(project=project).exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"implementation": "nope"}, "implementation"),
        ({"name": ""}, "name"),
        ({"category": "METRIC_CATEGORY_FUN"}, "category"),
        ({"params": {"values": "x", "bogus": 1}}, "params.bogus"),
        ({"params": "not an object"}, "params"),
        ({"implementation": "regex_match", "params": {"pattern": "(("}}, "params.pattern"),
        ({"implementation": "chrf", "params": {"word_order": 7}}, "params.word_order"),
        ({"implementation": "json_schema_valid", "params": {"schema": 5}}, "params.schema"),
    ],
)
def test_bad_definitions_are_rejected_with_field_errors(api, project, overrides, field):
    response = _create(api, project, **overrides)
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()
    assert not Metric.objects.filter(project=project).exists()


def test_names_are_unique_per_project(api, project):
    assert _create(api, project).status_code == 201
    response = _create(api, project)
    assert response.status_code == 400 and "name" in response.json()["errors"]


def test_versions_are_immutable_and_a_change_makes_a_new_version(api, project):
    metric = _create(api, project).json()
    first = metric["latest_version"]
    response = api.post(
        f"/v1/metrics/{metric['id']}/versions",
        {"params": {"values": ["hey"]}, "note": "greet differently"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    second = response.json()
    assert second["number"] == 2 and second["params"]["values"] == ["hey"]
    old = api.get(f"/v1/metrics/{metric['id']}/versions/{first['id']}").json()
    assert old["params"]["values"] == ["hello", "hi"]
    url = f"/v1/metrics/{metric['id']}/versions/{first['id']}"
    assert api.put(url, {"params": {}}, format="json").status_code == 405
    assert api.patch(url, {"params": {}}, format="json").status_code == 405
    listed = api.get(f"/v1/metrics/{metric['id']}/versions").json()["data"]
    assert [v["number"] for v in listed] == [2, 1]


def test_saving_an_existing_version_is_refused():
    from evalsite.errors import ConflictError

    version = MetricVersion.objects.filter(metric__project=None).first()
    version.params = {"tampered": True}
    with pytest.raises(ConflictError):
        version.save()


test_saving_an_existing_version_is_refused = pytest.mark.django_db(
    test_saving_an_existing_version_is_refused
)


def test_a_bad_new_version_changes_nothing(api, project):
    metric = _create(api, project).json()
    response = api.post(
        f"/v1/metrics/{metric['id']}/versions",
        {"params": {"case_sensitive": "maybe"}},
        format="json",
    )
    assert response.status_code == 400 and "params.case_sensitive" in response.json()["errors"]
    assert MetricVersion.objects.filter(metric_id=metric["id"]).count() == 1


def test_builtins_are_read_only(api, project):
    builtin = Metric.objects.get(project=None, builtin_key="exact_match")
    assert api.get(f"/v1/metrics/{builtin.id}").status_code == 200
    assert api.delete(f"/v1/metrics/{builtin.id}").status_code == 403
    response = api.post(f"/v1/metrics/{builtin.id}/versions", {"params": {}}, format="json")
    assert response.status_code == 403
    assert builtin.versions.count() == 1


def test_delete_hides_the_metric_but_keeps_its_versions(api, editor_api, viewer_api, project):
    metric_id = _create(api, project).json()["id"]
    assert viewer_api.delete(f"/v1/metrics/{metric_id}").status_code == 403
    assert editor_api.delete(f"/v1/metrics/{metric_id}").status_code == 204
    assert api.get(f"/v1/metrics/{metric_id}").status_code == 404
    assert MetricVersion.objects.filter(metric_id=metric_id).count() == 1


def test_unknown_ids_answer_404(api, project):
    assert api.get(f"/v1/metrics/{uuid.uuid4()}").status_code == 404
    builtin = Metric.objects.filter(project=None).first()
    assert api.get(f"/v1/metrics/{builtin.id}/versions/{uuid.uuid4()}").status_code == 404


def test_try_scores_sample_inputs(editor_api, viewer_api, project):
    builtin = Metric.objects.get(project=None, builtin_key="squad_f1")
    version = builtin.latest_version()
    url = f"/v1/metrics/{builtin.id}/versions/{version.id}/try"
    sample = {"inputs": {"response": "the cat sat", "expected": "a cat sat"}}
    assert viewer_api.post(url, sample, format="json").status_code == 403  # editors only
    viewer_api = editor_api
    response = viewer_api.post(
        url, {"inputs": {"response": "the cat sat", "expected": "a cat sat"}}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["number_value"] == 1.0 and body["error_description"] is None
    response = viewer_api.post(url, {"inputs": {"response": "x"}}, format="json")
    assert response.json()["error_description"] == "Missing input expected."
    response = viewer_api.post(url, {"inputs": {"answer": "x"}}, format="json")
    assert response.status_code == 400 and "inputs" in response.json()["errors"]
    response = viewer_api.post(url, {"inputs": [1, 2]}, format="json")
    assert response.status_code == 400


def test_judge_api_keys_are_never_returned(api, project):
    response = _create(
        api,
        project,
        name="Judge",
        implementation="llm_judge",
        params={
            "preset": "answer_relevancy",
            "base_url": "http://127.0.0.1:9/v1",
            "model": "m",
            "api_key": "sk-very-secret",
        },
    )
    assert response.status_code == 201, response.json()
    text = response.content.decode()
    assert "sk-very-secret" not in text
    stored = MetricVersion.objects.get(metric_id=response.json()["id"]).params["api_key"]
    assert stored["encrypted"] not in text
    assert response.json()["latest_version"]["params"]["api_key"] == {
        "secret": True,
        "value": "********",
    }
    # a new version that leaves the key out keeps it
    metric_id = response.json()["id"]
    response = api.post(
        f"/v1/metrics/{metric_id}/versions",
        {
            "params": {
                **{"preset": "answer_relevancy", "base_url": "http://127.0.0.1:9/v1", "model": "m2"}
            }
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    latest = MetricVersion.objects.get(metric_id=metric_id, number=2)
    assert latest.params["api_key"] == stored


def test_gradient_catalogue_uses_the_sdk_field_names(api, project):
    _create(api, project)
    response = api.get("/v2/gen-ai/evaluation_metrics")
    assert response.status_code == 200
    metrics = response.json()["metrics"]
    assert len(metrics) == len(CATALOGUE) + 1
    expected_fields = {
        "category",
        "description",
        "inverted",
        "is_metric_goal",
        "metric_name",
        "metric_rank",
        "metric_type",
        "metric_uuid",
        "metric_value_type",
        "range_max",
        "range_min",
    }
    for item in metrics:
        # range_max / range_min are omitted for unbounded metrics, never null.
        assert expected_fields - {"range_max", "range_min"} <= set(item) <= expected_fields
        assert None not in item.values()
        assert item["category"].startswith("METRIC_CATEGORY_")
        assert item["metric_type"].startswith("METRIC_TYPE_")
        assert item["metric_value_type"].startswith("METRIC_VALUE_TYPE_")
    if APIEvaluationMetric is not None:
        assert set(APIEvaluationMetric.model_fields) == expected_fields
        for item in metrics:
            assert APIEvaluationMetric.model_validate(item).metric_name == item["metric_name"]


def test_gradient_catalogue_hides_other_projects_metrics(outsider_api, api, project):
    _create(api, project)
    names = [
        m["metric_name"]
        for m in outsider_api.get("/v2/gen-ai/evaluation_metrics").json()["metrics"]
    ]
    assert "Polite answers" not in names and len(names) == len(CATALOGUE)


def test_metric_result_dict_matches_the_sdk_model(db):
    from metrics.api.gradient import metric_result_dict
    from metrics.scoring import MetricOutcome

    metric = Metric.objects.get(project=None, builtin_key="bleu")
    ok = metric_result_dict(metric, MetricOutcome.number(42.0, "fine"))
    failed = metric_result_dict(metric, MetricOutcome.error("no reference"))
    assert ok["number_value"] == 42.0 and ok["error_description"] == ""
    assert failed["error_description"] == "no reference"
    assert "number_value" not in failed and "string_value" not in failed
    assert "string_value" not in ok and None not in ok.values()
    if APIEvaluationMetricResult is not None:
        assert set(ok) == set(APIEvaluationMetricResult.model_fields) - {"string_value"}
        APIEvaluationMetricResult.model_validate(ok)
