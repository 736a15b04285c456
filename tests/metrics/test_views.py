import pytest

from metrics import demo, services
from metrics.models import Metric, MetricVersion


def _url(project, tail=""):
    return f"/projects/{project.id}/metrics/{tail}"


def test_the_catalogue_lists_builtins_grouped_by_category(web, project):
    response = web.get(_url(project))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Exact match" in html and "Correctness" in html and "Context quality" in html


def test_filters_narrow_the_catalogue_and_htmx_gets_the_fragment(web, project):
    response = web.get(_url(project), {"q": "rouge"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert 'id="catalogue"' in html and "<html" not in html
    assert "ROUGE-L" in html and "Exact match" not in html
    response = web.get(_url(project), {"category": "METRIC_CATEGORY_CONTEXT_QUALITY"})
    assert "Chunk usage" in response.content.decode()
    assert "BLEU" not in response.content.decode()


def test_outsiders_get_404(outsider_web, project):
    assert outsider_web.get(_url(project)).status_code == 404


def test_create_a_metric_from_the_form(web, project):
    response = web.post(
        _url(project, "new/"),
        {
            "implementation": "contains_any",
            "name": "Mentions Paris",
            "param_values": "Paris\nparis",
            "param_case_sensitive": "on",
        },
    )
    metric = Metric.objects.get(project=project, name="Mentions Paris")
    assert response.status_code == 302
    assert metric.latest_version().params == {"values": ["Paris", "paris"], "case_sensitive": True}


def test_the_form_shows_field_errors_and_creates_nothing(web, project):
    response = web.post(
        _url(project, "new/"),
        {"implementation": "regex_match", "name": "Bad regex", "param_pattern": "(("},
    )
    assert response.status_code == 200
    assert "Invalid regular expression" in response.content.decode()
    assert not Metric.objects.filter(project=project, name="Bad regex").exists()


def test_the_judge_form_has_a_prompt_editor_with_variables(web, project):
    html = web.get(_url(project, "new/"), {"implementation": "llm_judge"}).content.decode()
    assert "prompt-editor" in html and "score_max" in html
    response = web.post(_url(project, "prompt-variables/"), {"param_prompt": "Rate {{answer}}"})
    assert "{{answer}}" in response.content.decode()


def test_viewers_cannot_open_the_create_form(viewer_web, project):
    assert viewer_web.get(_url(project, "new/")).status_code == 403


def test_editing_the_definition_makes_a_new_version(web, project, owner):
    metric = services.metric_create(
        project=project,
        user=owner,
        name="Greets",
        implementation="contains",
        params={"values": ["hi"]},
    )
    response = web.post(
        _url(project, f"{metric.id}/edit/"),
        {"implementation": "contains", "name": "Greets", "param_values": "hello", "note": "v2"},
    )
    assert response.status_code == 302
    assert [v.number for v in metric.versions.all()] == [2, 1]
    assert metric.versions.get(number=1).params["values"] == ["hi"]
    # metadata only: no new version
    web.post(
        _url(project, f"{metric.id}/edit/"),
        {"implementation": "contains", "name": "Greets politely", "param_values": "hello"},
    )
    metric.refresh_from_db()
    assert metric.name == "Greets politely" and metric.versions.count() == 2


def test_detail_shows_history_and_try_it_scores(web, project):
    metric = Metric.objects.get(project=None, builtin_key="exact_match")
    html = web.get(_url(project, f"{metric.id}/")).content.decode()
    assert "Version history" in html and "Try it" in html
    version = metric.latest_version()
    response = web.post(
        _url(project, f"{metric.id}/versions/{version.id}/try/"),
        {"input_response": "Paris", "input_expected": "Paris"},
        headers={"HX-Request": "true"},
    )
    assert 'id="try-result"' in response.content.decode() and ">1<" in response.content.decode()
    response = web.post(
        _url(project, f"{metric.id}/versions/{version.id}/try/"), {"input_response": "Paris"}
    )
    assert "Missing input expected." in response.content.decode()


def test_builtins_cannot_be_edited_or_deleted_from_the_ui(web, project):
    metric = Metric.objects.get(project=None, builtin_key="exact_match")
    assert web.get(_url(project, f"{metric.id}/edit/")).status_code == 403
    assert web.post(_url(project, f"{metric.id}/delete/")).status_code == 403


def test_delete_from_the_ui(web, project, owner):
    metric = services.metric_create(
        project=project, user=owner, name="Tmp", implementation="json_valid"
    )
    assert web.post(_url(project, f"{metric.id}/delete/")).status_code == 302
    metric.refresh_from_db()
    assert metric.is_deleted and MetricVersion.objects.filter(metric=metric).exists()


@pytest.mark.django_db
def test_the_demo_seed_is_idempotent(project, owner):
    first = demo.seed(project=project, user=owner)
    second = demo.seed(project=project, user=owner)
    assert len(first) == 2 and second == []
