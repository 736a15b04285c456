from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from projects.demo import DEMO_USERNAME, seed_demo
from projects.models import Membership, Project, Role

pytestmark = pytest.mark.django_db

OUR_APPS = {"projects", "datasets", "workflows", "metrics", "runs"}


@pytest.fixture
def admin_client_logged_in(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def test_every_model_of_ours_is_in_the_admin():
    ours = [m for m in apps.get_models() if m._meta.app_label in OUR_APPS]
    missing = [m.__name__ for m in ours if m not in admin.site._registry]
    assert ours and not missing


def test_admin_changelists_and_add_pages_load(admin_client_logged_in, project):
    seed_demo()
    for model in admin.site._registry:
        if model._meta.app_label not in OUR_APPS:
            continue
        info = (model._meta.app_label, model._meta.model_name)
        url = reverse(f"admin:{info[0]}_{info[1]}_changelist")
        assert admin_client_logged_in.get(url).status_code == 200, url
        assert admin_client_logged_in.get(url + "?q=a").status_code == 200, url
        obj = model.objects.first()
        if obj is not None:
            change = reverse(f"admin:{info[0]}_{info[1]}_change", args=[obj.pk])
            assert admin_client_logged_in.get(change).status_code == 200, change


def test_the_demo_seed_is_idempotent():
    def counts():
        return {
            m._meta.label: m.objects.count()
            for m in apps.get_models()
            if m._meta.app_label in OUR_APPS or m._meta.label == "auth.User"
        }

    project, _ = seed_demo()
    first = counts()
    again, lines = seed_demo()
    assert again == project
    assert counts() == first
    assert lines == [] or all("created" not in line for line in lines)
    user = get_user_model().objects.get(username=DEMO_USERNAME)
    assert Membership.objects.get(user=user, project=project).role == Role.ADMIN
    assert Project.objects.filter(slug="demo").count() == 1


def test_healthz_reports_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["broker"] == {"ok": True, "backend": "orm"}


def test_healthz_is_503_when_the_broker_is_unreachable(client, settings):
    from tests.support.processes import free_port

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False


def test_api_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/v1/projects" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()
