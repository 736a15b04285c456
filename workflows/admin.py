from django.contrib import admin

from workflows.configs import public_config
from workflows.models import Workflow, WorkflowVersion


class WorkflowVersionInline(admin.TabularInline):
    model = WorkflowVersion
    fields = ("number", "content_hash", "created_by", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "kind", "created_by", "created_at", "deleted_at")
    list_filter = ("kind", ("deleted_at", admin.EmptyFieldListFilter), "project")
    search_fields = ("name", "description", "project__name")
    readonly_fields = ("id", "kind", "created_at")
    inlines = [WorkflowVersionInline]


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(admin.ModelAdmin):
    """Read-only: versions are immutable and their secrets are never shown."""

    list_display = ("workflow", "number", "content_hash", "created_by", "created_at")
    list_filter = ("workflow__kind",)
    search_fields = ("workflow__name", "content_hash")
    fields = ("id", "workflow", "number", "shown_config", "inputs", "outputs", "content_hash")
    readonly_fields = fields

    @admin.display(description="config (secrets masked)")
    def shown_config(self, obj):
        return public_config(obj.config)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
