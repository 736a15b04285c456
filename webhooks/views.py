"""The project's webhook settings: endpoints, their delivery log, and "Send test event".
Every member sees the endpoints and the log; only project admins add, test, disable or
delete endpoints."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from projects.access import can, project_for_user
from projects.models import Role
from webhooks import services
from webhooks.forms import EndpointForm
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.signing import HEADER

LOG_SIZE = 50


def _endpoint(request, project_id, endpoint_id):
    project = project_for_user(request.user, project_id, role=Role.ADMIN)
    return project, get_object_or_404(WebhookEndpoint, pk=endpoint_id, project=project)


@require_http_methods(["GET", "POST"])
def webhook_settings(request: HttpRequest, project_id) -> HttpResponse:
    role = Role.ADMIN if request.method == "POST" else Role.VIEWER
    project = project_for_user(request.user, project_id, role=role)
    form = EndpointForm(request.POST or None)
    new_secret = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                _, new_secret = services.endpoint_create(
                    project=project,
                    user=request.user,
                    url=form.cleaned_data["url"],
                    events=form.cleaned_data["events"],
                    description=form.cleaned_data["description"],
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form = EndpointForm()
        if form.errors:
            status = 400
    endpoints = list(WebhookEndpoint.objects.filter(project=project))
    deliveries = (
        WebhookDelivery.objects.filter(endpoint__project=project)
        .select_related("endpoint", "run")
        .order_by("-created_at")[:LOG_SIZE]
    )
    response = render(
        request,
        "webhooks/settings.html",
        {
            "project": project,
            "form": form,
            "endpoints": endpoints,
            "deliveries": deliveries,
            "new_secret": new_secret,
            "signature_header": HEADER,
            "can_admin": can(request.user, project, Role.ADMIN),
        },
        status=status,
    )
    if new_secret:
        response["Cache-Control"] = "no-store"
    return response


@require_POST
def webhook_send_test(request: HttpRequest, project_id, endpoint_id) -> HttpResponse:
    project, endpoint = _endpoint(request, project_id, endpoint_id)
    services.endpoint_send_test(endpoint=endpoint, user=request.user)
    messages.success(request, f"Test event queued for {endpoint.url}; see the delivery log.")
    return redirect("webhooks:settings", project_id=project.pk)


@require_POST
def webhook_toggle(request: HttpRequest, project_id, endpoint_id) -> HttpResponse:
    project, endpoint = _endpoint(request, project_id, endpoint_id)
    services.endpoint_set_active(endpoint=endpoint, active=not endpoint.is_active)
    return redirect("webhooks:settings", project_id=project.pk)


@require_POST
def webhook_delete(request: HttpRequest, project_id, endpoint_id) -> HttpResponse:
    project, endpoint = _endpoint(request, project_id, endpoint_id)
    services.endpoint_delete(endpoint=endpoint)
    messages.success(request, f"Endpoint {endpoint.url} deleted.")
    return redirect("webhooks:settings", project_id=project.pk)
