"""The results table shows each agent's outputs beside the dataset's expected answers, and
pages through the run with page and sort in the URL: previous, next, last, "page X of Y"."""

from __future__ import annotations

import re

from django.urls import reverse

from runs.models import RunTask
from runs.results_table import results_table_page


def url(name, run, *args):
    return reverse(f"runs:{name}", args=[run.project_id, run.pk, *args])


def test_each_agents_output_is_a_column_beside_the_expected_one(web, finished_run):
    html = web.get(url("detail", finished_run)).content.decode()
    header = re.search(r"<thead>.*?</thead>", html, re.S).group(0)
    assert 'data-col="output:0:answer"' in header
    assert header.index('data-col="output:0:answer"') < header.index('data-col="column:answer"')
    answer = RunTask.objects.filter(run=finished_run, position=0).get().outputs["answer"]
    body = re.search(r"<tbody>.*?</tbody>", html, re.S).group(0)
    assert answer[:40] in body


def test_long_outputs_are_truncated_with_a_full_view(web, finished_run):
    task = RunTask.objects.filter(run=finished_run, position=0).get()
    task.outputs = {**task.outputs, "answer": "word " * 200 + "THE-END"}
    task.save(update_fields=["outputs"])
    html = web.get(url("detail", finished_run)).content.decode()
    body = re.search(r"<tbody>.*?</tbody>", html, re.S).group(0)
    cell = re.search(r'<td[^>]*data-col="output:0:answer".*?</td>', body, re.S).group(0)
    assert "<details" in cell and "THE-END" in cell


def test_pages_are_numbered_with_previous_next_and_last_in_the_url(web, dataset_run):
    html = web.get(url("detail", dataset_run), {"per_page": 2}).content.decode()
    assert "Page 1 of 3" in html
    assert re.search(r'href="\?[^"]*page=3[^"]*"[^>]*>Last', html)
    nxt = re.search(r'href="\?([^"]*)"[^>]*>Next', html).group(1).replace("&amp;", "&")
    assert "page=2" in nxt and "after=" in nxt
    second = web.get(url("detail", dataset_run) + "?" + nxt).content.decode()
    assert "Page 2 of 3" in second
    assert re.search(r'href="\?[^"]*"[^>]*>Previous', second)
    last = web.get(url("detail", dataset_run), {"per_page": 2, "page": 3}).content.decode()
    assert "Page 3 of 3" in last
    positions = re.findall(r'aria-label="Open row (\d+)"', last)
    assert positions == ["4", "5"]
    assert not re.search(r">Next", last)


def test_a_sorted_page_keeps_its_sort_in_every_page_link(web, dataset_run):
    binding = dataset_run.bindings.get()
    sort = f"-score:{binding.id}"
    html = web.get(url("detail", dataset_run), {"per_page": 2, "sort": sort}).content.decode()
    nav = re.search(r'<nav class="pagination".*?</nav>', html, re.S).group(0)
    links = re.findall(r'href="\?([^"]*)"', nav)
    assert links and all(f"sort=-score%3A{binding.id}" in link for link in links)


def test_an_offset_page_equals_the_keyset_page(dataset_run):
    binding = dataset_run.bindings.get()
    for sort in (None, f"score:{binding.id}", f"-score:{binding.id}", "column:input"):
        first = results_table_page(dataset_run, limit=2, sort=sort)
        second = results_table_page(dataset_run, limit=2, sort=sort, after=first.next_after)
        by_offset = results_table_page(dataset_run, limit=2, sort=sort, offset=2)
        assert [r.position for r in by_offset.rows] == [r.position for r in second.rows], sort
        third = results_table_page(dataset_run, limit=2, sort=sort, after=by_offset.next_after)
        third_offset = results_table_page(dataset_run, limit=2, sort=sort, offset=4)
        assert [r.position for r in third.rows] == [r.position for r in third_offset.rows]
        assert results_table_page(dataset_run, limit=2, sort=sort, count=True).total == 6
