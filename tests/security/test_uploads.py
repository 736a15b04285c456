"""Upload limits hold while the body streams in: nothing beyond the limit is spooled."""

from __future__ import annotations

import pytest
from django.core.files import uploadhandler
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets.models import DatasetItem
from tests.datasets.factories import make_draft


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
