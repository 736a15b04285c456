"""The project's model prices and default run caps: everyone in the project reads them,
project admins change them (the same services as the admin site)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from projects.access import can
from projects.models import Role
from runs import services
from runs.options import CAP_FIELDS, project_defaults
from runs.pricing import effective_prices, shipped_price_list
from runs.views.common import project_or_404


def _context(project, request, *, errors=None, form=None) -> dict:
    return {
        "project": project,
        "prices": effective_prices(project.id),
        "as_of": shipped_price_list()["as_of"],
        "defaults": project_defaults(project),
        "can_admin": can(request.user, project, Role.ADMIN),
        "errors": errors or {},
        "form": form or {},
    }


@require_http_methods(["GET", "POST"])
def prices_page(request: HttpRequest, project_id) -> HttpResponse:
    project = project_or_404(request, project_id)
    if request.method == "GET":
        return render(request, "runs/prices.html", _context(project, request))
    project = project_or_404(request, project_id, role=Role.ADMIN)
    action = request.POST.get("action")
    try:
        if action == "set":
            price = services.model_price_set(
                project=project,
                model=request.POST.get("model", ""),
                input_per_million=request.POST.get("input_per_million"),
                output_per_million=request.POST.get("output_per_million"),
            )
            messages.success(request, f"Price of {price.model} saved.")
        elif action == "delete":
            services.model_price_delete(project=project, price_id=request.POST.get("price_id"))
            messages.success(request, "Project price removed.")
        elif action == "defaults":
            services.run_defaults_update(
                project=project, caps={k: request.POST.get(k, "") for k in CAP_FIELDS}
            )
            messages.success(request, "Default caps saved.")
    except (ValidationError, ValueError) as exc:
        errors = exc.message_dict if hasattr(exc, "message_dict") else {"__all__": [str(exc)]}
        context = _context(project, request, errors=errors, form=request.POST)
        return render(request, "runs/prices.html", context, status=400)
    return redirect("runs:prices", project.pk)
