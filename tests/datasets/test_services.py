from __future__ import annotations

import hashlib
import json

import pytest
from django.core.exceptions import ValidationError

from datasets import services
from datasets.models import DatasetItem, DatasetVersion, VersionStatus
from datasets.selectors import (
    datasets_for_project,
    datasets_with_released_versions,
    items_page,
    released_versions_for_project,
)
from evalsite.errors import ConflictError
from tests.datasets.factories import make_dataset, make_draft, make_released, upload

pytestmark = pytest.mark.django_db


def rows_of(version):
    return list(version.items.order_by("position").values_list("data", flat=True))


def test_it_creates_a_dataset_and_refuses_a_duplicate_name(project, owner):
    dataset = make_dataset(project, owner)
    assert dataset.project == project
    with pytest.raises(ValidationError) as exc:
        make_dataset(project, owner)
    assert "name" in exc.value.error_dict


def test_it_refuses_a_blank_dataset_name(project):
    with pytest.raises(ValidationError):
        services.dataset_create(project=project, name="  ")


def test_a_new_draft_gets_the_next_number(project, owner):
    released = make_released(project, owner)
    draft = services.version_create_draft(dataset=released.dataset, user=owner)
    assert (released.number, draft.number) == (1, 2)
    assert draft.status == VersionStatus.DRAFT
    assert draft.row_count == 0


def test_a_draft_from_a_released_version_copies_its_rows_in_the_database(project, owner):
    released = make_released(project, owner)
    draft = services.version_create_draft(
        dataset=released.dataset, from_version=released, user=owner
    )
    assert rows_of(draft) == rows_of(released)
    assert draft.row_count == 3
    assert draft.column_names() == ["question", "answer"]
    new_ids = set(draft.items.values_list("id", flat=True))
    assert not new_ids & set(released.items.values_list("id", flat=True))
    assert len(new_ids) == 3
    # Copied ids are real UUIDs that the ORM reads back.
    item = draft.items.first()
    assert DatasetItem.objects.get(pk=item.pk).version_id == draft.pk


def test_it_refuses_a_draft_from_a_draft(project, owner):
    draft = make_draft(project, owner, rows=[{"a": 1}])
    with pytest.raises(ValidationError) as exc:
        services.version_create_draft(dataset=draft.dataset, from_version=draft)
    assert "from_version_id" in exc.value.error_dict


def test_it_adds_edits_and_deletes_rows_of_a_draft(project, owner):
    draft = make_draft(project, owner, rows=[{"q": "a"}, {"q": "b"}, {"q": "c"}])
    items = list(draft.items.order_by("position"))
    assert [i.position for i in items] == [0, 1, 2]
    services.item_update(item=items[1], data={"q": "B", "extra": 2})
    services.item_delete(item=items[0])
    draft.refresh_from_db()
    assert rows_of(draft) == [{"q": "B", "extra": 2}, {"q": "c"}]
    assert draft.row_count == 2
    assert draft.column_names() == ["q", "extra"]
    services.items_delete(version=draft, item_ids=[i.pk for i in draft.items.all()])
    draft.refresh_from_db()
    assert draft.row_count == 0
    assert not draft.items.exists()


def test_it_refuses_rows_that_are_not_objects(project):
    draft = make_draft(project)
    for bad in ([1], ["text"], [{}], []):
        with pytest.raises(ValidationError):
            services.items_add(version=draft, rows=bad)
    assert not draft.items.exists()


def test_it_refuses_a_row_over_the_size_limit(project, settings):
    settings.DATASET_MAX_ROW_BYTES = 50
    draft = make_draft(project)
    with pytest.raises(ValidationError, match="row limit"):
        services.items_add(version=draft, rows=[{"text": "x" * 100}])


def test_it_refuses_rows_over_the_version_limit(project, settings):
    settings.DATASET_MAX_ROWS = 2
    draft = make_draft(project, rows=[{"a": 1}, {"a": 2}])
    with pytest.raises(ValidationError, match="at most 2 rows"):
        services.items_add(version=draft, rows=[{"a": 3}])


def test_bulk_delete_refuses_rows_of_another_version(project):
    draft = make_draft(project, rows=[{"a": 1}])
    other = make_draft(project, rows=[{"a": 2}], name="Other")
    with pytest.raises(ValidationError):
        services.items_delete(version=draft, item_ids=[other.items.get().pk])
    assert other.items.count() == 1


