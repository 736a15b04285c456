"""What the README's CI job finds on a fresh demo: the example config resolves against the
seeded demo project, and ``--baseline latest-passing`` picks the seeded with-agent demo run
(same agent, same dataset version, passing), not "nothing to compare with". Against a live
server (gunicorn); the run started is never executed (no worker), which is all it needs."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from evalsite_client.api import Client
from evalsite_client.cli import latest_passing
from evalsite_client.config import Resolver, load

from projects.demo import DEMO_USERNAME, seed_demo
from projects.services import api_key_create
from runs.demo import DATASET_ONLY, WITH_AGENT
from runs.models import EvaluationRun
from tests.support.processes import web_server

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

EXAMPLE = Path(__file__).resolve().parents[2] / "client" / "examples" / "support-questions.yaml"


def test_latest_passing_on_a_fresh_demo_is_the_seeded_agent_run():
    project, _ = seed_demo()
    seeded = EvaluationRun.objects.get(project=project, name=WITH_AGENT)
    assert seeded.pass_status is True  # what makes it a baseline
    _, key = api_key_create(user=get_user_model().objects.get(username=DEMO_USERNAME), name="ci")

    with web_server() as base, Client(base, key) as client:
        body = Resolver(client).resolve(load(str(EXAMPLE)))
        started = client.post("/v1/evaluations", body, idempotency_key="readme-ci")
        baseline = latest_passing(client, client.run(started["id"]))

    assert baseline is not None
    assert baseline["id"] == str(seeded.id) and baseline["name"] == WITH_AGENT
    assert EvaluationRun.objects.filter(project=project, name=DATASET_ONLY).exists()
