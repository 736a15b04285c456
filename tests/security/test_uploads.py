"""Upload limits hold while the body streams in: nothing beyond the limit is spooled."""

from __future__ import annotations

import httpx
import pytest
from django.core.files import uploadhandler
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets.models import DatasetItem
from tests.datasets.factories import make_draft
from tests.support.processes import web_server


@pytest.fixture
def spooled(monkeypatch):
    """Bytes that reached the handlers which keep data (memory and temporary file)."""
    seen = {"bytes": 0}
    for cls in (uploadhandler.MemoryFileUploadHandler, uploadhandler.TemporaryFileUploadHandler):
        original = cls.receive_data_chunk

        def counting(self, raw_data, start, _original=original):
            result = _original(self, raw_data, start)
            if result is None or isinstance(self, uploadhandler.TemporaryFileUploadHandler):
                seen["bytes"] += len(raw_data)
            return result

        monkeypatch.setattr(cls, "receive_data_chunk", counting)
    return seen


def _import_url(version):
    return f"/v1/datasets/{version.dataset_id}/versions/{version.pk}/import"


def test_a_1_gb_content_length_is_refused_before_anything_is_read(api, project, spooled):
    draft = make_draft(project)
    response = api.post(
        _import_url(draft),
        {"file": SimpleUploadedFile("big.csv", b"a\n1\n")},
        format="multipart",
        CONTENT_LENGTH=str(1024**3),
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "larger than the 200 MB limit" in response.json()["message"]
    assert spooled["bytes"] == 0


def test_the_ui_import_refuses_it_too(web, project, spooled):
    draft = make_draft(project)
    url = f"/projects/{project.pk}/datasets/{draft.dataset_id}/versions/{draft.pk}/import/"
    response = web.post(
        url, {"file": SimpleUploadedFile("big.csv", b"a\n1\n")}, CONTENT_LENGTH=str(1024**3)
    )
    assert response.status_code == 400
    assert spooled["bytes"] == 0


def test_a_body_that_outgrows_the_limit_is_cut_off_at_the_limit(api, project, spooled, settings):
    """The Content-Length is within the slack for form fields, the file itself is not: the
    stream is stopped at the file limit (one 64 KB chunk at most beyond it)."""
    settings.DATASET_MAX_UPLOAD_BYTES = 256 * 1024
    draft = make_draft(project)
    data = b"a\n" + (b"y" * 99 + b"\n") * 10_000  # ~1 MB
    response = api.post(
        _import_url(draft), {"file": SimpleUploadedFile("big.csv", data)}, format="multipart"
    )
    assert response.status_code == 400
    assert "larger than" in response.json()["message"]
    assert 0 < spooled["bytes"] <= 256 * 1024
    assert DatasetItem.objects.filter(version=draft).count() == 0


def test_an_upload_within_the_limit_is_imported(api, project):
    draft = make_draft(project)
    response = api.post(
        _import_url(draft),
        {"file": SimpleUploadedFile("ok.csv", b"a\n1\n2\n")},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert response.json()["rows_imported"] == 2


def _multipart(boundary: str, filename: str, data: bytes) -> bytes:
    return (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_chunked_upload_through_gunicorn_is_refused_with_a_411(api, project):
    """Without a Content-Length, Django's WSGI request reads the body as empty: the import
    would answer "no file" however large the body was. Such bodies are refused up front with a
    411 naming the header to send, before a byte is read; the same upload with a
    Content-Length is imported."""
    draft = make_draft(project)
    boundary = "evalsite-chunked-test"
    body = _multipart(boundary, "rows.csv", b"a\n1\n2\n3\n")
    headers = {
        "Authorization": f"Bearer {api.raw_key}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
    }

    def chunks():
        for start in range(0, len(body), 16):
            yield body[start : start + 16]

    with web_server() as base:
        url = base + _import_url(draft)
        refused = httpx.post(url, content=chunks(), headers=headers, timeout=30)
        assert refused.request.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in refused.request.headers
        assert refused.status_code == 411, refused.text[:500]
        assert refused.headers["Content-Type"].startswith("application/json")
        assert "Content-Length" in refused.json()["message"]
        assert DatasetItem.objects.filter(version=draft).count() == 0

        ui = base + f"/projects/{project.pk}/datasets/{draft.dataset_id}/versions/{draft.pk}/"
        page = httpx.post(ui + "import/", content=chunks(), headers=headers, timeout=30)
        assert page.status_code == 411

        json_headers = {**headers, "Content-Type": "application/json"}
        rows = iter([b'{"items": [{"a": ', b"4}]}"])
        refused = httpx.post(url[: -len("import")] + "items", content=rows, headers=json_headers)
        assert refused.status_code == 411

        imported = httpx.post(url, content=body, headers=headers, timeout=30)
        assert imported.status_code == 201, imported.text[:500]
        assert imported.json()["rows_imported"] == 3
