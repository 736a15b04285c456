"""Secrets cannot be exfiltrated: env references need an allow-listed prefix (at save and at
call time), stored secrets use their own key, and every resolved value is scrubbed from what
agents and judges send back before anything is stored or shown."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError

from evalsite.outbound import secrets
from metrics import services as metric_services
from metrics.models import Metric
from metrics.scoring import build_scorer
from tests.metrics.fake_openai import fake_openai_server
from tests.support.processes import ROOT
from tests.workflows.conftest import ANSWER_OUT, QUESTION_IN, http_config, run_once
from tests.workflows.fake_servers import FakeRequest, FakeServer, Reply
from workflows import services
from workflows.models import Workflow, WorkflowVersion

FORBIDDEN = ["SECRET_KEY", "DATABASE_URL", "EVALSITE_ENCRYPTION_KEY", "HOME", "EVALSITE_SECRET_"]
AGENT_KEY = "agent-key-3f9a81c2d7"
JUDGE_KEY = "sk-judge-b61e0f55aa"


# --- env references ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", FORBIDDEN)
def test_a_header_env_reference_outside_the_prefix_is_a_field_error(project, owner, name):
    config = http_config("http://127.0.0.1:9/", headers={"Authorization": {"env": name}})
    with pytest.raises(ValidationError) as info:
        services.workflow_create(project=project, user=owner, name="x", kind="http", config=config)
    assert "EVALSITE_SECRET_" in info.value.message_dict["headers"][0]
    assert not Workflow.objects.filter(name="x").exists()


def test_the_api_answers_400_naming_the_field(api, project):
    body = {
        "name": "Exfil",
        "kind": "http",
        "config": http_config("http://127.0.0.1:9/", headers={"X-Leak": {"env": "SECRET_KEY"}}),
        "inputs": QUESTION_IN,
        "outputs": ANSWER_OUT,
    }
    response = api.post(f"/v1/workflows?project_id={project.id}", body, format="json")
    assert response.status_code == 400
    assert "headers" in response.json()["errors"]
    chat = {
        "name": "Exfil chat",
        "kind": "openai_chat",
        "config": {
            "base_url": "http://127.0.0.1:9/v1",
            "model": "m",
            "user_prompt": "{{question}}",
            "api_key": {"env": "DATABASE_URL"},
        },
        "inputs": QUESTION_IN,
        "outputs": ANSWER_OUT,
    }
    response = api.post(f"/v1/workflows?project_id={project.id}", chat, format="json")
    assert response.status_code == 400 and "api_key" in response.json()["errors"]


def test_the_ui_form_shows_the_error_on_the_headers_field(web, project):
    form = {
        "name": "UI exfil",
        "description": "",
        "inputs": "question: q",
        "outputs": "answer: a",
        "url": "http://127.0.0.1:9/",
        "method": "POST",
        "headers": "X-Leak: env:SECRET_KEY",
        "body_template": '{"question": "{{question}}"}',
        "output_paths": "answer: $.answer",
        "timeout_s": "5",
        "max_retries": "0",
        "max_concurrency": "1",
    }
    response = web.post(f"/projects/{project.id}/workflows/new/?kind=http", form)
    assert response.status_code == 200
    assert "EVALSITE_SECRET_" in response.content.decode()
    assert not Workflow.objects.filter(name="UI exfil").exists()


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL"])
def test_a_judge_api_key_env_reference_outside_the_prefix_is_refused(project, owner, api, name):
    params = {"preset": "correctness", "base_url": "http://127.0.0.1:9/v1", "model": "m"}
    with pytest.raises(ValidationError) as info:
        metric_services.metric_create(
            project=project,
            user=owner,
            name="Judge",
            implementation="llm_judge",
            params={**params, "api_key": {"env": name}},
        )
    assert "params.api_key" in info.value.message_dict
    body = {
        "name": "Judge",
        "implementation": "llm_judge",
        "params": {**params, "api_key": {"env": name}},
        "project_id": str(project.id),
    }
    response = api.post(f"/v1/metrics?project_id={project.id}", body, format="json")
    assert response.status_code == 400, response.content
    assert not Metric.objects.filter(name="Judge").exists()


def test_an_allowed_prefix_is_resolved_at_call_time(make_workflow, monkeypatch):
    monkeypatch.setenv("EVALSITE_SECRET_AGENT_TOKEN", AGENT_KEY)
    with FakeServer(lambda r: Reply(json={"answer": "ok"})) as server:
        headers = {"Authorization": {"env": "EVALSITE_SECRET_AGENT_TOKEN"}}
        workflow = make_workflow(config=http_config(server.url, headers=headers))
        result = run_once(workflow.latest_version(), {"question": "q"})
        assert result.error is None
        assert server.requests[0].headers["Authorization"] == AGENT_KEY


def test_a_stored_reference_outside_the_prefix_is_refused_again_at_call_time(
    make_workflow, project, owner
):
    """A row written before the rule (or by hand) still cannot send the server's key."""
    with FakeServer(lambda r: Reply(json={"answer": "ok"})) as server:
        workflow = make_workflow(config=http_config(server.url))
        version = workflow.latest_version()
        config = dict(version.config, headers={"X-Leak": {"env": "SECRET_KEY"}})
        WorkflowVersion.objects.filter(pk=version.pk).update(config=config)
        version.refresh_from_db()
        with pytest.raises(ValidationError, match="EVALSITE_SECRET_"):
            run_once(version, {"question": "q"})
        assert server.requests == []
    with fake_openai_server() as fake:
        metric = metric_services.metric_create(
            project=project,
            user=owner,
            name="Judge",
            implementation="llm_judge",
            params={"preset": "correctness", "base_url": fake.url, "model": "m"},
        )
        mversion = metric.latest_version()
        params = dict(mversion.params, api_key={"env": "SECRET_KEY"})
        type(mversion).objects.filter(pk=mversion.pk).update(params=params)
        mversion.refresh_from_db()
        outcome = build_scorer(mversion).score({"expected": "a", "response": "b"})
        assert outcome.number_value is None and "EVALSITE_SECRET_" in outcome.error_description
        assert fake.requests == []


