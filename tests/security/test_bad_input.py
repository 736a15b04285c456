"""Bad input gets a clear 400 naming where it is, and changes nothing; never a 500. Runs on
SQLite and on PostgreSQL (which cannot store NUL characters at all)."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from datasets.models import DatasetItem
from evalsite import safe_json
from tests.datasets.factories import make_draft

DEEP = 1_000


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def vurl(version, suffix=""):
    return f"/v1/datasets/{version.dataset_id}/versions/{version.pk}{suffix}"


def _post_raw(api, url, body: str | bytes):
    return api.generic("POST", url, body, content_type="application/json")


# --- nesting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [DEEP, 100_000])
def test_deeply_nested_json_is_a_400_on_json_endpoints(api, project, depth):
    draft = make_draft(project)
    for url in (
        f"/v1/datasets?project_id={project.pk}",
        vurl(draft, "/items"),
        f"/v1/workflows?project_id={project.pk}",
        f"/v1/metrics?project_id={project.pk}",
        "/v2/gen-ai/evaluation_runs",
    ):
        response = _post_raw(api, url, '{"items": ' + _nested(depth) + "}")
        assert response.status_code == 400, (url, response.status_code)
        assert "nested" in response.json()["message"], url
    assert DatasetItem.objects.filter(version=draft).count() == 0


def test_moderate_nesting_is_accepted(api, project):
    draft = make_draft(project)
    value: object = "leaf"
    for _ in range(50):
        value = {"child": value}
    response = api.post(vurl(draft, "/items"), {"items": [{"tree": value}]}, format="json")
    assert response.status_code == 201, response.content


def test_deep_json_in_a_jsonl_import_is_a_row_problem(api, project):
    draft = make_draft(project)
    text = '{"a": 1}\n{"a": ' + _nested(DEEP) + "}\n"
    response = api.post(
        vurl(draft, "/import"),
        {"file": SimpleUploadedFile("d.jsonl", text.encode())},
        format="multipart",
    )
    assert response.status_code == 400
    assert "2" in json.dumps(response.json())  # the line is named
    assert DatasetItem.objects.filter(version=draft).count() == 0


def test_deep_json_in_a_json_array_import_is_a_400(api, project):
    draft = make_draft(project)
    text = '[{"a": 1}, {"a": ' + _nested(DEEP) + "}]"
    response = api.post(
        vurl(draft, "/import"),
        {"file": SimpleUploadedFile("d.json", text.encode())},
        format="multipart",
    )
    assert response.status_code == 400
    assert "nested" in json.dumps(response.json())


def test_deep_json_to_the_demo_agent_is_a_json_400():
    """Anonymous and CSRF-exempt: the body goes through the same depth-limited parser."""
    response = Client().post(
        "/demo-agent/answer",
        '{"question": "Hi?", "context": ' + _nested(3_000) + "}",
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "nested" in response.json()["error"]


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "raw",
    [
        '{"after": ' + _nested(1_600) + "}",  # about 3.2 KB, the cursor of the audit
        '{"after": 99999999999999999999999999}',
        '{"after": 9223372036854775808}',
        '{"after": -9223372036854775809}',
        '{"after": 2147483648}',
        '{"after": true}',
    ],
)
def test_a_nested_or_out_of_range_cursor_is_a_400_naming_the_cursor(api, project, raw):
    draft = make_draft(project, rows=[{"a": 1}, {"a": 2}])
    response = api.get(vurl(draft, "/items?cursor=" + _cursor(raw)))
    assert response.status_code == 400, response.content[:300]
    assert "cursor" in response.json()["errors"]


def test_a_cursor_in_range_still_pages(api, project):
    draft = make_draft(project, rows=[{"a": 1}, {"a": 2}, {"a": 3}])
    data = api.get(vurl(draft, "/items?cursor=" + _cursor('{"after": 0}'))).json()["data"]
    assert [row["data"]["a"] for row in data] == [2, 3]


def test_deep_json_in_monitor_bindings_is_a_form_error(web, project):
    from traces.models import Monitor

    data = {
        "name": "Deep",
        "interval_minutes": "5",
        "period": "day",
        "settle_seconds": "60",
        "bindings": "[" + _nested(DEEP) + "]",
    }
    response = web.post(f"/projects/{project.pk}/monitors/new/", data)
    assert response.status_code == 400
    assert "nested" in response.content.decode()
    assert not Monitor.objects.exists()


def test_a_judge_reply_of_deep_json_is_a_metric_error_not_a_500(editor_api, project, owner):
    """The judge's endpoint is the editor's to choose: its reply is untrusted JSON too (it
    was a bare "RecursionError: maximum recursion depth exceeded..." as the error)."""
    from metrics import services as metric_services
    from tests.metrics.fake_openai import fake_openai_server

    with fake_openai_server() as fake:
        fake.reply(raw_body='{"choices": ' + _nested(3_000) + "}")
        metric = metric_services.metric_create(
            project=project,
            user=owner,
            name="Judge",
            implementation="llm_judge",
            params={"preset": "correctness", "base_url": fake.url, "model": "m"},
        )
        version = metric.latest_version()
        response = editor_api.post(
            f"/v1/metrics/{metric.id}/versions/{version.id}/try",
            {"inputs": {"expected": "a", "response": "b"}},
            format="json",
        )
    assert response.status_code == 200, response.content[:300]
    assert "not an OpenAI chat completion" in response.json()["error_description"]


# --- NUL and lone surrogates -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"items": [{"question": "a\\u0000b"}]}', "items[0].question"),
        ('{"items": [{"question": "\\ud800"}]}', "items[0].question"),
        ('{"items": [{"ke\\u0000y": "v"}]}', "items[0].ke?y"),
        ('{"items": [{"\\udfff": "v"}]}', "items[0].?"),
        ('{"items": [{"list": ["ok", "x\\u0000"]}]}', "items[0].list[1]"),
    ],
)
def test_nul_and_lone_surrogates_in_items_are_a_400_naming_the_field(api, project, body, field):
    draft = make_draft(project)
    response = _post_raw(api, vurl(draft, "/items"), body)
    assert response.status_code == 400, response.content
    data = response.json()
    assert field in data["errors"], data
    assert DatasetItem.objects.filter(version=draft).count() == 0


def test_nul_in_other_json_bodies_is_a_400(api, project):
    body = '{"name": "W\\u0000", "kind": "http", "config": {}}'
    response = _post_raw(api, f"/v1/workflows?project_id={project.pk}", body)
    assert response.status_code == 400 and "name" in response.json()["errors"]
    response = _post_raw(api, f"/v1/datasets?project_id={project.pk}", '{"name": "\\ud83d"}')
    assert response.status_code == 400 and "name" in response.json()["errors"]


@pytest.mark.parametrize(
    ("filename", "text"),
    [
        ("d.csv", "question\nfine\nbad\x00cell\n"),
        ("d.jsonl", '{"q": "fine"}\n{"q": "bad\\u0000"}\n'),
        ("d.jsonl", '{"q": "fine"}\n{"q": "\\ud800"}\n'),
        ("d.json", '[{"q": "fine"}, {"k\\u0000": 1}]'),
    ],
)
def test_nul_and_surrogates_in_imports_are_row_problems(api, project, filename, text):
    draft = make_draft(project)
    response = api.post(
        vurl(draft, "/import"),
        {"file": SimpleUploadedFile(filename, text.encode())},
        format="multipart",
    )
    assert response.status_code == 400, response.content
    body = json.dumps(response.json())
    assert "NUL" in body or "surrogate" in body
    assert DatasetItem.objects.filter(version=draft).count() == 0


def test_nul_in_search_parameters_is_a_400_naming_the_parameter(api, project, web):
    draft = make_draft(project, rows=[{"q": "hello"}])
    response = api.get(vurl(draft, "/items") + "?search=he%00llo")
    assert response.status_code == 400
    assert response.json()["errors"] == {"search": [response.json()["message"]]}
    response = api.get(f"/v1/datasets?project_id={project.pk}&search=%00")
    assert response.status_code == 400
    page = web.get(f"/projects/{project.pk}/datasets/{draft.dataset_id}/?q=a%00b")
    assert page.status_code == 400
    assert api.get(vurl(draft, "/items") + "?search=hell").status_code == 200


def test_the_ui_item_form_refuses_unsafe_json(web, project):
    draft = make_draft(project)
    url = f"/projects/{project.pk}/datasets/{draft.dataset_id}/versions/{draft.pk}/rows/"
    cases = (('{"q": "\\ud800"}', "surrogate"), ('{"q": ' + _nested(DEEP) + "}", "nested"))
    for data, shown in cases:
        response = web.post(url, {"data": data}, follow=True)
        assert response.status_code == 200
        assert shown in response.content.decode()
    assert DatasetItem.objects.filter(version=draft).count() == 0


def test_the_checker_is_iterative_and_names_paths():
    deep: list = []
    cursor = deep
    for _ in range(5_000):
        cursor.append([])
        cursor = cursor[0]
    with pytest.raises(safe_json.UnsafeJSON, match="nested more than"):
        safe_json.check(deep)
    with pytest.raises(safe_json.UnsafeJSON) as info:
        safe_json.check({"a": [{"b": "x\x00"}]})
    assert info.value.path == "a[0].b"
    safe_json.check({"emoji": "😀", "text": "plain"})


# --- oversized bodies ------------------------------------------------------------------------


def test_a_50_mb_body_is_a_json_400_under_the_api_prefixes(api, project):
    body = b'{"name": "' + b"x" * (50 * 1024 * 1024) + b'"}'
    for url in (f"/v1/datasets?project_id={project.pk}", "/v2/gen-ai/evaluation_runs"):
        response = api.generic("POST", url, body, content_type="application/json")
        assert response.status_code == 400
        assert response["Content-Type"].startswith("application/json")
        assert "larger than" in response.json()["message"]


def test_a_chunked_json_body_without_a_length_is_capped_by_the_parser(settings, api, project):
    """No Content-Length to check up front: the parser stops reading at the limit."""
    from io import BytesIO

    from rest_framework.exceptions import ParseError

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    with pytest.raises(ParseError, match="larger than 1024 bytes"):
        safe_json.SafeJSONParser().parse(BytesIO(b'{"a": "' + b"x" * 5000 + b'"}'))


def test_anonymous_requests_get_the_same_refusals(project):
    client = Client()
    response = client.generic(
        "POST", "/v1/datasets", b"x" * (11 * 1024 * 1024), content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["code"] == "request_too_large"


def test_an_out_of_range_integer_is_a_400_not_a_database_error(api, project):
    """Found by schemathesis on PostgreSQL: a 64-bit rank overflowed the integer column."""
    body = {"name": "Ranked", "implementation": "contains", "rank": 58035369475836}
    response = api.post(f"/v1/metrics?project_id={project.pk}", body, format="json")
    assert response.status_code == 400 and "rank" in response.json()["errors"]
    from django.core.exceptions import ValidationError

    from metrics import services

    with pytest.raises(ValidationError) as info:
        services.metric_create(
            project=project, user=None, name="Ranked", implementation="contains", rank=2**40
        )
    assert "rank" in info.value.message_dict
