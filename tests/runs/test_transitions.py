"""Run status transitions live on the model: each is a conditional update on the status it
leaves, so only one caller ever makes a given move."""

from __future__ import annotations

import pytest

from runs.models import EvaluationRun, RunMode, RunPhase, RunStatus
from tests.runs.conftest import exact_match_entry, trace_rows
from tests.runs.test_engine import start

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(project, owner, make_dataset):
    version = make_dataset(trace_rows(2))
    config = [exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")]
    return start(project, owner, version, config)


def status_of(run):
    run.refresh_from_db()
    return run.status, run.phase


def test_the_working_phase_follows_the_mode():
    assert RunPhase.working(RunMode.WITH_WORKFLOW) == RunPhase.RUNNING_DATASET
    assert RunPhase.working(RunMode.DATASET_ONLY) == RunPhase.EVALUATING_RESULTS


def test_each_transition_happens_once_and_only_from_its_status(run):
    runs = EvaluationRun.objects
    assert not runs.request_cancel(run.id)  # pending: nothing to ask
    assert runs.start(run.id, mode=run.mode, total_tasks=2)
    assert not runs.start(run.id, mode=run.mode, total_tasks=2)
    assert status_of(run) == (RunStatus.RUNNING, RunPhase.EVALUATING_RESULTS)
    assert not runs.cancel_pending(run.id) and not runs.fail(run.id, error="x")
    assert runs.request_cancel(run.id) and not runs.request_cancel(run.id)
    assert not runs.finish(run.id, leaving=RunStatus.RUNNING, status=RunStatus.SUCCEEDED)
    assert runs.finish(run.id, leaving=RunStatus.CANCELLING, status=RunStatus.CANCELED)
    assert status_of(run) == (RunStatus.CANCELED, RunPhase.FINISHED)
    assert runs.reopen(run.id, mode=run.mode) and not runs.reopen(run.id, mode=run.mode)
    assert status_of(run) == (RunStatus.RUNNING, RunPhase.EVALUATING_RESULTS)
    assert runs.abandon(run.id) and not runs.abandon(run.id)


def test_finish_refuses_a_status_that_is_not_final(run):
    with pytest.raises(ValueError, match="Not a finishing transition"):
        EvaluationRun.objects.finish(run.id, leaving=RunStatus.RUNNING, status=RunStatus.RUNNING)


def test_a_run_that_cannot_be_planned_fails_with_its_reason(run):
    assert EvaluationRun.objects.fail(run.id, error="Planning failed: boom")
    run.refresh_from_db()
    assert (run.status, run.phase, run.error_description) == (
        RunStatus.FAILED,
        RunPhase.FINISHED,
        "Planning failed: boom",
    )
    assert run.finished_at is not None


def test_every_agent_call_returned_moves_a_running_run_to_scoring_once(run):
    runs = EvaluationRun.objects
    assert not runs.evaluate_results(run.id)  # pending: not even planned
    assert runs.start(run.id, mode=RunMode.WITH_WORKFLOW, total_tasks=2)
    assert status_of(run) == (RunStatus.RUNNING, RunPhase.RUNNING_DATASET)
    assert runs.evaluate_results(run.id) and not runs.evaluate_results(run.id)
    assert status_of(run) == (RunStatus.RUNNING, RunPhase.EVALUATING_RESULTS)
    assert runs.reopen(run.id, mode=RunMode.WITH_WORKFLOW) is False  # still running
    assert runs.request_cancel(run.id)
    runs.filter(id=run.id).update(phase=RunPhase.RUNNING_DATASET)
    assert not runs.evaluate_results(run.id)  # a cancelling run finishes instead
    assert status_of(run) == (RunStatus.CANCELLING, RunPhase.RUNNING_DATASET)


def test_a_run_canceled_before_it_was_planned_says_so(run):
    assert EvaluationRun.objects.cancel_pending(run.id)
    run.refresh_from_db()
    assert (run.status, run.error_description) == (
        RunStatus.CANCELED,
        "Canceled before any row ran.",
    )
