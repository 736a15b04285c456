from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets.models import Dataset, DatasetVersion
from tests.datasets.factories import make_draft, make_released

pytestmark = pytest.mark.django_db


def vurl(version, suffix=""):
    return f"/v1/datasets/{version.dataset_id}/versions/{version.pk}{suffix}"


def test_it_creates_and_lists_datasets_of_a_project(api, project):
    response = api.post(
        f"/v1/datasets?project_id={project.pk}", {"name": "QA", "description": "d"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "QA" and body["project_id"] == str(project.pk)
    listed = api.get(f"/v1/datasets?project_id={project.pk}").json()
    assert [d["name"] for d in listed["data"]] == ["QA"]


def test_project_id_is_required_and_must_be_a_membership(api, project, other_project):
    missing = api.get("/v1/datasets")
    assert missing.status_code == 400 and "project_id" in missing.json()["errors"]
    assert api.get("/v1/datasets?project_id=nope").status_code == 400
    assert api.get(f"/v1/datasets?project_id={other_project.pk}").status_code == 404


def test_a_duplicate_name_is_a_field_error(api, project):
    make_draft(project, name="QA")
    response = api.post(f"/v1/datasets?project_id={project.pk}", {"name": "QA"}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["errors"]


def test_viewers_read_but_cannot_write(viewer_api, project):
    draft = make_draft(project, rows=[{"a": 1}])
    assert viewer_api.get(f"/v1/datasets/{draft.dataset_id}").status_code == 200
    assert viewer_api.get(vurl(draft, "/items")).status_code == 200
    response = viewer_api.post(vurl(draft, "/items"), {"items": [{"a": 2}]}, format="json")
    assert response.status_code == 403
    created = viewer_api.post(f"/v1/datasets?project_id={project.pk}", {"name": "x"})
    assert created.status_code == 403


def test_another_projects_dataset_is_not_found(outsider_api, api, project):
    draft = make_draft(project, rows=[{"a": 1}])
    item = draft.items.get()
    for url in (
        f"/v1/datasets/{draft.dataset_id}",
        f"/v1/datasets/{draft.dataset_id}/versions",
        vurl(draft),
        vurl(draft, "/items"),
        vurl(draft, "/export?format=csv"),
    ):
        assert outsider_api.get(url).status_code == 404, url
    assert outsider_api.delete(f"/v1/datasets/{draft.dataset_id}").status_code == 404
    response = outsider_api.patch(vurl(draft, f"/items/{item.pk}"), {"data": {}}, format="json")
    assert response.status_code == 404
    assert Dataset.objects.filter(pk=draft.dataset_id).exists()


def test_the_whole_draft_to_release_flow(api, project):
    dataset = api.post(
        f"/v1/datasets?project_id={project.pk}", {"name": "Flow"}, format="json"
    ).json()
    base = f"/v1/datasets/{dataset['id']}/versions"
    draft = api.post(base, {}, format="json").json()
    assert draft["number"] == 1 and draft["status"] == "draft"
    vbase = f"{base}/{draft['id']}"
    added = api.post(
        f"{vbase}/items", {"items": [{"q": "a"}, {"q": "b"}, {"q": "c"}]}, format="json"
    )
    assert added.status_code == 201 and added.json() == {"added": 3, "row_count": 3}
    items = api.get(f"{vbase}/items?limit=2").json()
    assert [i["data"] for i in items["data"]] == [{"q": "a"}, {"q": "b"}]
    assert items["pagination"]["has_more"] is True
    rest = api.get(f"{vbase}/items?limit=2&cursor={items['pagination']['next_cursor']}").json()
    assert [i["data"] for i in rest["data"]] == [{"q": "c"}]
    assert rest["pagination"] == {"limit": 2, "next_cursor": None, "has_more": False}
    first, second, third = (i["id"] for i in items["data"] + rest["data"])
    patched = api.patch(f"{vbase}/items/{first}", {"data": {"q": "A"}}, format="json")
    assert patched.status_code == 200 and patched.json()["data"] == {"q": "A"}
    assert api.delete(f"{vbase}/items/{second}").status_code == 204
    imported = api.post(
        f"{vbase}/import",
        {"file": SimpleUploadedFile("more.jsonl", b'{"q": "d"}\n{"q": "e"}\n')},
        format="multipart",
    )
    assert imported.status_code == 201, imported.json()
    assert imported.json()["row_count"] == 4
    bulk = api.post(f"{vbase}/items/bulk-delete", {"item_ids": [third]}, format="json")
    assert bulk.json() == {"deleted": 1, "row_count": 3}
    released = api.post(f"{vbase}/release")
    assert released.status_code == 200
    body = released.json()
    assert body["status"] == "released" and body["row_count"] == 3
    assert body["columns"] == [{"name": "q", "type": "string"}] and len(body["checksum"]) == 64
    exported = api.get(f"{vbase}/export?format=jsonl")
    assert exported.status_code == 200
    assert exported["Content-Disposition"] == 'attachment; filename="Flow-v1.jsonl"'
    lines = b"".join(exported.streaming_content).decode().splitlines()
    assert [json.loads(line) for line in lines] == [{"q": "A"}, {"q": "d"}, {"q": "e"}]
    detail = api.get(f"/v1/datasets/{dataset['id']}").json()
    assert detail["latest_released_version_number"] == 1
    assert detail["latest_released_row_count"] == 3
    assert [v["status"] for v in detail["versions"]] == ["released"]


def test_a_draft_from_a_released_version(api, project):
    released = make_released(project)
    response = api.post(
        f"/v1/datasets/{released.dataset_id}/versions",
        {"from_version_id": str(released.pk)},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["row_count"] == 3 and response.json()["number"] == 2
    versions = api.get(f"/v1/datasets/{released.dataset_id}/versions").json()["data"]
    assert [v["number"] for v in versions] == [2, 1]


def test_a_draft_from_another_datasets_version_is_refused(api, project):
    released = make_released(project)
    other = make_released(project, name="Other")
    response = api.post(
        f"/v1/datasets/{released.dataset_id}/versions",
        {"from_version_id": str(other.pk)},
        format="json",
    )
    assert response.status_code == 400
    assert "from_version_id" in response.json()["errors"]


def test_writes_to_a_released_version_are_conflicts(api, project):
    released = make_released(project)
    item = released.items.first()
    calls = [
        api.post(vurl(released, "/items"), {"items": [{"a": 1}]}, format="json"),
        api.patch(vurl(released, f"/items/{item.pk}"), {"data": {"a": 1}}, format="json"),
        api.delete(vurl(released, f"/items/{item.pk}")),
        api.post(vurl(released, "/items/bulk-delete"), {"item_ids": [str(item.pk)]}),
        api.post(
            vurl(released, "/import"),
            {"file": SimpleUploadedFile("x.csv", b"a\n1\n")},
            format="multipart",
        ),
        api.post(vurl(released, "/release")),
        api.delete(vurl(released)),
    ]
    for response in calls:
        assert response.status_code == 409, response.json()
        assert "released and cannot be changed" in response.json()["message"]
    assert released.items.count() == 3


def test_a_bad_import_is_a_400_listing_the_bad_lines(api, project):
    draft = make_draft(project)
    response = api.post(
        vurl(draft, "/import"),
        {"file": SimpleUploadedFile("x.csv", b"a,b\n1,2\n1\n3,4,5\n")},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["errors"]["file"] == [
        "Line 3: expected 2 fields like the header, found 1.",
        "Line 4: expected 2 fields like the header, found 3.",
    ]
    assert not draft.items.exists()


def test_import_takes_the_format_from_a_field(api, project):
    draft = make_draft(project)
    response = api.post(
        vurl(draft, "/import"),
        {"file": SimpleUploadedFile("rows.txt", b'[{"a": 1}]'), "format": "json"},
        format="multipart",
    )
    assert response.status_code == 201
    missing = api.post(vurl(draft, "/import"), {}, format="multipart")
    assert missing.status_code == 400 and "file" in missing.json()["errors"]


def test_export_formats(api, project):
    released = make_released(project)
    text = b"".join(api.get(vurl(released, "/export?format=csv")).streaming_content).decode()
    assert list(csv.reader(io.StringIO(text)))[:2] == [["question", "answer"], ["q0", "a0"]]
    data = b"".join(api.get(vurl(released, "/export?format=json")).streaming_content)
    assert len(json.loads(data)) == 3
    assert api.get(vurl(released, "/export?format=xml")).status_code == 400


def test_bad_cursor_and_limit_are_field_errors(api, project):
    draft = make_draft(project, rows=[{"a": 1}])
    assert "cursor" in api.get(vurl(draft, "/items?cursor=@@")).json()["errors"]
    assert "limit" in api.get(vurl(draft, "/items?limit=0")).json()["errors"]


def test_deleting_a_draft_and_a_dataset(api, project):
    released = make_released(project)
    draft = make_draft(project, name="Other")
    assert api.delete(vurl(draft)).status_code == 204
    assert not DatasetVersion.objects.filter(pk=draft.pk).exists()
    assert api.delete(f"/v1/datasets/{released.dataset_id}").status_code == 204
    assert not Dataset.objects.filter(pk=released.dataset_id).exists()


def test_the_endpoints_are_in_the_openapi_schema(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert "/v1/datasets" in paths
    assert "/v1/datasets/{dataset_id}/versions/{version_id}/import" in paths
    assert "/v1/datasets/{dataset_id}/versions/{version_id}/export" in paths
