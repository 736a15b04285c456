from django.contrib import admin
from django.db import models

from webhooks.models import WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("url", "project", "events", "is_active", "created_at")
    list_filter = ("is_active", "project")
    search_fields = ("url", "description")
    exclude = ("secret_encrypted",)  # never shown back
    readonly_fields = ("created_by", "created_at")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "event",
        "endpoint",
        "status",
        "attempts",
        "max_attempts",
        "response_code",
        "created_at",
        "last_attempt_at",
    )
    list_filter = ("status", "event")
    search_fields = ("endpoint__url", "event_id")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
