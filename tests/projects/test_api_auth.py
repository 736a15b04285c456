"""Bearer keys: valid, revoked, malformed, unknown, another user's; session auth too."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from projects.models import ApiKey
from projects.services import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db


def _client(raw: str | None = None, header: str | None = None) -> APIClient:
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    elif raw is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_a_valid_key_lists_the_callers_projects(owner, project, other_project):
    _, raw = api_key_create(user=owner, name="ci")
    response = _client(raw).get("/v1/projects")
    assert response.status_code == 200
    assert [p["id"] for p in response.json()["data"]] == [str(project.id)]
    assert response.json()["data"][0]["role"] == "admin"


def test_the_key_is_stored_hashed_and_records_last_use(owner, project):
    api_key, raw = api_key_create(user=owner, name="ci")
    assert raw not in api_key.hashed_secret
    assert raw.startswith(f"es_{api_key.prefix}_")
    assert api_key.last_used_at is None
    _client(raw).get("/v1/projects")
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_no_key_answers_401_with_a_json_error():
    response = _client().get("/v1/projects")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["message"]


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer a b", "Bearer not-a-key", "Bearer es_abc", "Bearer es__secret"],
)
def test_a_malformed_key_answers_401(header, owner):
    response = _client(header=header).get("/v1/projects")
    assert response.status_code == 401
    assert "message" in response.json()


def test_a_wrong_secret_answers_401(owner):
    api_key, raw = api_key_create(user=owner, name="ci")
    tampered = raw[:-4] + ("aaaa" if not raw.endswith("aaaa") else "bbbb")
    assert _client(tampered).get("/v1/projects").status_code == 401


def test_a_revoked_key_answers_401(owner, project):
    api_key, raw = api_key_create(user=owner, name="ci")
    api_key_revoke(api_key=api_key)
    response = _client(raw).get("/v1/projects")
    assert response.status_code == 401
    assert "revoked" in response.json()["message"]


def test_another_users_key_sees_only_that_users_projects(owner, project, outsider, other_project):
    _, raw = api_key_create(user=outsider, name="theirs")
    ids = [p["id"] for p in _client(raw).get("/v1/projects").json()["data"]]
    assert ids == [str(other_project.id)]


def test_session_auth_works_for_the_api(web, project):
    response = web.get("/v1/projects")
    assert response.status_code == 200
    assert response.json()["data"][0]["id"] == str(project.id)


def test_create_api_key_command_prints_a_working_key(owner, project, capsys):
    from django.core.management import call_command

    call_command("create_api_key", "owner", "--name", "script")
    raw = capsys.readouterr().out.strip().splitlines()[-1]
    assert ApiKey.objects.get(user=owner, name="script")
    assert _client(raw).get("/v1/projects").status_code == 200


def test_create_api_key_command_refuses_an_unknown_user(db):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="No user named"):
        call_command("create_api_key", "nobody")
