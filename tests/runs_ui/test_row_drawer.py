"""The row drawer shows a recorded trace as a tree with durations, a waterfall and
expandable JSON, and moves to the previous / next row."""

from __future__ import annotations

import re

from django.urls import reverse

from runs.trace_view import span_tree
from tests.runs_ui.conftest import execute, release, start_dataset_run

SPANS = [
    {
        "span_id": "a",
        "name": "agent",
        "start_time": "2025-01-01T10:00:00Z",
        "end_time": "2025-01-01T10:00:01Z",
        "input": {"q": "hi"},
    },
    {
        "span_id": "b",
        "parent_span_id": "a",
        "name": "retrieve",
        "type": "TRACE_SPAN_TYPE_RETRIEVER",
        "start_time": "2025-01-01T10:00:00.100Z",
        "end_time": "2025-01-01T10:00:00.400Z",
        "output": {"documents": ["x" * 3000]},
    },
    {
        "span_id": "c",
        "parent_span_id": "a",
        "name": "answer",
        "start_time": "2025-01-01T10:00:00.400Z",
        "duration_ms": 600,
        "output": {"text": "ok"},
    },
]


def test_spans_become_a_tree_with_durations_and_waterfall_offsets():
    tree = span_tree(SPANS)
    assert [(n["name"], n["depth"]) for n in tree] == [("agent", 0), ("retrieve", 1), ("answer", 1)]
    assert tree[0]["duration_ms"] == 1000 and tree[1]["duration_ms"] == 300
    assert tree[1]["offset_pct"] == 10.0 and tree[2]["offset_pct"] == 40.0
    assert tree[1]["type"] == "TRACE_SPAN_TYPE_RETRIEVER"


def test_the_drawer_shows_the_trace_tree_and_row_navigation(web, project, owner):
    rows = [
        {"input": f"q{i}", "output": "ok", "expected": "ok", "trace": {"spans": SPANS}}
        for i in range(3)
    ]
    version = release(project, owner, rows, name="Traced")
    run = execute(start_dataset_run(project, owner, version))
    url = reverse("runs:row", args=[project.pk, run.pk, 1])
    html = web.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'class="trace-tree"' in html
    assert "1000 ms" in html and "300 ms" in html and "600 ms" in html
    assert re.search(r"--indent: 1\.1rem", html)
    assert "&quot;documents&quot;" in html  # the span's JSON, inside <details>
    assert 'data-row-nav="previous"' in html and 'data-row-nav="next"' in html
    first = web.get(reverse("runs:row", args=[project.pk, run.pk, 0]), HTTP_HX_REQUEST="true")
    assert 'data-row-nav="previous"' not in first.content.decode()
    last = web.get(reverse("runs:row", args=[project.pk, run.pk, 2]), HTTP_HX_REQUEST="true")
    assert 'data-row-nav="next"' not in last.content.decode()


def test_previous_and_next_follow_the_tables_sort(web, dataset_run):
    binding = dataset_run.bindings.get()
    sort = f"-score:{binding.id}"
    detail = reverse("runs:detail", args=[dataset_run.project_id, dataset_run.pk])
    html = web.get(detail, {"sort": sort}).content.decode()
    order = [int(p) for p in re.findall(r'aria-label="Open row (\d+)"', html)]
    links = re.findall(r'<a href="([^"]*/rows/\d+/\?[^"]*i=\d+)"', html)
    assert len(links) == len(order) == 6
    second = web.get(links[1].replace("&amp;", "&"), HTTP_HX_REQUEST="true").content.decode()
    prev = re.search(r'data-row-nav="previous" href="[^"]*/rows/(\d+)/', second).group(1)
    nxt = re.search(r'data-row-nav="next" href="[^"]*/rows/(\d+)/', second).group(1)
    assert (int(prev), int(nxt)) == (order[0], order[2])
