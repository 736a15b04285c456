"""The metric builder: the implementation picker shows every implementation by name, grouped
by category, with descriptions; the judge form is titled and laid out as one; "Try it" scores
sample inputs against the unsaved definition."""

import re

from metrics.models import Metric


def _url(project, tail=""):
    return f"/projects/{project.id}/metrics/{tail}"


def _options(html: str) -> list[tuple[str, str]]:
    select = re.search(r'<select id="implementation-picker".*?</select>', html, re.S).group(0)
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select)


def test_the_implementation_picker_names_every_implementation(web, project):
    html = web.get(_url(project, "new/")).content.decode()
    options = _options(html)
    assert len(options) > 20
    assert all(value and text.strip() for value, text in options)
    assert ("contains", "Contains") in options
    assert '<optgroup label="Correctness">' in html
    assert '<optgroup label="Safety and security">' in html


def test_the_picker_selects_the_chosen_implementation_and_saving_uses_it(web, project):
    html = web.get(_url(project, "new/"), {"implementation": "contains"}).content.decode()
    assert re.search(r'<option value="contains" [^>]*selected>Contains<', html)
    response = web.post(
        _url(project, "new/"),
        {"implementation": "contains", "name": "Mentions warranty", "param_values": "warranty"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    metric = Metric.objects.get(project=project, name="Mentions warranty")
    assert metric.latest_version().implementation == "contains"


def test_the_judge_form_is_titled_as_a_judge(web, project):
    html = web.get(_url(project, "new/"), {"implementation": "llm_judge"}).content.decode()
    assert "<h2>New LLM judge</h2>" in html
    assert "Judge model" in html and "Rubric" in html
    assert "Create judge" in html


def test_try_it_scores_the_unsaved_definition(web, project):
    response = web.post(
        _url(project, "new/try/"),
        {
            "implementation": "contains",
            "name": "",
            "param_values": "warranty",
            "input_response": "Our warranty lasts two years.",
        },
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="draft-try-result"' in html and "<html" not in html
    assert re.search(r'class="score">1(\.0+)?<', html), html
    assert not Metric.objects.filter(project=project).exists()


def test_try_it_shows_definition_errors_instead_of_a_score(web, project):
    response = web.post(
        _url(project, "new/try/"),
        {"implementation": "regex_match", "param_pattern": "((", "input_response": "x"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Invalid regular expression" in html
    assert 'class="score"' not in html


def test_the_try_panel_follows_the_declared_inputs(web, project):
    response = web.post(
        _url(project, "new/try/?panel=1"),
        {"implementation": "llm_judge", "inputs": "answer: the reply\nreference: the gold answer"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert 'id="try-panel"' in html and "<html" not in html
    assert 'name="input_answer"' in html and 'name="input_reference"' in html


def test_the_edit_form_shows_the_metrics_implementation_and_its_parameters(web, project):
    web.post(
        _url(project, "new/"),
        {"implementation": "contains", "name": "Mentions warranty", "param_values": "warranty"},
    )
    metric = Metric.objects.get(project=project, name="Mentions warranty")
    html = web.get(_url(project, f"{metric.pk}/edit/")).content.decode()
    assert re.search(r'<option value="contains" [^>]*selected>Contains<', html)
    assert "warranty</textarea>" in html
    assert 'id="draft-try-result"' in html
