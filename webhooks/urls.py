from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("", views.webhook_settings, name="settings"),
    path("<uuid:endpoint_id>/test/", views.webhook_send_test, name="send_test"),
    path("<uuid:endpoint_id>/toggle/", views.webhook_toggle, name="toggle"),
    path("<uuid:endpoint_id>/delete/", views.webhook_delete, name="delete"),
]
