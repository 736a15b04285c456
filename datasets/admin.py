from django.contrib import admin

from datasets.models import Dataset, DatasetItem, DatasetVersion


class DatasetVersionInline(admin.TabularInline):
    model = DatasetVersion
    fields = ("number", "status", "row_count", "released_at", "is_trace_shaped")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "created_by", "created_at", "updated_at")
    list_filter = ("project",)
    search_fields = ("name", "description", "project__name")
    readonly_fields = ("id", "created_at", "updated_at")
    inlines = [DatasetVersionInline]


@admin.register(DatasetVersion)
class DatasetVersionAdmin(admin.ModelAdmin):
    """Read-mostly: edits go through the services (released versions are immutable)."""

    list_display = ("dataset", "number", "status", "row_count", "is_trace_shaped", "released_at")
    list_filter = ("status", "is_trace_shaped", "dataset__project")
    search_fields = ("dataset__name", "checksum")
    list_select_related = ("dataset",)
    readonly_fields = (
        "id",
        "dataset",
        "number",
        "status",
        "columns",
        "row_count",
        "checksum",
        "is_trace_shaped",
        "based_on",
        "created_by",
        "created_at",
        "released_by",
        "released_at",
    )

    def has_add_permission(self, request):
        return False


@admin.register(DatasetItem)
class DatasetItemAdmin(admin.ModelAdmin):
    list_display = ("position", "version", "id")
    list_filter = ("version__status",)
    search_fields = ("=id", "version__dataset__name")
    list_select_related = ("version", "version__dataset")
    readonly_fields = ("id", "version", "position", "data")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
