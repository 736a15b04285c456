from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from datasets.models import Dataset, DatasetItem, DatasetVersion
from tests.datasets.factories import make_draft, make_released

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name, version, **extra):
    kwargs = {"project_id": version.dataset.project_id, "dataset_id": version.dataset_id}
    if name not in ("datasets:detail", "datasets:delete", "datasets:draft_create"):
        kwargs["version_id"] = version.pk
    return reverse(name, kwargs={**kwargs, **extra})


def test_the_list_shows_datasets_with_their_latest_release(web, project):
    make_released(project, name="Questions")
    make_draft(project, name="Only a draft")
    response = web.get(reverse("datasets:list", args=[project.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Questions" in body and "Version 1" in body
    assert "None yet: release a draft" in body


def test_it_creates_a_dataset_from_the_list(web, project):
    response = web.post(reverse("datasets:list", args=[project.pk]), {"name": "New one"})
    dataset = Dataset.objects.get(name="New one")
    assert response.status_code == 302 and dataset.project == project
    again = web.post(reverse("datasets:list", args=[project.pk]), {"name": "New one"})
    assert "already has a dataset named" in again.content.decode()


def test_viewers_see_no_edit_controls_and_cannot_write(viewer_web, project):
    draft = make_draft(project, rows=[{"a": 1}])
    body = viewer_web.get(url("datasets:version", draft)).content.decode()
    assert "Release" not in body and "Import rows" not in body
    response = viewer_web.post(url("datasets:release", draft))
    assert response.status_code == 403
    assert (
        viewer_web.post(reverse("datasets:list", args=[project.pk]), {"name": "x"}).status_code
        == 403
    )


def test_outsiders_get_404(outsider_web, project):
    draft = make_draft(project, rows=[{"a": 1}])
    assert outsider_web.get(reverse("datasets:list", args=[project.pk])).status_code == 404
    assert outsider_web.get(url("datasets:version", draft)).status_code == 404
    assert outsider_web.get(url("datasets:export", draft, fmt="csv")).status_code == 404


def test_the_version_page_pages_and_searches_rows(web, project):
    draft = make_draft(project, rows=[{"n": f"value-{i}"} for i in range(120)])
    body = web.get(url("datasets:version", draft)).content.decode()
    assert "value-0" in body and "value-49" in body and "value-50" not in body
    assert "rows 1–50 of 120" in body
    second = web.get(url("datasets:version", draft) + "?after=49", **HTMX, HTTP_HX_TARGET="rows")
    fragment = second.content.decode()
    assert "value-50" in fragment and "value-49" not in fragment
    assert "<html" not in fragment
    jump = web.get(url("datasets:version", draft) + "?row=101").content.decode()
    assert "rows 101–120 of 120" in jump
    found = web.get(url("datasets:version", draft) + "?q=value-77").content.decode()
    assert "value-77" in found and "value-76" not in found
    back = web.get(url("datasets:version", draft) + "?before=100").content.decode()
    assert "rows 51–100 of 120" in back


def test_inline_row_editing_with_htmx(web, project):
    draft = make_draft(project, rows=[{"q": "old"}])
    item = draft.items.get()
    edit_url = url("datasets:row_edit", draft, item_id=item.pk)
    form = web.get(edit_url, **HTMX).content.decode()
    assert "<textarea" in form and "old" in form and "<html" not in form
    bad = web.post(edit_url, {"data": "[1]"}, **HTMX).content.decode()
    assert "Write one JSON object" in bad
    saved = web.post(edit_url, {"data": '{"q": "new"}'}, **HTMX)
    assert saved.status_code == 200 and "new" in saved.content.decode()
    assert "<tr" in saved.content.decode()
    item.refresh_from_db()
    assert item.data == {"q": "new"}
    cancel = web.get(edit_url + "?cancel=1", **HTMX).content.decode()
    assert "new" in cancel and "<textarea" not in cancel


def test_row_editing_without_javascript(web, project):
    draft = make_draft(project, rows=[{"q": "old"}])
    item = draft.items.get()
    edit_url = url("datasets:row_edit", draft, item_id=item.pk)
    assert "<html" in web.get(edit_url).content.decode()
    response = web.post(edit_url, {"data": '{"q": "plain"}'})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.data == {"q": "plain"}


def test_rows_are_added_deleted_and_bulk_deleted(web, project):
    draft = make_draft(project, rows=[{"q": "a"}, {"q": "b"}, {"q": "c"}])
    web.post(url("datasets:row_add", draft), {"data": '{"q": "d"}'})
    assert draft.items.count() == 4
    first = draft.items.get(position=0)
    response = web.post(url("datasets:row_delete", draft, item_id=first.pk), **HTMX)
    assert response.status_code == 200 and response.content == b""
    ids = [str(i.pk) for i in draft.items.filter(position__in=[1, 2])]
    web.post(url("datasets:rows_delete", draft), {"item_ids": ids})
    assert list(draft.items.values_list("data", flat=True)) == [{"q": "d"}]
    draft.refresh_from_db()
    assert draft.row_count == 1


def test_upload_shows_the_error_report_and_imports_nothing(web, project):
    draft = make_draft(project)
    bad = SimpleUploadedFile("rows.csv", b"a,b\n1,2\n3\n")
    response = web.post(url("datasets:import", draft), {"file": bad}, **HTMX)
    body = response.content.decode()
    assert "Nothing was imported" in body and "Line 3: expected 2 fields" in body
    assert "<html" not in body
    assert not draft.items.exists()
    good = SimpleUploadedFile("rows.csv", b"a,b\n1,2\n3,4\n")
    response = web.post(url("datasets:import", draft), {"file": good}, **HTMX)
    assert response["HX-Redirect"] == url("datasets:version", draft)
    assert draft.items.count() == 2


def test_upload_without_javascript_renders_the_page_with_errors(web, project):
    draft = make_draft(project)
    response = web.post(url("datasets:import", draft), {"file": SimpleUploadedFile("x.csv", b"")})
    body = response.content.decode()
    assert "The file is empty." in body and "<html" in body


def test_release_and_new_draft_from_the_ui(web, project):
    draft = make_draft(project, rows=[{"q": "a"}])
    response = web.post(url("datasets:release", draft))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.is_released
    body = web.get(url("datasets:version", draft)).content.decode()
    assert "Import rows" not in body and "Delete draft" not in body
    again = web.post(url("datasets:release", draft), follow=True)
    assert "released and cannot be changed" in again.content.decode()
    web.post(url("datasets:draft_create", draft), {"from_version": str(draft.pk)})
    copy = DatasetVersion.objects.get(dataset=draft.dataset, number=2)
    assert copy.items.count() == 1 and copy.is_draft


def test_export_buttons_download_each_format(web, project):
    released = make_released(project)
    for fmt in ("csv", "json", "jsonl"):
        response = web.get(url("datasets:export", released, fmt=fmt))
        assert response.status_code == 200
        assert b"q0" in b"".join(response.streaming_content)


def test_deleting_a_draft_and_a_dataset_from_the_ui(web, project):
    draft = make_draft(project, rows=[{"q": "a"}])
    web.post(url("datasets:version_delete", draft))
    assert not DatasetVersion.objects.exists() and not DatasetItem.objects.exists()
    web.post(url("datasets:delete", draft))
    assert not Dataset.objects.exists()


def test_deleting_a_dataset_used_by_a_run_shows_the_reason(web, project):
    released = make_released(project)
    run_model = DatasetVersion.evaluation_runs.rel.related_model
    run_model.objects.create(
        project=project, name="r", dataset_version=released, mode="dataset_only"
    )
    response = web.post(url("datasets:delete", released), follow=True)
    assert "cannot be deleted: 1 evaluation run(s) use its versions" in response.content.decode()
    assert Dataset.objects.exists()
