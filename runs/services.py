"""Writes on evaluation runs and test cases. The UI and both API dialects call these.

Starting returns at once: the run is saved pending and planning is enqueued after commit;
the engine (``runs.engine``) does the rest in django-q2 workers.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from evalsite.errors import ConflictError, UnprocessableError
from runs.engine import sql
from runs.engine.budget import reset_leaked_reservations
from runs.engine.enqueue import enqueue_drainers, enqueue_plan
from runs.engine.finish import cancel_pending_run, request_cancel, try_finish
from runs.mapping import validate_run_config
from runs.models import (
    EvaluationRun,
    MetricBinding,
    MetricResult,
    ModelEvaluationRun,
    RunEntry,
    RunPhase,
    RunStatus,
    RunTask,
    TaskStatus,
)
from runs.options import CAP_FIELDS, clean_run_options, run_options

MAX_IDEMPOTENCY_KEY = 255


def _same_request(existing: EvaluationRun, fingerprint: str) -> EvaluationRun:
    """The run a reused ``Idempotency-Key`` started, if the request is the same one."""
    if fingerprint and existing.idempotency_fingerprint not in ("", fingerprint):
        raise UnprocessableError(
            "This Idempotency-Key was already used with a different request body; "
            "use a new key for a different request.",
            code="idempotency_key_reused",
        )
    return existing


@transaction.atomic
def run_start(
    *,
    project,
    user,
    name: str,
    dataset_version_id,
    config: list[dict],
    star_metric: dict | None = None,
    idempotency_key: str | None = None,
    idempotency_fingerprint: str = "",
    test_case=None,
    test_case_version: int | None = None,
    options: dict | None = None,
) -> EvaluationRun:
    """Validate, pin every version, save the run pending and enqueue its planning.

    ``options``: repetitions, caps and call-cache choices (runs.options); caps the run does
    not set come from the project's defaults.
    A repeated ``idempotency_key`` (per project) returns the run it first started; with a
    ``idempotency_fingerprint`` (a hash of the request) that differs from the first request's,
    it raises ``UnprocessableError`` (HTTP 422) and creates nothing.
    """
    if idempotency_key is not None:
        idempotency_key = str(idempotency_key).strip() or None
    if idempotency_key is not None:
        if len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise ValidationError(
                {"idempotency_key": [f"At most {MAX_IDEMPOTENCY_KEY} characters."]}
            )
        existing = EvaluationRun.objects.filter(
            project=project, idempotency_key=idempotency_key
        ).first()
        if existing is not None:
            return _same_request(existing, idempotency_fingerprint)
    options = run_options(project, options)
    plan = validate_run_config(
        project=project,
        name=name,
        dataset_version_id=dataset_version_id,
        config=config,
        star_metric=star_metric,
    )
    try:
        with transaction.atomic():
            run = EvaluationRun.objects.create(
                project=project,
                name=name.strip(),
                dataset_version=plan.dataset_version,
                mode=plan.mode,
                status=RunStatus.PENDING,
                phase=RunPhase.PLANNING,
                started_by=user if getattr(user, "is_authenticated", False) else None,
                queued_at=timezone.now(),
                config=plan.frozen_config(),
                star_threshold=plan.star_threshold,
                test_case=test_case,
                test_case_version=(
                    test_case_version
                    if test_case_version is not None
                    else getattr(test_case, "version", None)
                ),
                idempotency_key=idempotency_key,
                idempotency_fingerprint=idempotency_fingerprint if idempotency_key else "",
                **options,
            )
    except IntegrityError:
        if idempotency_key is None:
            raise
        # A concurrent request with the same key won the race: answer with its run.
        existing = EvaluationRun.objects.get(project=project, idempotency_key=idempotency_key)
        return _same_request(existing, idempotency_fingerprint)

    run_plan_save(run=run, plan=plan)
    run_id = run.id
    transaction.on_commit(lambda: enqueue_plan(run_id))
    return run


def run_plan_save(*, run: EvaluationRun, plan) -> None:
    """The entries and metric bindings of a validated ``RunPlan`` (runs.mapping), and the
    star binding. Used by ``run_start`` and by monitors (traces.monitors), whose runs grow."""
    star_binding = None
    position = 0
    for entry_index, planned_entry in enumerate(plan.entries):
        entry = RunEntry.objects.create(
            run=run,
            position=entry_index,
            workflow_version=planned_entry.workflow_version,
            input_selector=planned_entry.input_selector,
        )
        for metric_index, planned in enumerate(planned_entry.metrics):
            binding = MetricBinding.objects.create(
                run=run,
                entry=entry,
                position=position,
                metric_version=planned.version,
                input_selector=planned.input_selector,
                span_type=planned.span_type,
            )
            position += 1
            if plan.star == (entry_index, metric_index):
                star_binding = binding
    if star_binding is not None:
        run.star_binding = star_binding
        run.save(update_fields=["star_binding"])


@sql.retry_on_deadlock  # drainers hold row locks: see runs.engine.sql
@transaction.atomic
def run_cancel(*, run: EvaluationRun) -> EvaluationRun:
    """pending -> canceled at once; running -> cancelling, then canceled when in-flight rows
    have settled (right away when none is in flight)."""
    if run.is_finished:
        raise ConflictError(f"The run already finished ({run.get_status_display().lower()}).")
    if not cancel_pending_run(run.id) and request_cancel(run.id):
        try_finish(run.id)
    run.refresh_from_db()
    return run


@transaction.atomic
def run_rerun(*, run: EvaluationRun, caps: dict | None = None) -> EvaluationRun:
    """Recover what failed, in the same run, with the pinned versions.

    Rows whose agent call failed go back to pending and call the agent again; rows whose
    agent call succeeded but some metric result failed are re-scored from the stored outputs
    (only those metrics, and the agent is not called). Rows not run because a cap was
    reached are run now: pass raised ``caps`` (``max_cost`` etc.; None removes a cap) to
    let them through. Nothing failed: ``ConflictError``.
    """
    changes = clean_run_options(caps, partial=True) if caps else {}
    changes = {k: v for k, v in changes.items() if k in CAP_FIELDS}
    locked = EvaluationRun.objects.select_for_update().get(id=run.id)
    if locked.is_active:
        raise ConflictError("The run is still in progress; wait for it to finish first.")
    if changes:
        EvaluationRun.objects.filter(id=run.id).update(**changes)
    if locked.cap_reached:
        EvaluationRun.objects.filter(id=run.id).update(cap_reached="")
    reset_leaked_reservations(run.id)
    reset = {"attempts": 0, "finished_at": None, "lease_expires_at": None}
    recalled = RunTask.objects.filter(run_id=run.id, status=TaskStatus.FAILED).update(
        status=TaskStatus.PENDING, error="", rescore=False, **reset
    )
    failed_result = MetricResult.objects.filter(task_id=OuterRef("pk")).exclude(
        error_description=""
    )
    rescored = (
        RunTask.objects.filter(run_id=run.id, status=TaskStatus.SUCCEEDED)
        .filter(Exists(failed_result))
        .update(status=TaskStatus.PENDING, rescore=True, **reset)
    )
    if not recalled and not rescored:
        raise ConflictError("No failed tasks to rerun.", code="no_failed_tasks")
    EvaluationRun.objects.reopen(
        run.id,
        mode=locked.mode,
        failed_tasks=max(0, locked.failed_tasks - recalled),
        succeeded_tasks=max(0, locked.succeeded_tasks - rescored),
    )
    run_id = run.id
    transaction.on_commit(lambda: enqueue_drainers(run_id))
    run.refresh_from_db()
    return run


@sql.retry_on_deadlock(attempts=12, pause=0.1)  # drainers hold row locks: runs.engine.sql
@transaction.atomic
def run_delete(*, run: EvaluationRun) -> None:
    """Cancel if needed, then remove the run and everything under it (bulk deletes: a run
    can hold hundreds of thousands of rows)."""
    locked = EvaluationRun.objects.select_for_update().filter(id=run.id).first()
    if locked is None:
        return
    if locked.is_active:
        EvaluationRun.objects.abandon(run.id)
    run_param = sql.uuid_param(run.id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {sql.table(EvaluationRun)} SET star_binding_id = NULL WHERE id = %s",  # noqa: S608
            [run_param],
        )
        # Tasks first: on PostgreSQL this waits for drainers holding rows of the run, and
        # the statements after it then see (and remove) whatever they committed.
        cursor.execute(
            f"DELETE FROM {sql.table(RunTask)} WHERE run_id = %s",  # noqa: S608
            [run_param],
        )
        cursor.execute(
            f"DELETE FROM {sql.table(MetricResult)} WHERE binding_id IN "  # noqa: S608
            f"(SELECT id FROM {sql.table(MetricBinding)} WHERE run_id = %s)",
            [run_param],
        )
        # A model evaluation run's record (runs.model_evaluations) goes with it.
        for model in (MetricBinding, RunEntry, ModelEvaluationRun):
            cursor.execute(
                f"DELETE FROM {sql.table(model)} WHERE run_id = %s",  # noqa: S608
                [run_param],
            )
        cursor.execute(
            f"DELETE FROM {sql.table(EvaluationRun)} WHERE id = %s",  # noqa: S608
            [run_param],
        )


# --- prices and run defaults ---------------------------------------------------------------


def model_price_set(*, project, model: str, input_per_million, output_per_million):
    """Set the project's price of ``model`` (USD per million tokens); it wins over the
    shipped list. Raises ValidationError for a bad name or price."""
    import math

    from runs.models import ModelPrice

    errors: dict[str, list[str]] = {}
    name = (model or "").strip()
    if not name or len(name) > 200:
        errors["model"] = ["Name the model (at most 200 characters)."]
    prices = {}
    for field_name, value in (
        ("input_per_million", input_per_million),
        ("output_per_million", output_per_million),
    ):
        try:
            number = float(str(value).strip().lstrip("$"))
            if not math.isfinite(number) or number < 0 or number > 1e6:
                raise ValueError
            prices[field_name] = number
        except (TypeError, ValueError):
            errors[field_name] = ["A price in US dollars per million tokens (0 or more)."]
    if errors:
        raise ValidationError(errors)
    price, _ = ModelPrice.objects.update_or_create(
        project=project, model=name, defaults={**prices, "updated_at": timezone.now()}
    )
    return price


def model_price_delete(*, project, price_id) -> None:
    """Remove the project's own price (the shipped one, if any, applies again)."""
    from runs.models import ModelPrice

    ModelPrice.objects.filter(project=project, id=price_id).delete()


def run_defaults_update(*, project, caps: dict):
    """The project's default caps for new runs (empty: no default)."""
    from runs.models import ProjectRunDefaults

    clean = clean_run_options({k: caps.get(k) for k in CAP_FIELDS}, partial=True)
    defaults, _ = ProjectRunDefaults.objects.update_or_create(
        project=project, defaults={name: clean.get(name) for name in CAP_FIELDS}
    )
    return defaults
