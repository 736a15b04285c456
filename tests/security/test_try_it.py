""" "Try it" spends an agent's or a judge's credits and holds a web thread: editors only, a
short timeout, no retries, and a per-user rate limit (UI and API alike)."""

from __future__ import annotations

import pytest

from metrics import services as metric_services
from metrics.models import Metric
from tests.metrics.fake_openai import fake_openai_server
from tests.workflows.conftest import ANSWER_OUT, QUESTION_IN, http_config
from tests.workflows.fake_servers import FakeServer, Reply, echo_agent
from workflows import services


@pytest.fixture
def agent(project, owner):
    with FakeServer(echo_agent()) as server:
        workflow = services.workflow_create(
            project=project,
            user=owner,
            name="Agent",
            kind="http",
            config=http_config(server.url),
            inputs=QUESTION_IN,
            outputs=ANSWER_OUT,
        )
        yield server, workflow, workflow.latest_version()


@pytest.fixture
def judge(project, owner):
    with fake_openai_server() as fake:
        fake.reply('{"score": 1, "reasoning": "ok"}')
        metric = metric_services.metric_create(
            project=project,
            user=owner,
            name="Judge",
            implementation="llm_judge",
            params={
                "preset": "correctness",
                "base_url": fake.url,
                "model": "m",
                "timeout_s": 60,
                "max_retries": 5,
            },
        )
        yield fake, metric, metric.latest_version()


def _workflow_try_api(client, workflow, version):
    return client.post(
        f"/v1/workflows/{workflow.id}/versions/{version.id}/try",
        {"inputs": {"question": "q"}},
        format="json",
    )


def _metric_try_api(client, metric, version):
    return client.post(
        f"/v1/metrics/{metric.id}/versions/{version.id}/try",
        {"inputs": {"expected": "a", "response": "b"}},
        format="json",
    )


def test_viewers_cannot_try_a_workflow(viewer_api, viewer_web, agent, project):
    server, workflow, version = agent
    assert _workflow_try_api(viewer_api, workflow, version).status_code == 403
    response = viewer_web.post(
        f"/projects/{project.id}/workflows/{workflow.pk}/try/",
        {"version": str(version.pk), "in_question": "q"},
    )
    assert response.status_code == 403
    assert server.requests == []


def test_viewers_cannot_try_a_metric(viewer_api, viewer_web, judge, project):
    fake, metric, version = judge
    assert _metric_try_api(viewer_api, metric, version).status_code == 403
    response = viewer_web.post(
        f"/projects/{project.id}/metrics/{metric.pk}/versions/{version.pk}/try/",
        {"in_expected": "a", "in_response": "b"},
    )
    assert response.status_code == 403
    assert fake.requests == []
    page = viewer_web.get(f"/projects/{project.id}/metrics/{metric.pk}/").content.decode()
    assert "Try it" not in page


def test_viewers_cannot_try_a_builtin_metric_either(viewer_api, editor_api, project):
    builtin = Metric.objects.get(project=None, builtin_key="exact_match")
    version = builtin.latest_version()
    url = f"/v1/metrics/{builtin.id}/versions/{version.id}/try"
    body = {"inputs": {"response": "a", "expected": "a"}}
    assert viewer_api.post(url, body, format="json").status_code == 403
    assert editor_api.post(url, body, format="json").status_code == 200


def test_editors_can_try_both(editor_api, agent, judge):
    server, workflow, version = agent
    response = _workflow_try_api(editor_api, workflow, version)
    assert response.status_code == 200 and response.json()["outputs"]["answer"] == "echo: q"
    fake, metric, mversion = judge
    response = _metric_try_api(editor_api, metric, mversion)
    assert response.status_code == 200 and response.json()["number_value"] == 1


def test_a_workflow_try_has_a_short_timeout_and_no_retries(editor_api, project, owner, settings):
    settings.EVALSITE_TRY_TIMEOUT_S = 0.3
    with FakeServer(lambda r: Reply(json={"answer": "late"}, delay=2)) as server:
        workflow = services.workflow_create(
            project=project,
            user=owner,
            name="Slow",
            kind="http",
            config=http_config(server.url, timeout_s=60, max_retries=5),
            inputs=QUESTION_IN,
            outputs=ANSWER_OUT,
        )
        response = _workflow_try_api(editor_api, workflow, workflow.latest_version())
        assert response.status_code == 200
        assert "timed out after 0.3s" in response.json()["error"]
        assert len(server.requests) == 1


def test_a_metric_try_has_a_short_timeout_and_no_retries(editor_api, judge, settings):
    settings.EVALSITE_TRY_TIMEOUT_S = 0.3
    fake, metric, version = judge
    fake.replies.clear()
    fake.reply('{"score": 1}', delay_s=2)
    response = _metric_try_api(editor_api, metric, version)
    assert response.status_code == 200
    assert "timed out after 0.3s" in response.json()["error_description"]
    assert len(fake.requests) == 1


def test_tries_are_rate_limited_per_user(editor_api, api, agent, settings, project):
    settings.EVALSITE_TRY_RATE_LIMIT = "2/60"
    server, workflow, version = agent
    assert _workflow_try_api(editor_api, workflow, version).status_code == 200
    assert _workflow_try_api(editor_api, workflow, version).status_code == 200
    refused = _workflow_try_api(editor_api, workflow, version)
    assert refused.status_code == 429
    assert "Too many tries" in refused.json()["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert len(server.requests) == 2
    assert _workflow_try_api(api, workflow, version).status_code == 200  # another user


def test_the_ui_shows_the_rate_limit(web, agent, settings, project):
    settings.EVALSITE_TRY_RATE_LIMIT = "1/60"
    server, workflow, version = agent
    url = f"/projects/{project.id}/workflows/{workflow.pk}/try/"
    form = {"version": str(version.pk), "in_question": "q"}
    assert "echo: q" in web.post(url, form, HTTP_HX_REQUEST="true").content.decode()
    page = web.post(url, form, HTTP_HX_REQUEST="true").content.decode()
    assert "Too many tries" in page and len(server.requests) == 1


def test_a_user_may_have_only_max_active_tries_running(
    editor_api, api, editor, agent, judge, settings
):
    """A try still running holds one of the user's ``EVALSITE_TRY_MAX_ACTIVE`` slots: here the
    first try is the gate itself held open (what a slow agent call does), the second is a real
    one through the API, refused before anything is called; the slot is freed afterwards."""
    from evalsite.outbound.interactive import interactive_call

    settings.EVALSITE_TRY_MAX_ACTIVE = 1
    server, workflow, version = agent
    fake, metric, mversion = judge
    with interactive_call(user=editor):
        refused = _workflow_try_api(editor_api, workflow, version)
        assert refused.status_code == 429
        assert "already have 1 tries running" in refused.json()["message"]
        assert _metric_try_api(editor_api, metric, mversion).status_code == 429
        assert server.requests == [] and fake.requests == []
        assert _workflow_try_api(api, workflow, version).status_code == 200  # another user
    assert _workflow_try_api(editor_api, workflow, version).status_code == 200  # freed
    settings.EVALSITE_TRY_MAX_ACTIVE = 2
    with interactive_call(user=editor):
        assert _workflow_try_api(editor_api, workflow, version).status_code == 200
    assert len(server.requests) == 3
