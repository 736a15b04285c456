"""CSV downloads neutralise cells a spreadsheet would evaluate as formulas."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from datasets import exporting
from evalsite.csvsafe import escape_cell
from tests.runs_ui.conftest import execute, release, start_dataset_run

FORMULAS = ["=1+1", "+SUM(A1:A2)", "-2+3", "@SUM(A1)", "\t=cmd", "\r=cmd", '=HYPERLINK("x")']


@pytest.mark.parametrize("value", FORMULAS)
def test_formula_leading_text_gets_a_quote(value):
    assert escape_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["-5", "+1.5", "-0.25e3", "plain", "a=b", "", 3, -2.5, None])
def test_numbers_and_ordinary_text_are_unchanged(value):
    assert escape_cell(value) == value


def _rows(chunks) -> list[list[str]]:
    return list(
        csv.reader(io.StringIO("".join(c if isinstance(c, str) else c.decode() for c in chunks)))
    )


def test_dataset_csv_exports_escape_formulas(project, owner):
    rows = [{"input": value, "output": "-7", "expected": "ok"} for value in FORMULAS]
    version = release(project, owner, rows, name="Formulas")
    exported = _rows(exporting.export_stream(version, "csv"))
    assert exported[0] == ["input", "output", "expected"]
    assert [row[0] for row in exported[1:]] == ["'" + value for value in FORMULAS]
    assert {row[1] for row in exported[1:]} == {"-7"}


def test_result_csv_exports_escape_formulas(project, owner, web):
    rows = [
        {"input": "q", "output": '=WEBSERVICE("http://x")', "expected": "@x", "status": "ok"},
        {"input": "q", "output": "fine", "expected": "fine", "status": "ok"},
    ]
    version = release(project, owner, rows, name="Formula run")
    run = execute(start_dataset_run(project, owner, version))
    response = web.get(reverse("runs:download", args=[project.pk, run.pk]), {"format": "csv"})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert '\'=WEBSERVICE("http://x")' in cells and "'@x" in cells
    assert not any(cell.startswith(("=", "@")) for cell in cells)
