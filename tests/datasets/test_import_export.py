from __future__ import annotations

import csv
import io
import json

import pytest

from datasets import exporting, services
from datasets.services import ImportFailed
from tests.datasets.factories import make_draft, upload

pytestmark = pytest.mark.django_db


def do_import(version, text, filename, fmt=""):
    return services.version_import(version=version, stream=upload(text), filename=filename, fmt=fmt)


def export_text(version, fmt):
    return b"".join(exporting.export_stream(version, fmt)).decode()


def import_error(version, text, filename, fmt=""):
    with pytest.raises(ImportFailed) as exc:
        do_import(version, text, filename, fmt)
    version.refresh_from_db()
    assert not version.items.exists()
    assert version.row_count == 0
    return exc.value


def test_it_imports_a_csv_file(project):
    draft = make_draft(project)
    report = do_import(draft, 'question,answer\nq1,a1\n"q, 2","multi\nline"\n', "qa.csv")
    assert report.rows_imported == 2 and report.row_count == 2
    assert list(draft.items.order_by("position").values_list("data", flat=True)) == [
        {"question": "q1", "answer": "a1"},
        {"question": "q, 2", "answer": "multi\nline"},
    ]
    assert report.columns == [
        {"name": "question", "type": "string"},
        {"name": "answer", "type": "string"},
    ]


def test_it_imports_json_and_jsonl_and_appends_after_existing_rows(project):
    draft = make_draft(project, rows=[{"a": 0}])
    do_import(draft, '[{"a": 1}, {"a": 2, "b": [1]}]', "rows.json")
    do_import(draft, '{"a": 3}\n\n{"a": 4}\n', "rows.jsonl")
    data = list(draft.items.order_by("position").values_list("data", flat=True))
    assert data == [{"a": 0}, {"a": 1}, {"a": 2, "b": [1]}, {"a": 3}, {"a": 4}]
    draft.refresh_from_db()
    assert draft.row_count == 5


def test_the_format_field_overrides_the_extension(project):
    draft = make_draft(project)
    do_import(draft, '{"a": 1}\n', "export.txt", fmt="jsonl")
    assert draft.items.count() == 1


def test_it_reports_every_bad_row_with_its_line_and_writes_nothing(project):
    draft = make_draft(project)
    lines = ["a,b"] + ["1,2"] * 3 + ["1,2,3", "4,5", "6"]
    error = import_error(draft, "\n".join(lines) + "\n", "x.csv")
    assert [(p.line, p.message) for p in error.problems] == [
        (5, "expected 2 fields like the header, found 3."),
        (7, "expected 2 fields like the header, found 1."),
    ]
    assert error.message_dict["file"][0].startswith("Line 5: expected 2 fields")


def test_it_shows_only_the_first_hundred_problems(project):
    draft = make_draft(project)
    text = "a,b\n" + "1\n" * 250
    error = import_error(draft, text, "x.csv")
    assert len(error.problems) == 100 and error.total == 250
    assert error.message_dict["file"][-1] == "… and 150 more problems."


@pytest.mark.parametrize(
    ("text", "filename", "message"),
    [
        ("", "x.csv", "The file is empty."),
        ("\n\n", "x.jsonl", "The file is empty."),
        ("  ", "x.json", "The file is empty."),
        (b"name\n\xff\xfe caf\xe9\n", "x.csv", "not UTF-8"),
        ("a,b,a\n1,2,3\n", "x.csv", "Duplicate column names in the header: a."),
        ("a,,c\n1,2,3\n", "x.csv", "column 2 has no name"),
        ("1,2,3\n4,5,6\n", "x.csv", "looks like data, not a header"),
        ("a,b\n", "x.csv", "header line but no rows"),
        ('{"a": 1}', "x.json", "JSON array of objects"),
        ("[]", "x.json", "The JSON array is empty."),
        ('[{"a": 1},', "x.json", "Invalid JSON"),
        ("a,b\n1,2\n", "x.xlsx", "Cannot tell the format"),
    ],
)
def test_each_bad_file_gets_its_own_message(project, text, filename, message):
    draft = make_draft(project)
    error = import_error(draft, text, filename)
    assert message in error.file_error


def test_a_json_list_of_non_objects_reports_each_item(project):
    draft = make_draft(project)
    error = import_error(draft, '[\n  {"a": 1},\n  2,\n  "x"\n]', "x.json")
    assert [(p.line, p.message) for p in error.problems] == [
        (3, "expected a JSON object, found a number."),
        (4, "expected a JSON object, found a string."),
    ]


def test_a_jsonl_line_that_is_not_an_object_is_reported(project):
    draft = make_draft(project)
    error = import_error(draft, '{"a": 1}\n[1, 2]\n{"a": \n', "x.jsonl")
    assert [(p.line, p.message.split(":")[0]) for p in error.problems] == [
        (2, "expected a JSON object, found an array."),
        (3, "invalid JSON"),
    ]


def test_it_refuses_a_file_over_the_upload_limit(project, settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 1024 * 1024
    draft = make_draft(project)
    # Long lines: the limit is crossed while streaming (no size given), after ~1,000 rows.
    error = import_error(draft, "a\n" + ("x" * 1000 + "\n") * 1100, "big.csv")
    assert "larger than the 1 MB upload limit" in error.file_error


def test_it_refuses_a_row_over_the_row_limit(project, settings):
    settings.DATASET_MAX_ROW_BYTES = 100
    draft = make_draft(project)
    error = import_error(draft, "a\nshort\n" + "x" * 200 + "\n", "x.csv")
    assert [p.line for p in error.problems] == [3]


def test_it_refuses_a_file_with_more_rows_than_a_version_may_hold(project, settings):
    settings.DATASET_MAX_ROWS = 3
    draft = make_draft(project)
    error = import_error(draft, "a\n1\n2\n3\n4\n", "x.csv")
    assert "more than the limit of 3 rows" in error.file_error


def test_export_of_a_csv_import_gives_back_the_same_rows(project):
    draft = make_draft(project)
    source = 'id,text,note\n1,"hello, world","line\nbreak"\n2,"quote ""q""",é\n'
    do_import(draft, source, "x.csv")
    released = services.version_release(version=draft)
    exported = export_text(released, "csv")
    assert list(csv.reader(io.StringIO(exported))) == list(csv.reader(io.StringIO(source)))


def test_export_of_a_json_import_gives_back_the_same_rows_in_every_format(project):
    rows = [{"q": "é?", "n": 1.5, "ok": True, "meta": {"k": [1, None]}}, {"q": "two", "n": 2}]
    draft = make_draft(project)
    do_import(draft, json.dumps(rows), "x.json")
    assert json.loads(export_text(draft, "json")) == rows
    assert [json.loads(line) for line in export_text(draft, "jsonl").splitlines()] == rows
    reimported = make_draft(project, name="Again")
    do_import(reimported, export_text(draft, "jsonl"), "x.jsonl")
    assert list(reimported.items.order_by("position").values_list("data", flat=True)) == rows
    draft.refresh_from_db()
    lines = list(csv.DictReader(io.StringIO(export_text(draft, "csv"))))
    assert lines[0] == {"q": "é?", "n": "1.5", "ok": "true", "meta": '{"k": [1, null]}'}
    assert lines[1]["ok"] == ""


def test_export_of_an_empty_version_is_valid(project):
    draft = make_draft(project)
    assert json.loads(export_text(draft, "json")) == []
    assert export_text(draft, "jsonl") == ""
