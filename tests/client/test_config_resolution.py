"""Names in a ``--config`` file resolve through the ``/v1`` list APIs: the shipped example
against the demo project, and every kind of mistake names its field. The client talks to
the Django app in-process here (httpx's WSGI transport); the end-to-end tests use a server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from evalsite_client.api import Client
from evalsite_client.config import ConfigError, Resolver, load

from metrics.catalogue import ensure_builtin_metrics
from projects.services import api_key_create

pytestmark = pytest.mark.django_db

EXAMPLE = Path(__file__).resolve().parents[2] / "client" / "examples" / "support-questions.yaml"


@pytest.fixture
def demo():
    from django.contrib.auth import get_user_model

    from projects.demo import seed_demo

    ensure_builtin_metrics()
    project, _ = seed_demo()
    user = get_user_model().objects.get(username="demo")
    _, key = api_key_create(user=user, name="test")
    transport = httpx.WSGITransport(app=get_wsgi_application())
    # As Django's test client does: keep the test's connection (and transaction) open.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with Client("http://testserver", key, transport=transport) as client:
            client.project = project
            yield client
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_the_example_config_resolves_against_the_demo_and_starts(demo):
    from datasets.models import Dataset
    from metrics.models import Metric
    from workflows.models import Workflow

    body = Resolver(demo).resolve(load(str(EXAMPLE)))

    dataset = Dataset.objects.get(project=demo.project, name="Support questions")
    assert body["project_id"] == str(demo.project.id)
    assert body["dataset_id"] == str(dataset.id)
    assert body["dataset_version_id"] == str(dataset.versions.get(number=1).id)
    workflow = Workflow.objects.get(project=demo.project, name="Acme support agent (Python)")
    assert body["config"][0]["workflow"]["id"] == str(workflow.id)
    token_f1 = Metric.objects.get(name="Token F1 (SQuAD)", project__isnull=True)
    assert body["config"][0]["metrics"][0]["id"] == str(token_f1.id)
    assert body["star_metric"] == {"metric_id": str(token_f1.id), "threshold": 0.4}
    started = demo.post("/v1/evaluations", body)
    assert started["status"] == "pending" and started["dataset_version"] == 1


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"dataset_id": "Support answers"}, "dataset_id", "no dataset named 'Support answers'"),
        ({"dataset_version": 9}, "dataset_version_id", "no version 9"),
        ({"config": []}, "config", "non-empty list"),
        ({"star_metric": {"metric_id": "Nope", "threshold": 1}}, "star_metric.metric_id", "Nope"),
    ],
)
def test_a_wrong_name_names_its_field(demo, change, field, words):
    raw = {**load(str(EXAMPLE)), **change}

    with pytest.raises(ConfigError) as problem:
        Resolver(demo).resolve(raw)

    assert problem.value.field == field and words in str(problem.value)


def test_an_ambiguous_name_lists_the_candidates(demo):
    raw = load(str(EXAMPLE))
    raw["config"][0]["workflow"]["id"] = "Acme support agent"

    with pytest.raises(ConfigError) as problem:
        Resolver(demo).resolve(raw)

    assert problem.value.field == "config[0].workflow.id"
    assert "ambiguous" in str(problem.value)
    assert "'Acme support agent (Python)'" in str(problem.value)
    assert "'Acme support agent (HTTP)'" in str(problem.value)
