"""Errors in each dialect's shape: DigitalOcean's ``{"id", "message", "request_id"}`` under
``/v2/gen-ai`` (with the request id also in ``X-Request-Id``), ``{"message", "errors",
"code"}`` under ``/v1``; unknown paths and methods answer JSON under both prefixes."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.django_db


def _assert_do_error(response, status: int, error_id: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["id"] == error_id
    assert isinstance(body["message"], str) and body["message"]
    assert body["request_id"] and body["request_id"] == response["X-Request-Id"]
    assert "code" not in body
    return body


def test_v2_not_found_is_digitalocean_shaped(api):
    response = api.get(f"/v2/gen-ai/evaluation_runs/{uuid.uuid4()}")
    body = _assert_do_error(response, 404, "not_found")
    assert body["message"] == "No such evaluation run."


def test_v2_bad_input_is_digitalocean_shaped_and_names_the_field(api):
    response = api.post("/v2/gen-ai/evaluation_runs", {"agent_uuids": "x"}, format="json")
    body = _assert_do_error(response, 400, "bad_request")
    assert "test_case_uuid" in body["errors"] or "agent_uuids" in body["errors"]


def test_v2_unauthenticated_is_digitalocean_shaped(anon_api):
    _assert_do_error(anon_api.get("/v2/gen-ai/evaluation_test_cases"), 401, "unauthorized")


def test_every_request_gets_its_own_request_id(api):
    first = api.get(f"/v2/gen-ai/evaluation_runs/{uuid.uuid4()}")
    second = api.get(f"/v2/gen-ai/evaluation_runs/{uuid.uuid4()}")
    assert first["X-Request-Id"] != second["X-Request-Id"]
    assert api.get("/v2/gen-ai/evaluation_test_cases")["X-Request-Id"]


@pytest.mark.parametrize(
    "path", ["/v2/gen-ai/no_such_thing", "/v2/gen-ai/evaluation_runs/x/y/z/w", "/v2/gen-ai/"]
)
def test_unknown_v2_paths_answer_json_404(api, path):
    _assert_do_error(api.get(path), 404, "not_found")


def test_unknown_v2_method_answers_json_405(api):
    body = _assert_do_error(api.delete("/v2/gen-ai/evaluation_metrics"), 405, "method_not_allowed")
    assert "DELETE" in body["message"]


@pytest.mark.parametrize("path", ["/v1/no_such_thing", "/v1/evaluations/x/y/z", "/v1/"])
def test_unknown_v1_paths_answer_json_404_in_the_v1_shape(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "not_found" and body["message"]
    assert "id" not in body and response["X-Request-Id"]


def test_unknown_v1_method_answers_json_405_in_the_v1_shape(api):
    response = api.put("/v1/evaluations", {}, format="json")
    assert response.status_code == 405
    body = response.json()
    assert body["code"] == "method_not_allowed" and "PUT" in body["message"]


def test_unknown_paths_outside_the_apis_stay_html(web):
    response = web.get("/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_v1_errors_keep_their_documented_shape(api):
    response = api.get("/v1/evaluations", {"project_id": "nope"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and body["errors"]["project_id"]
    assert set(body) == {"message", "errors", "code"}
