from django.contrib import admin

from traces.models import TraceItem


@admin.register(TraceItem)
class TraceItemAdmin(admin.ModelAdmin):
    list_display = ("trace_id", "version", "span_count", "created_at", "updated_at")
    search_fields = ("trace_id",)
    raw_id_fields = ("version", "item")
    readonly_fields = ("version", "item", "trace_id", "span_count", "created_at", "updated_at")
