"""The demo's OpenTelemetry traces arrive through the ingestion code, once."""

from __future__ import annotations

import pytest

from datasets.models import Dataset, DatasetItem
from projects.demo import seed_demo
from traces import demo
from traces.models import TraceItem

pytestmark = pytest.mark.django_db


def test_the_demo_seeds_released_trace_items_through_ingestion_once():
    project, lines = seed_demo()
    assert any("OpenTelemetry traces" in line for line in lines)
    dataset = Dataset.objects.get(project=project, name=demo.DATASET_NAME)
    version = dataset.versions.get()
    assert version.is_released and version.is_trace_shaped and version.row_count == 4
    rows = [i.data for i in DatasetItem.objects.filter(version=version).order_by("position")]
    assert [r["status"] for r in rows] == ["ok", "ok", "error", "ok"]
    assert rows[0]["input"] == "How long is the warranty?"
    assert rows[0]["output"].startswith("Every Acme product")
    types = [[s["type"] for s in r["trace"]["spans"]] for r in rows]
    assert types[0] == [
        "TRACE_SPAN_TYPE_UNKNOWN",
        "TRACE_SPAN_TYPE_RETRIEVER",
        "TRACE_SPAN_TYPE_LLM",
    ]
    assert "TRACE_SPAN_TYPE_TOOL" in types[1] and "TRACE_SPAN_TYPE_TOOL" in types[3]
    assert rows[0]["trace"]["chunks"][0]["source_name"] == "warranty.md"
    assert rows[0]["trace"]["input_tokens"] == 191
    broken_tool = rows[3]["trace"]["spans"][2]
    assert broken_tool["status"] == "error" and broken_tool["tool"]["arguments"].endswith('"C-77"')
    counts = (DatasetItem.objects.count(), TraceItem.objects.count(), Dataset.objects.count())

    again, lines = seed_demo()
    assert again == project
    assert not any("OpenTelemetry" in line for line in lines)
    assert (
        DatasetItem.objects.count(),
        TraceItem.objects.count(),
        Dataset.objects.count(),
    ) == counts
    assert dataset.versions.count() == 1


def test_the_ingested_dataset_shows_in_the_ui_and_the_api(client):
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    project, _ = seed_demo()
    user = get_user_model().objects.get(username="demo")
    client.force_login(user)
    dataset = Dataset.objects.get(project=project, name=demo.DATASET_NAME)
    version = dataset.versions.get()
    page = client.get(reverse("datasets:version", args=[project.pk, dataset.pk, version.pk]))
    assert page.status_code == 200
    assert "How long is the warranty?" in page.content.decode()
    api = client.get(f"/v1/datasets/{dataset.pk}/versions/{version.pk}/items?limit=10")
    assert api.status_code == 200, api.content
    rows = api.json()["data"]
    assert len(rows) == 4
    assert rows[0]["data"]["trace"]["spans"][1]["retriever_chunks"][0]["source_name"] == (
        "warranty.md"
    )