# --- scrubbing echoed secrets --------------------------------------------------------------


def _echoing_agent(request: FakeRequest) -> Reply:
    auth = request.headers.get("Authorization", "")
    return Reply(
        json={
            "answer": f"you sent {auth}",
            "chunks": [{"text": f"header={auth}", "source_name": auth}],
            "spans": [{"name": "tool", "type": "tool", "input": {auth: auth}, "output": auth}],
        }
    )


def test_an_agent_echoing_its_authorization_header_gets_it_masked(make_workflow):
    with FakeServer(_echoing_agent) as server:
        headers = {"Authorization": {"secret": AGENT_KEY}}
        workflow = make_workflow(config=http_config(server.url, headers=headers))
        result = run_once(workflow.latest_version(), {"question": "q"})
        assert server.requests[0].headers["Authorization"] == AGENT_KEY  # it was sent
    assert result.error is None
    assert result.outputs["answer"] == "you sent ********"
    assert AGENT_KEY not in json.dumps(result.as_dict())


def test_an_error_body_echoing_the_key_is_masked(make_workflow):
    def refuse(request):
        return Reply(401, json={"error": f"bad key {request.headers.get('Authorization')}"})

    with FakeServer(refuse) as server:
        headers = {"Authorization": {"secret": "Bearer " + AGENT_KEY}}
        workflow = make_workflow(config=http_config(server.url, headers=headers))
        result = run_once(workflow.latest_version(), {"question": "q"})
    assert "HTTP 401" in result.error and AGENT_KEY not in result.error


def test_try_it_over_the_api_never_returns_the_echoed_key(editor_api, project, owner):
    with FakeServer(_echoing_agent) as server:
        workflow = services.workflow_create(
            project=project,
            user=owner,
            name="Echo",
            kind="http",
            config=http_config(server.url, headers={"Authorization": {"secret": AGENT_KEY}}),
            inputs=QUESTION_IN,
            outputs=ANSWER_OUT,
        )
        version = workflow.latest_version()
        response = editor_api.post(
            f"/v1/workflows/{workflow.id}/versions/{version.id}/try",
            {"inputs": {"question": "q"}},
            format="json",
        )
    assert response.status_code == 200, response.content
    assert AGENT_KEY not in response.content.decode()
    assert "********" in response.json()["outputs"]["answer"]


