"""``Idempotency-Key``: the same key and body answer with the first run; the same key with a
different body is a 422 that creates nothing (both dialects)."""

from __future__ import annotations

import pytest

from runs.models import EvaluationRun
from tests.runs_api.conftest import builtin, exact_match_entry

pytestmark = pytest.mark.django_db


def _body(project, version, agent, name="first"):
    return {
        "name": name,
        "project_id": str(project.id),
        "dataset_version_id": str(version.id),
        "config": [exact_match_entry(agent)],
    }


def test_v1_same_key_same_body_answers_with_the_first_run(api, project, qa_version, agent):
    headers = {"Idempotency-Key": "k-1"}
    first = api.post(
        "/v1/evaluations", _body(project, qa_version, agent), format="json", headers=headers
    )
    again = api.post(
        "/v1/evaluations", _body(project, qa_version, agent), format="json", headers=headers
    )
    assert first.status_code == 201 and again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert EvaluationRun.objects.count() == 1


def test_v1_same_key_other_body_is_422_and_creates_nothing(api, project, qa_version, agent):
    headers = {"Idempotency-Key": "k-2"}
    first = api.post(
        "/v1/evaluations", _body(project, qa_version, agent), format="json", headers=headers
    )
    assert first.status_code == 201
    other = api.post(
        "/v1/evaluations",
        _body(project, qa_version, agent, name="second"),
        format="json",
        headers=headers,
    )
    assert other.status_code == 422, other.content
    body = other.json()
    assert body["code"] == "idempotency_key_reused" and "Idempotency-Key" in body["message"]
    assert list(EvaluationRun.objects.values_list("name", flat=True)) == ["first"]


def test_v2_same_key_other_body_is_422_and_creates_nothing(api, project, qa_version, agent):
    exact = builtin("exact_match")
    case = api.post(
        "/v2/gen-ai/evaluation_test_cases",
        {"name": "c", "dataset_uuid": str(qa_version.dataset_id), "metrics": [str(exact.id)]},
        format="json",
    ).json()["test_case_uuid"]
    headers = {"Idempotency-Key": "k-3"}
    body = {"test_case_uuid": case, "agent_uuids": [str(agent.id)], "run_name": "one"}
    first = api.post("/v2/gen-ai/evaluation_runs", body, format="json", headers=headers)
    assert first.status_code == 200
    same = api.post("/v2/gen-ai/evaluation_runs", body, format="json", headers=headers)
    assert same.json() == first.json()
    other = api.post(
        "/v2/gen-ai/evaluation_runs", {**body, "run_name": "two"}, format="json", headers=headers
    )
    assert other.status_code == 422
    assert other.json()["id"] == "unprocessable_entity" and other.json()["request_id"]
    assert EvaluationRun.objects.count() == 1
