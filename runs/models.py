"""Evaluation runs: the frozen plan (entries and metric bindings), one task per dataset row
and entry, one result per task and metric binding, and saved test cases.

The engine (``runs.engine``) moves rows between states with conditional updates only; these
models hold the state and the behaviour of a single instance.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    CANCELLING = "cancelling", "Cancelling"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIALLY_SUCCEEDED = "partially_succeeded", "Partially succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


ACTIVE_RUN_STATUSES = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.CANCELLING)
FINISHED_RUN_STATUSES = (
    RunStatus.SUCCEEDED,
    RunStatus.PARTIALLY_SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.CANCELED,
)


class RunMode(models.TextChoices):
    WITH_WORKFLOW = "with_workflow", "With workflow"
    DATASET_ONLY = "dataset_only", "Dataset only"


class RunPhase(models.TextChoices):
    PLANNING = "planning", "Planning"
    RUNNING_DATASET = "running_dataset", "Running dataset"
    EVALUATING_RESULTS = "evaluating_results", "Evaluating results"
    FINISHED = "finished", "Finished"

    @classmethod
    def working(cls, mode: str) -> RunPhase:
        """The phase of a running run: calling workflows, or only scoring stored rows."""
        return cls.RUNNING_DATASET if mode == RunMode.WITH_WORKFLOW else cls.EVALUATING_RESULTS


class TaskStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CLAIMED = "claimed", "Claimed"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


class EvaluationTestCase(models.Model):
    """A saved, versioned run template (the Gradient dialect's unit of evaluation)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="evaluation_test_cases"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    dataset = models.ForeignKey(
        "datasets.Dataset",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="evaluation_test_cases",
    )
    metrics = models.JSONField(default=list, blank=True, help_text="List of metric ids.")
    star_metric = models.JSONField(null=True, blank=True)
    run_options = models.JSONField(
        default=dict,
        blank=True,
        help_text="repetitions, max_agent_calls, max_judge_calls, max_tokens, max_cost, "
        "cache_agent_calls, cache_judge_calls for the runs it starts.",
    )
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "created_at"]
        indexes = [models.Index(fields=["project", "name"])]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def snapshot(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "dataset_id": str(self.dataset_id) if self.dataset_id else None,
            "metrics": list(self.metrics),
            "star_metric": self.star_metric,
            "run_options": dict(self.run_options or {}),
        }


class EvaluationTestCaseVersion(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    test_case = models.ForeignKey(
        EvaluationTestCase, on_delete=models.CASCADE, related_name="versions"
    )
    version = models.PositiveIntegerField()
    snapshot = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["test_case", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["test_case", "version"], name="test_case_version")
        ]

    def __str__(self) -> str:
        return f"{self.test_case_id} v{self.version}"


