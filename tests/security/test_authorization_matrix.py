"""Every URL pattern, every method, as another project's admin and as a viewer: nothing of
the project leaks to the outsider, the viewer cannot change anything, nobody gets a 500.

The patterns come from the URL resolver, so a new view is covered the day it is added; a
pattern with a path parameter this test does not know fails the test."""

from __future__ import annotations

import re

from django.urls import URLPattern, URLResolver, get_resolver

from datasets.models import Dataset, DatasetItem, DatasetVersion
from metrics.models import Metric, MetricVersion
from projects.models import ApiKey, Membership, Project
from runs.models import EvaluationRun, EvaluationTestCase
from tests.conftest import _api_client_for, _web_client_for
from tests.security.conftest import MARK
from traces.models import Monitor, MonitorAlert
from workflows.models import Workflow, WorkflowVersion

METHODS = ("get", "post", "put", "patch", "delete")
WRITES = ("post", "put", "patch", "delete")
# Routes that are not about one project's objects: anyone signed in may use them.
NOT_PROJECT_SCOPED = {
    "",
    "healthz",
    "favicon.ico",
    "demo-agent/answer",
    "accounts/login/",
    "account/api-keys/",
    "projects/new/",
    "projects/switch/",
    "v1/projects",
    "v2/gen-ai/evaluation_metrics",
    "v2/gen-ai/evaluation_runs",
    "v2/gen-ai/evaluation_test_cases",
    "v2/gen-ai/evaluation_datasets",
    "v2/gen-ai/model_evaluation_metrics",
    "v2/gen-ai/model_evaluation_presets",
    "v2/gen-ai/model_evaluation_runs",
    "api/schema/",
    "api/docs/",
}
# Writes a viewer may make: their own session, keys and projects, and read-only helpers.
VIEWER_MAY_POST = {
    "accounts/login/",
    "account/api-keys/",
    "projects/new/",
    "projects/switch/",
    "demo-agent/answer",
    "projects/<uuid:project_id>/metrics/prompt-variables/",
}


def routes() -> list[str]:
    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern)

    # Signing out would end the session the rest of the matrix runs in.
    skipped = ("admin/", "accounts/logout/")
    return [r for r in walk(get_resolver().url_patterns) if not r.startswith(skipped)]


# UI routes that change something when posted to (other pages answer any method by showing
# themselves; the snapshot proves they change nothing).
ACTION = re.compile(
    r"(delete|release|rerun|cancel|try|import|edit|new|drafts|revoke|run|test-cases)/$"
    r"|test-cases/<uuid:test_case_id>/$"
    r"|datasets/.*/rows/(<uuid:item_id>/)?$"
)
PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def build(route: str, world: dict) -> str:
    def value(match: re.Match) -> str:
        name = match.group(2)
        if name == "version_id":
            scope = "workflow" if "workflows" in route else "metric" if "metrics" in route else ""
            name = f"{scope or 'dataset'}_version_id"
        assert name in world, f"{route}: no test object for <{name}>; add one to world()"
        return str(world[name])

    path = "/" + PARAM.sub(value, route)
    return path + f"?project_id={world['project_id']}"


def snapshot(project) -> dict:
    """Every row of the project's objects, to prove nothing changed."""
    models = {
        Project: {"pk": project.pk},
        Membership: {"project": project},
        Dataset: {"project": project},
        DatasetVersion: {"dataset__project": project},
        DatasetItem: {"version__dataset__project": project},
        Workflow: {"project": project},
        WorkflowVersion: {"workflow__project": project},
        Metric: {"project": project},
        MetricVersion: {"metric__project": project},
        EvaluationRun: {"project": project},
        EvaluationTestCase: {"project": project},
        Monitor: {"project": project},
        MonitorAlert: {"monitor__project": project},
    }
    shot = {
        m.__name__: list(m.objects.filter(**f).order_by("pk").values()) for m, f in models.items()
    }
    shot["keys"] = list(ApiKey.objects.filter(name__contains=MARK).values("id", "revoked_at"))
    return shot


def _call(client, method: str, url: str, *, api: bool):
    kwargs = {"format": "json"} if api and method != "get" else {}
    return getattr(client, method)(url, **kwargs)


def test_the_route_list_is_the_resolvers(world):
    found = routes()
    assert len(found) > 60
    for route in found:
        if route not in NOT_PROJECT_SCOPED:
            build(route, world)  # every parameter has an object


def test_another_projects_admin_sees_and_changes_nothing(world, project, outsider, other_project):
    before = snapshot(project)
    api, web = _api_client_for(outsider), _web_client_for(outsider)
    problems = []
    for route in routes():
        url = build(route, world)
        is_api = route.startswith(("v1/", "v2/"))
        client = api if is_api else web
        for method in METHODS:
            response = _call(client, method, url, api=is_api)
            status = response.status_code
            if status >= 500 and route != "healthz":  # 503: no worker beats
                problems.append(f"{method.upper()} {route}: {status}")
            body = b"".join(response.streaming_content) if response.streaming else response.content
            if MARK.encode() in body:
                problems.append(f"{method.upper()} {route}: leaks the project ({status})")
            if route not in NOT_PROJECT_SCOPED and 200 <= status < 400:
                problems.append(f"{method.upper()} {route}: {status} for an outsider")
    assert problems == [], "\n".join(problems)
    assert snapshot(project) == before


def test_a_viewer_reads_but_changes_nothing(world, project, viewer):
    before = snapshot(project)
    api, web = _api_client_for(viewer), _web_client_for(viewer)
    problems = []
    for route in routes():
        url = build(route, world)
        is_api = route.startswith(("v1/", "v2/"))
        client = api if is_api else web
        for method in METHODS:
            if method in WRITES and route in VIEWER_MAY_POST:
                continue
            response = _call(client, method, url, api=is_api)
            status = response.status_code
            if status >= 500 and route != "healthz":  # 503: no worker beats
                problems.append(f"{method.upper()} {route}: {status}")
            acts = is_api or ACTION.search(route)
            if method in WRITES and acts and 200 <= status < 400:
                problems.append(f"{method.upper()} {route}: {status} for a viewer")
    assert problems == [], "\n".join(problems)
    assert snapshot(project) == before
