"""The results table's fast paths return what the general ones do: a status filter on a
one-agent run (a condition on the task) and failed rows sorted by score (their own results
sorted, when few) against the "any task at this position" semi-join."""

from __future__ import annotations

from runs import results_table
from runs.models import RunTask, TaskStatus
from runs.results_table import results_table_page


def test_failed_rows_sorted_by_score_match_the_general_path(finished_run, monkeypatch):
    RunTask.objects.filter(run=finished_run, position__in=[0, 2, 3]).update(
        status=TaskStatus.FAILED, error="exploded"
    )
    lev = results_table_page(finished_run).columns.bindings[1]
    pages = {}
    for few in (5000, 0):  # the sorted-few path, then the index walk over every result
        monkeypatch.setattr(results_table, "FEW_ROWS", few)
        for sort in (f"score:{lev.id}", f"-score:{lev.id}", None):
            seen, after = [], None
            while True:
                page = results_table_page(
                    finished_run, filters={"status": "failed"}, sort=sort, limit=2, after=after
                )
                seen += [(row.position, row.score(lev.id).number_value) for row in page.rows]
                if not page.has_more:
                    break
                after = page.next_after
            pages[(few, sort)] = seen
    for sort in (f"score:{lev.id}", f"-score:{lev.id}", None):
        assert pages[(5000, sort)] == pages[(0, sort)]
        assert sorted(position for position, _ in pages[(5000, sort)]) == [0, 2, 3]
    values = [value for _, value in pages[(5000, f"score:{lev.id}")]]
    assert values == sorted(values)


def test_a_status_filter_on_a_one_agent_run_is_a_condition_on_its_task(finished_run):
    RunTask.objects.filter(run=finished_run, position=1).update(status=TaskStatus.FAILED)
    page = results_table_page(finished_run, filters={"status": "failed"})
    assert [row.position for row in page.rows] == [1]
    page = results_table_page(finished_run, filters={"status": "succeeded"})
    assert [row.position for row in page.rows] == [0, 2, 3]