def test_a_judge_echoing_its_key_gets_it_masked_in_reasoning_and_errors(project, owner):
    with fake_openai_server() as fake:
        metric = metric_services.metric_create(
            project=project,
            user=owner,
            name="Judge",
            implementation="llm_judge",
            params={
                "preset": "correctness",
                "base_url": fake.url,
                "model": "m",
                "api_key": JUDGE_KEY,
                "max_retries": 0,
            },
        )
        scorer = build_scorer(metric.latest_version())
        fake.reply(json.dumps({"score": 1, "reasoning": f"Your key is {JUDGE_KEY}"}))
        outcome = scorer.score({"expected": "a", "response": "b"})
        # Masked (by the reply parser's own redaction or by the outbound scrub).
        assert outcome.number_value == 1 and outcome.reasoning.startswith("Your key is ")
        assert JUDGE_KEY not in outcome.reasoning
    with fake_openai_server() as fake:
        version = metric.latest_version()
        version.params = dict(version.params, base_url=fake.url)  # in memory only
        fake.reply(f"no score here, but {JUDGE_KEY}")
        outcome = build_scorer(version).score({"expected": "a", "response": "b"})
        assert outcome.number_value is None and JUDGE_KEY not in outcome.error_description
        fake.replies.clear()
        fake.reply(status=403, raw_body=f'{{"error": "key {JUDGE_KEY} revoked"}}')
        outcome = build_scorer(version).score({"expected": "a", "response": "b"})
        assert "HTTP 403" in outcome.error_description
        assert JUDGE_KEY not in outcome.error_description


def test_log_records_are_scrubbed_of_resolved_secrets():
    secrets.resolve({"encrypted": secrets.encrypt("log-leak-9b2c71")})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(secrets.ScrubSecretsFilter())
    log = logging.getLogger("tests.security.scrub")
    log.addHandler(handler)
    try:
        log.warning("agent said %s", "token=log-leak-9b2c71")
    finally:
        log.removeHandler(handler)
    assert "log-leak-9b2c71" not in stream.getvalue()
    assert "token=********" in stream.getvalue()


def test_the_configured_console_handler_scrubs():
    from django.conf import settings

    filters = settings.LOGGING["filters"]
    assert filters["scrub_secrets"]["()"] == "evalsite.outbound.secrets.ScrubSecretsFilter"
    assert "scrub_secrets" in settings.LOGGING["handlers"]["console"]["filters"]


# --- the encryption key --------------------------------------------------------------------


def _settings_child(tmp_path, **env):
    child = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "DEBUG", "SECRET_KEY", "EVALSITE_ENCRYPTION_KEY")
    }
    child.update(EVALSITE_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="evalsite.settings")
    child.update(env)
    code = "import django; django.setup(); print('started')"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=child, capture_output=True, text=True
    )


def test_production_refuses_to_start_without_its_own_encryption_key(tmp_path):
    production = {"DATABASE_URL": "postgres://u@db.example:5432/x", "SECRET_KEY": "s" * 50}
    refused = _settings_child(tmp_path, **production)
    assert refused.returncode != 0 and "EVALSITE_ENCRYPTION_KEY must be set" in refused.stderr
    key = Fernet.generate_key().decode()
    started = _settings_child(tmp_path, **production, EVALSITE_ENCRYPTION_KEY=key)
    assert started.returncode == 0, started.stderr
    local = _settings_child(tmp_path)  # the embedded SQLite set-up may derive it
    assert local.returncode == 0, local.stderr


def test_the_encryption_key_is_independent_of_secret_key_and_rotates(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.EVALSITE_ENCRYPTION_KEY = old
    token = secrets.encrypt("rotate-me")
    settings.SECRET_KEY = "a-different-secret-key-entirely"
    assert secrets.decrypt(token) == "rotate-me"  # SECRET_KEY plays no part
    settings.EVALSITE_ENCRYPTION_KEY = f"{new},{old}"  # rotation: new first, old still read
    assert secrets.decrypt(token) == "rotate-me"
    assert Fernet(new.encode()).decrypt(secrets.encrypt("x").encode()) == b"x"
    settings.EVALSITE_ENCRYPTION_KEY = new
    with pytest.raises(ValidationError, match="cannot be decrypted"):
        secrets.decrypt(token)


def test_the_bare_token_of_a_bearer_header_is_masked_too(make_workflow):
    def echo_token(request):
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return Reply(json={"answer": f"token {token}"})

    with FakeServer(echo_token) as server:
        headers = {"Authorization": {"secret": "Bearer " + AGENT_KEY}}
        workflow = make_workflow(config=http_config(server.url, headers=headers))
        result = run_once(workflow.latest_version(), {"question": "q"})
    assert result.outputs["answer"] == "token ********"
