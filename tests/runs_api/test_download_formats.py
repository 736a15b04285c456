"""``GET /v1/evaluations/{id}/results/download?format=...``: ``format`` picks the file format
(DRF would otherwise read it as a renderer name and answer 404)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_every_download_format_is_served(api, finished_run, fmt):
    response = api.get(f"/v1/evaluations/{finished_run.id}/results/download", {"format": fmt})

    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    if fmt == "jsonl":
        rows = [json.loads(line) for line in body.splitlines()]
        assert [row["row"] for row in rows] == list(range(5))
    elif fmt == "csv":
        assert len(body.strip().splitlines()) == 6
    else:
        assert len(json.loads(body)["results"]) == 5


def test_an_unknown_format_is_a_400(api, finished_run):
    response = api.get(f"/v1/evaluations/{finished_run.id}/results/download", {"format": "xml"})

    assert response.status_code == 400 and "format" in response.json()["errors"]
