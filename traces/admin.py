from django.contrib import admin

from traces.models import Monitor, MonitorAlert, TraceItem


@admin.register(TraceItem)
class TraceItemAdmin(admin.ModelAdmin):
    list_display = ("trace_id", "version", "span_count", "created_at", "updated_at")
    search_fields = ("trace_id",)
    raw_id_fields = ("version", "item")
    readonly_fields = ("version", "item", "trace_id", "span_count", "created_at", "updated_at")


class MonitorAlertInline(admin.TabularInline):
    model = MonitorAlert
    extra = 0
    can_delete = False
    fields = ("created_at", "run_name", "message", "webhook_event_id")
    readonly_fields = fields


@admin.register(Monitor)
class MonitorAdmin(admin.ModelAdmin):
    """Operators pause or resume monitors here; their configuration is edited (and checked)
    on the Monitors page."""

    list_display = ("name", "project", "dataset", "interval_minutes", "period", "is_active")
    list_filter = ("is_active", "period")
    search_fields = ("name",)
    raw_id_fields = ("project", "dataset", "created_by")
    readonly_fields = (
        "project",
        "dataset",
        "name",
        "metrics",
        "star_metric_id",
        "star_threshold",
        "interval_minutes",
        "period",
        "settle_seconds",
        "scores_from",
        "watermark",
        "next_tick_at",
        "last_tick_at",
        "last_error",
        "created_by",
        "created_at",
        "updated_at",
    )
    inlines = [MonitorAlertInline]

    def save_model(self, request, obj, form, change):
        from traces.monitors import ensure_schedule

        super().save_model(request, obj, form, change)
        ensure_schedule()


@admin.register(MonitorAlert)
class MonitorAlertAdmin(admin.ModelAdmin):
    list_display = ("created_at", "monitor", "run_name", "mean", "threshold", "webhook_event_id")
    list_filter = ("monitor",)
    readonly_fields = (
        "monitor",
        "run_id",
        "run_name",
        "metric_name",
        "mean",
        "threshold",
        "scored_rows",
        "message",
        "webhook_event_id",
        "created_at",
    )
