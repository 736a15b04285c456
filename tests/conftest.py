"""Shared fixtures: an owner (admin), an editor, a viewer and an outsider, their projects,
API keys and clients. Every app's tests build on these."""

from __future__ import annotations

import itertools
import os

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from projects.models import Membership, Project, Role
from projects.services import api_key_create
from tests.support.browser import ui  # noqa: F401 - the browser harness, for every folder

# Child processes (web server, qcluster) read this too, so they can check these hashes.
os.environ.setdefault("EVALSITE_FAST_PASSWORD_HASHER", "1")
# The fake agents and judges listen on 127.0.0.1: tests (and their child processes) allow
# loopback, which production refuses by default. A fixed test-only encryption key lets child
# processes against a shared DATABASE_URL start (production must set its own).
os.environ.setdefault("EVALSITE_ALLOW_LOOPBACK", "1")
os.environ.setdefault("EVALSITE_ENCRYPTION_KEY", "dGVzdHMtb25seS1ub3QtYS1zZWNyZXQtZXZhbHNpdGU=")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EVALSITE_ALLOW_LOOPBACK = True
    # "Try it" rate-limit counters live in the cache; each test starts with none.
    from django.core.cache import cache

    cache.clear()
    # Nor with a finished run's results page cached by an earlier test (runs.results_cache).
    from runs.results_cache import pages

    pages.clear()


@pytest.fixture
def make_user(db):
    User = get_user_model()

    def make(username: str, **extra):
        return User.objects.create_user(username=username, password="pw-" + username, **extra)

    return make


@pytest.fixture
def owner(make_user):
    return make_user("owner", email="owner@example.com")


@pytest.fixture
def editor(make_user):
    return make_user("editor", email="editor@example.com")


@pytest.fixture
def viewer(make_user):
    return make_user("viewer", email="viewer@example.com")


@pytest.fixture
def outsider(make_user):
    return make_user("outsider", email="outsider@example.com")


@pytest.fixture
def project(owner, editor, viewer):
    project = Project.objects.create(name="Acme", slug="acme")
    Membership.objects.create(user=owner, project=project, role=Role.ADMIN)
    Membership.objects.create(user=editor, project=project, role=Role.EDITOR)
    Membership.objects.create(user=viewer, project=project, role=Role.VIEWER)
    return project


@pytest.fixture
def other_project(outsider):
    project = Project.objects.create(name="Other", slug="other")
    Membership.objects.create(user=outsider, project=project, role=Role.ADMIN)
    return project


def _api_client_for(user) -> APIClient:
    _, raw = api_key_create(user=user, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.raw_key = raw
    return client


@pytest.fixture
def api(owner, project):
    """An API client authenticated as the project's admin."""
    return _api_client_for(owner)


@pytest.fixture
def editor_api(editor, project):
    return _api_client_for(editor)


@pytest.fixture
def viewer_api(viewer, project):
    return _api_client_for(viewer)


@pytest.fixture
def outsider_api(outsider, other_project):
    return _api_client_for(outsider)


@pytest.fixture
def anon_api():
    return APIClient()


def _web_client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def web(owner, project):
    """A browser-like Django test client logged in as the project's admin."""
    return _web_client_for(owner)


@pytest.fixture
def viewer_web(viewer, project):
    return _web_client_for(viewer)


@pytest.fixture
def outsider_web(outsider, other_project):
    return _web_client_for(outsider)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist, spread the tests that start processes or a browser (or flush the
    database) over the first two thirds of the run. They mostly wait on their servers, so
    each worker overlaps one with the quick, CPU-bound tests instead of all of them forming
    a tail at the end; xdist hands tests out two at a time (``--maxschedchunk 2`` in
    scripts/test), so the long ones do not queue behind each other on one worker.

    This runs after pytest-django's sort, which puts transactional tests last because they
    flush the database. Here that order is not needed: a flush sends post_migrate, which
    restores what the migrations created (the built-in metrics, the schedules). The order is
    the same in every worker, as xdist requires."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return

    def slow(item) -> bool:
        if any(item.get_closest_marker(name) for name in ("integration", "browser")):
            return True
        marker = item.get_closest_marker("django_db")
        return bool(marker and marker.kwargs.get("transaction"))

    slow_items = [item for item in items if slow(item)]
    quick_items = [item for item in items if not slow(item)]
    if not slow_items:
        return
    step = max(1, (len(quick_items) * 2 // 3) // len(slow_items))
    ordered = []
    quick = iter(quick_items)
    for item in slow_items:
        ordered.append(item)
        ordered.extend(itertools.islice(quick, step))
    ordered.extend(quick)
    items[:] = ordered
