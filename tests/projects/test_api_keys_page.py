from __future__ import annotations

import pytest

from projects.models import ApiKey

pytestmark = pytest.mark.django_db


def test_a_new_key_is_shown_once(web, owner):
    response = web.post("/account/api-keys/", {"name": "laptop"})
    assert response.status_code == 200
    html = response.content.decode()
    key = ApiKey.objects.get(user=owner, name="laptop")
    assert f"es_{key.prefix}_" in html
    assert response["Cache-Control"] == "no-store"
    again = web.get("/account/api-keys/").content.decode()
    assert f"es_{key.prefix}_…" in again
    # the full secret is no longer on the page
    full = [line for line in html.splitlines() if f"es_{key.prefix}_" in line and "…" not in line]
    assert full and full[0].strip() not in again


def test_a_blank_name_is_a_form_error(web, owner):
    response = web.post("/account/api-keys/", {"name": ""})
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert not ApiKey.objects.filter(user=owner).exists()


def test_revoking_a_key(web, owner):
    web.post("/account/api-keys/", {"name": "old"})
    key = ApiKey.objects.get(user=owner, name="old")
    response = web.post(f"/account/api-keys/{key.pk}/revoke/")
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_nobody_can_revoke_someone_elses_key(outsider_web, owner):
    from projects.services import api_key_create

    key, _ = api_key_create(user=owner, name="mine")
    assert outsider_web.post(f"/account/api-keys/{key.pk}/revoke/").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