class EvaluationRunQuerySet(models.QuerySet):
    """Every change of a run's status, each a conditional update on the status it leaves.

    Each method returns True only when this call made the move, so concurrent callers (two
    drainers, the sweeper, a user's cancel) can never both perform the same transition.
    """

    def _move(self, run_id, leaving, **fields) -> bool:
        return bool(self.filter(id=run_id, status__in=list(leaving)).update(**fields))

    def start(self, run_id, *, mode: str, total_tasks: int, now=None) -> bool:
        """pending -> running, once planned."""
        now = now or timezone.now()
        return self._move(
            run_id,
            [RunStatus.PENDING],
            status=RunStatus.RUNNING,
            phase=RunPhase.working(mode),
            started_at=now,
            last_progress_at=now,
            total_tasks=total_tasks,
        )

    def fail(self, run_id, *, error: str) -> bool:
        """pending -> failed: the run could not even be planned."""
        return self._move(
            run_id,
            [RunStatus.PENDING],
            status=RunStatus.FAILED,
            phase=RunPhase.FINISHED,
            finished_at=timezone.now(),
            error_description=error[:2000],
        )

    def cancel_pending(self, run_id) -> bool:
        """pending -> canceled at once (no task exists yet)."""
        return self._move(
            run_id,
            [RunStatus.PENDING],
            status=RunStatus.CANCELED,
            phase=RunPhase.FINISHED,
            finished_at=timezone.now(),
            error_description="Canceled before any row ran.",
        )

    def evaluate_results(self, run_id) -> bool:
        """running (calling agents) -> running (scoring): every agent call has returned, what
        is left is the run-level summaries (Gradient's EVALUATION_RUN_EVALUATING_RESULTS).
        Only the phase moves, and only on a running run still in its agent-calling phase."""
        return bool(
            self.filter(id=run_id, status=RunStatus.RUNNING, phase=RunPhase.RUNNING_DATASET).update(
                phase=RunPhase.EVALUATING_RESULTS
            )
        )

    def request_cancel(self, run_id) -> bool:
        """running -> cancelling; the engine finishes it once in-flight rows settle."""
        return self._move(run_id, [RunStatus.RUNNING], status=RunStatus.CANCELLING)

    def finish(self, run_id, *, leaving: str, status: str, now=None, **fields) -> bool:
        """running/cancelling -> a finished status, with the final counters and summaries."""
        if status not in FINISHED_RUN_STATUSES or leaving not in (
            RunStatus.RUNNING,
            RunStatus.CANCELLING,
        ):
            raise ValueError(f"Not a finishing transition: {leaving} -> {status}.")
        now = now or timezone.now()
        return self._move(
            run_id,
            [leaving],
            status=status,
            phase=RunPhase.FINISHED,
            finished_at=now,
            last_progress_at=now,
            **fields,
        )

    def reopen(self, run_id, *, mode: str, now=None, **fields) -> bool:
        """A finished run -> running again (rerun of its failed parts)."""
        now = now or timezone.now()
        return self._move(
            run_id,
            FINISHED_RUN_STATUSES,
            status=RunStatus.RUNNING,
            phase=RunPhase.working(mode),
            finished_at=None,
            pass_status=None,
            error_description="",
            last_progress_at=now,
            **fields,
        )

    def abandon(self, run_id) -> bool:
        """Any active status -> canceled at once (the run is being deleted)."""
        return self._move(
            run_id,
            ACTIVE_RUN_STATUSES,
            status=RunStatus.CANCELED,
            phase=RunPhase.FINISHED,
            finished_at=timezone.now(),
        )


class EvaluationRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="evaluation_runs"
    )
    name = models.CharField(max_length=200)
    dataset_version = models.ForeignKey(
        "datasets.DatasetVersion", on_delete=models.PROTECT, related_name="evaluation_runs"
    )
    mode = models.CharField(max_length=20, choices=RunMode.choices)
    status = models.CharField(max_length=24, choices=RunStatus.choices, default=RunStatus.PENDING)
    phase = models.CharField(max_length=24, choices=RunPhase.choices, default=RunPhase.PLANNING)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_progress_at = models.DateTimeField(
        null=True, blank=True, help_text="Last time a drainer wrote a batch (sweeper heartbeat)."
    )
    error_description = models.TextField(blank=True, default="")
    config = models.JSONField(default=list, help_text="The frozen config; secrets excluded.")
    star_binding = models.ForeignKey(
        "MetricBinding", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    star_threshold = models.FloatField(null=True, blank=True)
    pass_status = models.BooleanField(null=True, blank=True)
    total_tasks = models.IntegerField(default=0)
    succeeded_tasks = models.IntegerField(default=0)
    failed_tasks = models.IntegerField(default=0)
    canceled_tasks = models.IntegerField(default=0)
    metric_errors = models.IntegerField(
        default=0,
        db_default=0,
        help_text="Metric results that could not be computed on rows whose agent call "
        "succeeded (set when the run finishes).",
    )
    summaries = models.JSONField(default=dict, blank=True)
    test_case = models.ForeignKey(
        EvaluationTestCase,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="evaluation_runs",
    )
    test_case_version = models.PositiveIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    # Repetitions: each row x entry is executed this many times (one task per trial).
    repetitions = models.PositiveSmallIntegerField(default=1, db_default=1)
    # Caps (None: no cap). See runs.budget for the reservation rule.
    max_agent_calls = models.PositiveIntegerField(null=True, blank=True)
    max_judge_calls = models.PositiveIntegerField(null=True, blank=True)
    max_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    max_cost = models.FloatField(null=True, blank=True, help_text="US dollars.")
    cache_agent_calls = models.BooleanField(default=False, db_default=False)
    cache_judge_calls = models.BooleanField(default=True, db_default=True)
    # Spent (settled) and reserved (in flight) budget; moved by runs.budget only.
    agent_calls = models.IntegerField(default=0, db_default=0)
    judge_calls = models.IntegerField(default=0, db_default=0)
    tokens_used = models.BigIntegerField(default=0, db_default=0)
    cost_used = models.FloatField(default=0.0, db_default=0.0)
    reserved_agent_calls = models.IntegerField(default=0, db_default=0)
    reserved_judge_calls = models.IntegerField(default=0, db_default=0)
    reserved_tokens = models.BigIntegerField(default=0, db_default=0)
    reserved_cost = models.FloatField(default=0.0, db_default=0.0)
    # The largest tokens / cost one row (its agent call and judge calls) has used so far:
    # the worst-case reservation of the next rows. None until a row has settled.
    row_tokens_peak = models.BigIntegerField(null=True, blank=True)
    row_cost_peak = models.FloatField(null=True, blank=True)
    cap_reached = models.CharField(
        max_length=20, blank=True, default="", db_default="", help_text="The cap that stopped it."
    )
    cached_calls = models.IntegerField(default=0, db_default=0)
    cached_cost_saved = models.FloatField(default=0.0, db_default=0.0)
    # SHA-256 of the request that first used ``idempotency_key``: the same key with another
    # body is refused (HTTP 422) instead of answering with this run.
    idempotency_fingerprint = models.CharField(max_length=64, blank=True, default="")

    objects = EvaluationRunQuerySet.as_manager()

    class Meta:
        ordering = ["-queued_at"]
        indexes = [
            models.Index(fields=["project", "-queued_at"], name="run_project_queued"),
            models.Index(fields=["status"], name="run_status"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="run_unique_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_RUN_STATUSES

    @property
    def is_dataset_only(self) -> bool:
        return self.mode == RunMode.DATASET_ONLY

    @property
    def done_tasks(self) -> int:
        return self.succeeded_tasks + self.failed_tasks + self.canceled_tasks

    @property
    def progress(self) -> float:
        if self.is_finished:
            return 1.0
        if not self.total_tasks:
            return 0.0
        return min(1.0, self.done_tasks / self.total_tasks)

    @property
    def can_cancel(self) -> bool:
        return self.status in (RunStatus.PENDING, RunStatus.RUNNING)

    @property
    def can_rerun(self) -> bool:
        return self.is_finished and (self.failed_tasks > 0 or self.metric_errors > 0)

    @property
    def can_download(self) -> bool:
        return self.is_finished


class RunEntry(models.Model):
    """One element of the run's config: an optional pinned workflow version and its input
    mapping. Metric bindings hang off entries."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(EvaluationRun, on_delete=models.CASCADE, related_name="entries")
    position = models.PositiveIntegerField(default=0)
    workflow_version = models.ForeignKey(
        "workflows.WorkflowVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="run_entries",
    )
    input_selector = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "run entries"
        ordering = ["run_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="run_entry_position")
        ]

    def __str__(self) -> str:
        return f"entry {self.position} of {self.run_id}"


class MetricBinding(models.Model):
    """A pinned metric version with the selectors feeding its inputs. ``position`` orders the
    metric columns of the whole run."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(EvaluationRun, on_delete=models.CASCADE, related_name="bindings")
    entry = models.ForeignKey(RunEntry, on_delete=models.CASCADE, related_name="bindings")
    position = models.PositiveIntegerField(default=0)
    metric_version = models.ForeignKey(
        "metrics.MetricVersion", on_delete=models.PROTECT, related_name="run_bindings"
    )
    input_selector = models.JSONField(default=dict, blank=True)
    # Set: the metric scores each span of this type (TRACE_SPAN_TYPE_*) in the row's trace,
    # one traces.SpanMetricResult per span; the row result is their mean.
    span_type = models.CharField(max_length=40, null=True, blank=True)

    class Meta:
        ordering = ["run_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="run_binding_position")
        ]

    def __str__(self) -> str:
        return f"binding {self.position} of {self.run_id}"


class RunTask(models.Model):
    """One dataset row through one entry. Status moves by conditional updates only.

    ``status`` is the row's workflow outcome (the agent call; in dataset-only runs, reading
    the row): succeeded even when some of its metrics could not compute, which is recorded
    on those metric results alone."""

    id = models.BigAutoField(primary_key=True)
    # The run and entry FKs are covered by the composite unique/index below.
    run = models.ForeignKey(
        EvaluationRun, on_delete=models.CASCADE, related_name="tasks", db_index=False
    )
    entry = models.ForeignKey(
        RunEntry, on_delete=models.CASCADE, related_name="tasks", db_index=False
    )
    item = models.ForeignKey(
        "datasets.DatasetItem", on_delete=models.PROTECT, related_name="run_tasks"
    )
    position = models.IntegerField(help_text="The dataset item's position.")
    trial = models.PositiveSmallIntegerField(
        default=0, db_default=0, help_text="Which repetition of the row (0-based)."
    )
    status = models.CharField(max_length=12, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    attempts = models.IntegerField(default=0)
    lease_owner = models.CharField(max_length=64, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    input_tokens = models.IntegerField(null=True, blank=True)
    output_tokens = models.IntegerField(null=True, blank=True)
    chunks = models.JSONField(default=list, blank=True)
    spans = models.JSONField(default=list, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(
        blank=True, default="", help_text="Why the agent call (or the row itself) failed."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    rescore = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Pending again only to re-score failed metric results from the stored "
        "outputs (a rerun): the agent is not called.",
    )
    cost = models.FloatField(null=True, blank=True, help_text="The agent call's cost (USD).")
    cached = models.BooleanField(
        default=False, db_default=False, help_text="The agent's answer came from the call cache."
    )

    class Meta:
        # Column names, not relations: ordering by "run" would join and sort by the run's
        # own ordering on every query of 100,000 rows.
        ordering = ["run_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "entry", "item", "trial"], name="run_task_unique_trial"
            )
        ]
        indexes = [
            # Claims and progress counts: WHERE run_id = ? AND status = ? ORDER BY id.
            models.Index(fields=["run", "status", "id"], name="run_task_claim"),
            # Results pages: keyset over (position, id) within a run.
            models.Index(fields=["run", "position", "id"], name="run_task_position"),
            # The sweeper only looks at claimed rows: a tiny partial index.
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(status="claimed"),
                name="run_task_lease",
            ),
            # Reruns: a drainer asks once whether the run has rows to re-score.
            models.Index(fields=["run"], condition=models.Q(rescore=True), name="run_task_rescore"),
        ]

    def __str__(self) -> str:
        return f"task {self.pk} ({self.status})"


class MetricResult(models.Model):
    """Exactly one per (task, binding): written by upsert, never by plain insert."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(
        EvaluationRun, on_delete=models.CASCADE, related_name="results", db_index=False
    )
    task = models.ForeignKey(
        RunTask, on_delete=models.CASCADE, related_name="results", db_index=False
    )
    binding = models.ForeignKey(
        MetricBinding, on_delete=models.CASCADE, related_name="results", db_index=False
    )
    number_value = models.FloatField(null=True, blank=True)
    string_value = models.TextField(null=True, blank=True)
    reasoning = models.TextField(blank=True, default="")
    error_description = models.TextField(blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    cost = models.FloatField(
        null=True, blank=True, help_text="The judge call's cost (USD); None for other metrics."
    )

    class Meta:
        ordering = ["task_id", "binding_id"]
        constraints = [
            models.UniqueConstraint(fields=["task", "binding"], name="metric_result_unique")
        ]
        indexes = [
            # Summaries per binding and results sorted by a metric's value.
            models.Index(fields=["binding", "number_value"], name="metric_result_value"),
        ]

    def __str__(self) -> str:
        return f"result {self.pk}"

    @property
    def is_error(self) -> bool:
        return bool(self.error_description)


class ModelPrice(models.Model):
    """A project's price of one model, in US dollars per million tokens, on top of the list
    shipped in ``runs/data/model_prices.json`` (runs.pricing)."""

    id = models.BigAutoField(primary_key=True)
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="model_prices"
    )
    model = models.CharField(max_length=200, help_text="The model name as the calls send it.")
    input_per_million = models.FloatField(help_text="USD per million input (prompt) tokens.")
    output_per_million = models.FloatField(help_text="USD per million output tokens.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project_id", "model"]
        constraints = [
            models.UniqueConstraint(fields=["project", "model"], name="model_price_unique")
        ]

    def __str__(self) -> str:
        return self.model


class ProjectRunDefaults(models.Model):
    """A project's default run options: caps and cache choices a new run starts from."""

    project = models.OneToOneField(
        "projects.Project", on_delete=models.CASCADE, primary_key=True, related_name="run_defaults"
    )
    max_agent_calls = models.PositiveIntegerField(null=True, blank=True)
    max_judge_calls = models.PositiveIntegerField(null=True, blank=True)
    max_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    max_cost = models.FloatField(null=True, blank=True, help_text="US dollars.")

    class Meta:
        verbose_name_plural = "project run defaults"

    def __str__(self) -> str:
        return f"run defaults of {self.project_id}"


class CallCache(models.Model):
    """Content-addressed answers of agent and judge calls: ``key`` hashes the pinned version
    and the exact inputs, so any version change misses."""

    key = models.CharField(max_length=64, primary_key=True)
    kind = models.CharField(max_length=8)  # "agent" | "judge"
    payload = models.JSONField(default=dict)
    cost = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.kind} {self.key[:12]}"


class WorkerHeartbeat(models.Model):
    """The last sign of life of one worker process (``host:pid``): a drainer renewing its
    leases, the sweeper, or a ping task. ``/healthz`` reads the newest of all; ``manage.py
    serve`` the newest of its own cluster's (``cluster``: the id ``serve`` gave it)."""

    worker = models.CharField(max_length=100, primary_key=True)
    source = models.CharField(max_length=20)
    beaten_at = models.DateTimeField(db_index=True)
    cluster = models.CharField(max_length=40, blank=True, default="", db_default="")

    def __str__(self) -> str:
        return f"{self.worker} ({self.source}) at {self.beaten_at:%H:%M:%S}"


class ModelEvaluationPreset(models.Model):
    """A saved model evaluation configuration (Gradient's model evaluation preset): only the
    sections listed in ``saved_sections`` were saved; the others stay empty and must be given
    inline by the runs that use it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="model_evaluation_presets"
    )
    name = models.CharField(max_length=200)
    saved_sections = models.JSONField(default=list, blank=True)
    candidate_workflow = models.ForeignKey(
        "workflows.Workflow",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="CANDIDATE: the openai_chat workflow evaluated.",
    )
    candidate_model_source = models.CharField(max_length=40, blank=True, default="")
    inference_config = models.JSONField(
        default=dict, blank=True, help_text="CANDIDATE: temperature, max_tokens, stop_token."
    )
    system_prompt = models.TextField(blank=True, default="", help_text="SYSTEM_PROMPT.")
    dataset = models.ForeignKey(
        "datasets.Dataset", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    judge_metric = models.ForeignKey(
        "metrics.Metric",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="JUDGE: the LLM-as-judge metric whose endpoint scores the responses.",
    )
    metrics = models.JSONField(default=list, blank=True, help_text="METRICS: metric ids.")
    star_metric = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "-created_at"], name="model_preset_project")]

    def __str__(self) -> str:
        return self.name


class ModelEvaluationRun(models.Model):
    """What makes an evaluation run a *model* evaluation run (Gradient's
    ``model_evaluation_runs``): the candidate model (an openai_chat workflow of the project),
    its inference configuration, the judge and the preset. The run itself is an ordinary
    ``EvaluationRun`` with one entry; the engine runs it like any other.

    No database constraint on ``run``: ``runs.services.run_delete`` removes runs with bulk
    SQL, this row among them, whichever page or API deletes the run."""

    run = models.OneToOneField(
        EvaluationRun,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="model_evaluation",
        db_constraint=False,
    )
    candidate_workflow = models.ForeignKey(
        "workflows.Workflow", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    candidate_model_name = models.CharField(max_length=200, blank=True, default="")
    candidate_model_source = models.CharField(max_length=40, blank=True, default="")
    inference_config = models.JSONField(default=dict, blank=True)
    judge_metric = models.ForeignKey(
        "metrics.Metric", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    preset = models.ForeignKey(
        ModelEvaluationPreset,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="runs",
    )
    source = models.CharField(max_length=20, blank=True, default="")
    # Gradient's result_summary, computed once the run has finished (it reads every result)
    # and kept for that finish: a rerun finishes again at another time and recomputes it.
    result_summary = models.JSONField(null=True, blank=True)
    summarized_finish = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"model evaluation {self.run_id}"
