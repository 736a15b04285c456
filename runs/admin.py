"""Operators' view of runs. Tasks and results are read-only (the engine owns them); deleting
a run goes through ``run_delete`` (bulk, cancels first)."""

from __future__ import annotations

from django.contrib import admin

from runs import services
from runs.models import (
    CallCache,
    EvaluationRun,
    EvaluationTestCase,
    EvaluationTestCaseVersion,
    MetricBinding,
    MetricResult,
    ModelEvaluationPreset,
    ModelEvaluationRun,
    ModelPrice,
    ProjectRunDefaults,
    RunEntry,
    RunTask,
    WorkerHeartbeat,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RunEntryInline(admin.TabularInline):
    model = RunEntry
    extra = 0
    fields = ("position", "workflow_version", "input_selector")
    readonly_fields = fields
    can_delete = False
    show_change_link = True


class MetricBindingInline(admin.TabularInline):
    model = MetricBinding
    extra = 0
    fields = ("position", "entry", "metric_version", "input_selector")
    readonly_fields = fields
    can_delete = False


@admin.register(EvaluationRun)
class EvaluationRunAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "project",
        "status",
        "mode",
        "phase",
        "done_tasks",
        "total_tasks",
        "failed_tasks",
        "metric_errors",
        "pass_status",
        "started_by",
        "queued_at",
        "finished_at",
    )
    list_filter = ("status", "mode", "phase", "pass_status", "project")
    search_fields = ("name", "id", "project__name", "dataset_version__dataset__name")
    date_hierarchy = "queued_at"
    list_select_related = ("project", "started_by")
    inlines = (RunEntryInline, MetricBindingInline)
    readonly_fields = (
        "id",
        "project",
        "dataset_version",
        "mode",
        "status",
        "phase",
        "started_by",
        "queued_at",
        "started_at",
        "finished_at",
        "last_progress_at",
        "error_description",
        "config",
        "star_binding",
        "star_threshold",
        "pass_status",
        "total_tasks",
        "succeeded_tasks",
        "failed_tasks",
        "canceled_tasks",
        "metric_errors",
        "summaries",
        "test_case",
        "test_case_version",
        "idempotency_key",
    )
    actions = ("cancel_runs", "rerun_failed")

    def has_add_permission(self, request):
        return False  # runs start through the UI or the API (validation, pinning, enqueue)

    @admin.action(description="Cancel selected runs")
    def cancel_runs(self, request, queryset):
        for run in queryset.filter(status__in=("pending", "running")):
            services.run_cancel(run=run)

    @admin.action(description="Rerun what failed in selected runs (agent calls, metric results)")
    def rerun_failed(self, request, queryset):
        for run in queryset:
            if run.can_rerun:
                services.run_rerun(run=run)

    def delete_model(self, request, obj):
        services.run_delete(run=obj)

    def delete_queryset(self, request, queryset):
        for run in queryset:
            services.run_delete(run=run)


@admin.register(RunTask)
class RunTaskAdmin(ReadOnlyAdmin):
    list_display = ("id", "run", "position", "status", "attempts", "latency_ms", "finished_at")
    list_filter = ("status",)
    search_fields = ("=run__id", "run__name", "error")
    raw_id_fields = ("run", "entry", "item")
    list_select_related = ("run",)
    show_full_result_count = False


@admin.register(MetricResult)
class MetricResultAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "run",
        "task",
        "binding",
        "number_value",
        "string_value",
        "error_description",
    )
    search_fields = ("=run__id", "error_description")
    raw_id_fields = ("run", "task", "binding")
    list_select_related = ("run",)
    show_full_result_count = False


@admin.register(RunEntry)
class RunEntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "run", "position", "workflow_version")
    search_fields = ("=run__id", "run__name")
    raw_id_fields = ("run", "workflow_version")


@admin.register(MetricBinding)
class MetricBindingAdmin(ReadOnlyAdmin):
    list_display = ("id", "run", "position", "metric_version")
    search_fields = ("=run__id", "run__name")
    raw_id_fields = ("run", "entry", "metric_version")


class TestCaseVersionInline(admin.TabularInline):
    model = EvaluationTestCaseVersion
    extra = 0
    fields = ("version", "snapshot", "created_by", "created_at")
    readonly_fields = fields
    can_delete = False


@admin.register(EvaluationTestCase)
class EvaluationTestCaseAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "dataset", "version", "created_by", "updated_at")
    list_filter = ("project",)
    search_fields = ("name", "description", "id")
    readonly_fields = ("id", "version", "created_by", "created_at", "updated_at")
    inlines = (TestCaseVersionInline,)


@admin.register(EvaluationTestCaseVersion)
class EvaluationTestCaseVersionAdmin(ReadOnlyAdmin):
    list_display = ("test_case", "version", "created_by", "created_at")
    search_fields = ("test_case__name",)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    """Which worker processes did engine work lately (see /healthz)."""

    list_display = ["worker", "source", "beaten_at"]
    ordering = ["-beaten_at"]


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    """A project's own prices (USD per million tokens); they win over the shipped list in
    ``runs/data/model_prices.json``."""

    list_display = ("model", "project", "input_per_million", "output_per_million", "updated_at")
    list_filter = ("project",)
    search_fields = ("model",)


@admin.register(ProjectRunDefaults)
class ProjectRunDefaultsAdmin(admin.ModelAdmin):
    list_display = ("project", "max_agent_calls", "max_judge_calls", "max_tokens", "max_cost")


@admin.register(CallCache)
class CallCacheAdmin(ReadOnlyAdmin):
    list_display = ("key", "kind", "cost", "created_at")
    list_filter = ("kind",)
    exclude = ("payload",)  # agent answers: untrusted, possibly large


@admin.register(ModelEvaluationPreset)
class ModelEvaluationPresetAdmin(ReadOnlyAdmin):
    """Presets are saved by ``create_model_evaluation_run``; operators read or delete them."""

    list_display = ("name", "project", "candidate_workflow", "dataset", "created_at")
    list_filter = ("project",)
    search_fields = ("name",)


@admin.register(ModelEvaluationRun)
class ModelEvaluationRunAdmin(ReadOnlyAdmin):
    """The Gradient model-evaluation record of a run (the run itself is under Evaluation
    runs, where deleting it removes this too)."""

    list_display = ("run", "candidate_model_name", "candidate_model_source", "preset", "source")
    search_fields = ("candidate_model_name",)

    def has_delete_permission(self, request, obj=None):
        return False
