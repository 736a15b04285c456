"""PostgreSQL: the result stage table (a session temp table the batch writes COPY into) is
there whenever a batch needs it, even after the transaction that created it rolled back."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from runs.engine.writes import _stage


@pytest.mark.django_db
def test_the_stage_table_survives_a_rolled_back_creation(django_capture_on_commit_callbacks):
    if connection.vendor != "postgresql":
        pytest.skip("the stage table is PostgreSQL's (COPY)")
    savepoint = transaction.savepoint()
    # Callbacks run here although nothing commits (as in tests; a memo of "created" taken
    # in an on-commit callback was then wrong for the rest of the connection's life).
    with django_capture_on_commit_callbacks(execute=True), connection.cursor() as cursor:
        _stage(cursor, [])
    transaction.savepoint_rollback(savepoint)  # the CREATE TEMP TABLE is undone
    with connection.cursor() as cursor:
        _stage(cursor, [])
        cursor.execute("SELECT count(*) FROM runs_result_stage")
        assert cursor.fetchone() == (0,)