def test_release_freezes_columns_count_checksum_and_positions(project, owner):
    draft = make_draft(
        project,
        owner,
        rows=[{"q": "a", "n": 1}, {"q": "b", "n": None}, {"q": "c", "n": 2.5, "tags": ["x"]}],
    )
    services.item_delete(item=draft.items.get(position=0))
    released = services.version_release(version=draft, user=owner)
    assert released.is_released
    assert released.released_by == owner and released.released_at
    assert released.row_count == 2
    assert released.columns == [
        {"name": "q", "type": "string"},
        {"name": "n", "type": "number"},
        {"name": "tags", "type": "array"},
    ]
    assert list(released.items.order_by("position").values_list("position", flat=True)) == [0, 1]
    expected = hashlib.sha256()
    for data in rows_of(released):
        expected.update(json.dumps(data, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    assert released.checksum == expected.hexdigest()
    assert released.is_trace_shaped is False


def test_mixed_types_make_a_mixed_column(project):
    draft = make_draft(project, rows=[{"v": 1}, {"v": "one"}])
    released = services.version_release(version=draft)
    assert released.columns == [{"name": "v", "type": "mixed"}]


def test_release_refuses_an_empty_draft(project):
    draft = make_draft(project)
    with pytest.raises(ValidationError, match="at least one row"):
        services.version_release(version=draft)


def test_it_marks_trace_shaped_versions(project):
    trace_row = {"input": "hi", "output": "hello", "status": "ok", "trace_id": "t1"}
    released = make_released(project, rows=[trace_row, {**trace_row, "trace": {"spans": []}}])
    assert released.is_trace_shaped
    partial = make_released(project, rows=[trace_row, {"input": "x"}], name="Partial")
    assert not partial.is_trace_shaped


def test_it_refuses_every_write_to_a_released_version(project, owner):
    released = make_released(project, owner)
    item = released.items.first()
    writes = [
        lambda: services.items_add(version=released, rows=[{"a": 1}]),
        lambda: services.item_update(item=item, data={"a": 1}),
        lambda: services.item_delete(item=item),
        lambda: services.items_delete(version=released, item_ids=[item.pk]),
        lambda: services.version_import(
            version=released, stream=upload("a\n1\n"), filename="x.csv"
        ),
        lambda: services.version_release(version=released),
        lambda: services.version_delete(version=released),
    ]
    for write in writes:
        with pytest.raises(ConflictError, match="released and cannot be changed"):
            write()
    assert rows_of(released) == [{"question": f"q{i}", "answer": f"a{i}"} for i in range(3)]


def test_it_deletes_a_draft(project):
    draft = make_draft(project, rows=[{"a": 1}])
    services.version_delete(version=draft)
    assert not DatasetVersion.objects.filter(pk=draft.pk).exists()
    assert not DatasetItem.objects.exists()


def test_it_deletes_a_dataset_with_its_versions(project):
    released = make_released(project)
    services.dataset_delete(dataset=released.dataset)
    assert not DatasetVersion.objects.exists()
    assert not DatasetItem.objects.exists()


def test_selectors_list_only_released_versions_of_the_project(project, other_project):
    released = make_released(project)
    make_draft(project, name="Draft only")
    make_released(other_project, name="Elsewhere")
    assert list(released_versions_for_project(project)) == [released]
    assert [d.name for d in datasets_with_released_versions(project)] == ["Questions"]
    listed = {d.name: d for d in datasets_for_project(project)}
    assert listed["Questions"].latest_released_number == 1
    assert listed["Questions"].latest_released_rows == 3
    assert listed["Draft only"].latest_released_number is None


def test_items_page_walks_forward_backward_and_searches(project):
    draft = make_draft(project, rows=[{"n": i, "word": f"w{i}"} for i in range(10)] + [{"w": "é"}])
    first = items_page(draft, limit=4)
    assert [i.position for i in first.items] == [0, 1, 2, 3] and first.has_more
    second = items_page(draft, after=first.next_after, limit=4)
    assert [i.position for i in second.items] == [4, 5, 6, 7]
    back = items_page(draft, before=4, limit=4)
    assert [i.position for i in back.items] == [0, 1, 2, 3] and not back.has_previous
    last = items_page(draft, after=7, limit=4)
    assert [i.position for i in last.items] == [8, 9, 10] and not last.has_more
    assert [i.data["word"] for i in items_page(draft, search="W7").items] == ["w7"]
    assert [i.data for i in items_page(draft, search="é").items] == [{"w": "é"}]


def test_it_refuses_to_delete_a_dataset_that_runs_use(project):
    released = make_released(project)
    run_model = DatasetVersion.evaluation_runs.rel.related_model
    run_model.objects.create(
        project=project, name="uses it", dataset_version=released, mode="dataset_only"
    )
    with pytest.raises(ConflictError, match="1 evaluation run"):
        services.dataset_delete(dataset=released.dataset)
    assert released.items.count() == 3
