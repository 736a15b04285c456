from django.contrib import admin

from metrics.models import Metric, MetricVersion


class MetricVersionInline(admin.TabularInline):
    model = MetricVersion
    extra = 0
    can_delete = False
    fields = ("number", "implementation", "inputs", "note", "created_by", "created_at")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Metric)
class MetricAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "project",
        "category",
        "metric_type",
        "value_type",
        "inverted",
        "rank",
        "deleted_at",
    )
    list_filter = (
        "category",
        "metric_type",
        "value_type",
        "inverted",
        ("project", admin.EmptyFieldListFilter),
    )
    search_fields = ("name", "description", "builtin_key", "project__name")
    readonly_fields = ("id", "builtin_key", "created_at", "updated_at", "created_by")
    inlines = [MetricVersionInline]


@admin.register(MetricVersion)
class MetricVersionAdmin(admin.ModelAdmin):
    """Versions are immutable: the admin shows them and never edits them. Params are not
    shown because they may hold encrypted secrets."""

    list_display = ("metric", "number", "implementation", "created_by", "created_at")
    list_filter = ("implementation",)
    search_fields = ("metric__name", "implementation", "note")
    fields = (
        "id",
        "metric",
        "number",
        "implementation",
        "inputs",
        "note",
        "created_by",
        "created_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
