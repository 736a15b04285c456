"""``GET /v1/evaluations/{id}/results/download?format=...``: ``format`` is the download's
file format (DRF's own ``?format=`` renderer override is off for this view), and an unknown
format is a 400 naming the parameter."""

from __future__ import annotations

import csv
import io
import json

import pytest

pytestmark = pytest.mark.django_db


def _content(response) -> bytes:
    return b"".join(response.streaming_content)


def test_jsonl_download(api, finished_run):
    response = api.get(f"/v1/evaluations/{finished_run.id}/results/download", {"format": "jsonl"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert response["Content-Disposition"].startswith("attachment;")
    assert ".jsonl" in response["Content-Disposition"]
    lines = [json.loads(line) for line in _content(response).splitlines() if line.strip()]
    assert len(lines) == 5 and all(isinstance(line, dict) for line in lines)


def test_csv_download(api, finished_run):
    response = api.get(f"/v1/evaluations/{finished_run.id}/results/download", {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(_content(response).decode())))
    assert len(rows) == 6  # a header and five rows


def test_json_is_the_default_and_explicit(api, finished_run):
    for params in ({}, {"format": "json"}):
        response = api.get(f"/v1/evaluations/{finished_run.id}/results/download", params)
        assert response.status_code == 200
        assert json.loads(_content(response))["id"] == str(finished_run.id)


@pytest.mark.parametrize("fmt", ["xml", "api", "JSON", ""])
def test_unknown_format_is_a_400_naming_it(api, finished_run, fmt):
    response = api.get(f"/v1/evaluations/{finished_run.id}/results/download", {"format": fmt})
    if fmt == "":
        assert response.status_code == 200
        return
    assert response.status_code == 400, response.content
    body = response.json()
    assert "format" in body["errors"] and body["code"] == "invalid"
