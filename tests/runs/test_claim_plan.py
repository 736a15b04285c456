"""PostgreSQL: a claim's cost does not depend on the task table's size or on the rows the run
already processed. Checked on the plan and the pages it touches (EXPLAIN ANALYZE, BUFFERS),
not on a timing: a table holding a million finished rows of other runs plus a run whose
first 200,000 rows were claimed and finished (their old versions still in the indexes, as
before a VACUUM nobody may run)."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from runs import services
from runs.engine import claims, planning, sql
from runs.models import RunTask, TaskStatus
from tests.runs.conftest import exact_match_entry

OTHER_ROWS = 1_000_000
DONE_ROWS = 40_000
LEFT_ROWS = 2_000


@pytest.fixture
def pg():
    if connection.vendor != "postgresql":
        pytest.skip("the claim's plan is PostgreSQL's")


def dataset_run(project, owner, make_dataset, name):
    version = make_dataset([{"output": "a", "expected": "a"}], name=name)
    config = [exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")]
    run = services.run_start(
        project=project, user=owner, name=name, dataset_version_id=version.id, config=config
    )
    planning.plan_run(run.id)
    return run


def copy_tasks(run, count: int, *, status: str, first_position: int = 1) -> None:
    """``count`` more tasks like the run's planned one, in one INSERT ... SELECT."""
    template = RunTask.objects.filter(run=run).order_by("id").first()
    columns = [f.column for f in RunTask._meta.concrete_fields if f.column != "id"]
    chosen = []
    for column in columns:
        if column == "position":
            chosen.append(f"g + {first_position - 1}")
        elif column == "status":
            chosen.append("%s")
        else:
            chosen.append(connection.ops.quote_name(column))
    tasks = sql.table(RunTask)
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        # Every copy points at the template's dataset item; the one-task-per-item constraint
        # plays no part in a claim and is dropped inside the test's transaction only.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER refuses pending FK checks
        for name in ("run_task_unique_item", "run_task_unique_trial"):
            cursor.execute(f"ALTER TABLE {tasks} DROP CONSTRAINT IF EXISTS {name}")  # noqa: S608
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute(
            f"INSERT INTO {tasks} ({names}) SELECT {', '.join(chosen)} "  # noqa: S608
            f"FROM {tasks}, generate_series(1, %s) AS g WHERE id = %s",
            [status, count, template.id],
        )


def explain(statement: str, params) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}", params)
        value = cursor.fetchone()[0]
    return (json.loads(value) if isinstance(value, str) else value)[0]


def buffers(plan: dict) -> int:
    return plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)


def nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def test_a_claim_walks_the_claim_index_above_its_floor_whatever_the_table_holds(
    pg, project, owner, make_dataset
):
    other = dataset_run(project, owner, make_dataset, "other runs")
    copy_tasks(other, OTHER_ROWS, status=TaskStatus.SUCCEEDED)
    run = dataset_run(project, owner, make_dataset, "this run")
    copy_tasks(run, DONE_ROWS + LEFT_ROWS, status=TaskStatus.PENDING)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {sql.table(RunTask)}")  # noqa: S608
    owner_token = claims.new_lease_owner()
    # The drainer works through its first 200,000 rows: claimed, then finished.
    done = 0
    while done < DONE_ROWS:
        limit = min(10_000, DONE_ROWS - done)
        ids = claims.claim_batch(run.id, owner=owner_token, limit=limit, lease_seconds=60)
        RunTask.objects.filter(id__in=ids).update(status=TaskStatus.SUCCEEDED)
        done += len(ids)
    floor = claims.claim_floor(owner_token)
    assert floor == max(
        RunTask.objects.filter(run=run, status="succeeded").values_list("id", flat=True)
    )

    statement = claims.candidates_sql(sql.table(RunTask))
    report = explain(statement, {"run": sql.uuid_param(run.id), "floor": floor, "limit": 500})
    plan = report["Plan"]
    scans = [node for node in nodes(plan) if "Relation Name" in node]
    assert len(scans) == 1
    scan = scans[0]
    assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), scan["Node Type"]
    assert scan["Index Name"] == "run_task_claim"
    assert "ROW(run_id" in scan["Index Cond"] and f", {floor}))" in scan["Index Cond"]
    assert scan.get("Rows Removed by Filter", 0) == 0
    assert scan["Actual Rows"] == 500
    # Buffer accesses (the top node's count includes its children's): about one index access
    # and one heap access per row claimed, however many rows the table and the run hold.
    pages = buffers(plan)
    assert pages <= 3 * 500, pages

    # Without the floor the same walk starts at the run's first pending entry and steps over
    # one dead entry per processed row (the scan pins each heap page once for a run of them,
    # so here it shows as the processed rows' heap pages): the work the floor avoids.
    unfloored = explain(statement, {"run": sql.uuid_param(run.id), "floor": 0, "limit": 500})
    walked = buffers(unfloored["Plan"])
    assert walked > pages + 300, (walked, pages)


def test_rows_given_back_below_the_floor_are_claimed_again(pg, project, owner, make_dataset):
    run = dataset_run(project, owner, make_dataset, "small")
    copy_tasks(run, 99, status=TaskStatus.PENDING)
    token = claims.new_lease_owner()
    first = claims.claim_batch(run.id, owner=token, limit=60, lease_seconds=60)
    assert len(first) == 60
    claims.release(first[:10], owner=token)  # below the floor now
    second = claims.claim_batch(run.id, owner=token, limit=60, lease_seconds=60)
    assert len(second) == 50
    assert set(first[:10]) <= set(second)  # found by the look from the start of the run
    assert second == sorted(second)
    assert claims.claim_batch(run.id, owner=token, limit=60, lease_seconds=60) == []
    assert not RunTask.objects.filter(run=run, status=TaskStatus.PENDING).exists()


def test_sqlite_counts_a_runs_failed_rows_through_the_status_index(project, owner, make_dataset):
    """SQLite has no statistics; the finish's count of failed rows by entry once walked
    every row of the run through the unique (run, entry, item, trial) index (3 s at a
    million rows). The plan must search the (run_id, status) index."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's planner")
    from runs.engine.finish import not_scored_sql

    run = dataset_run(project, owner, make_dataset, "sqlite plan")
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN QUERY PLAN " + not_scored_sql(),
            [8, "Not run:", sql.uuid_param(run.id), TaskStatus.FAILED],
        )
        plan = " ".join(str(row[-1]) for row in cursor.fetchall())
    assert "USING INDEX run_task_claim (run_id=? AND status=?)" in plan, plan
