from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from projects import services
from projects.access import project_for_user, projects_for_user
from projects.forms import ApiKeyForm, ProjectForm
from projects.models import ApiKey

LAST_PROJECT_SESSION_KEY = "evalsite_last_project"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    projects = projects_for_user(request.user)
    last = request.session.get(LAST_PROJECT_SESSION_KEY)
    project = (last and projects.filter(pk=last).first()) or projects.first()
    if project is None:
        return redirect("project_create")
    return redirect("runs:list", project_id=project.pk)


@login_required
def project_detail(request: HttpRequest, project_id) -> HttpResponse:
    project = project_for_user(request.user, project_id)
    return redirect("runs:list", project_id=project.pk)


@login_required
def project_switch(request: HttpRequest) -> HttpResponse:
    project = project_for_user(request.user, request.GET.get("project", ""))
    request.session[LAST_PROJECT_SESSION_KEY] = str(project.pk)
    return redirect("runs:list", project_id=project.pk)


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                owner=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Project {project.name} created.")
            return redirect("runs:list", project_id=project.pk)
    has_projects = projects_for_user(request.user).exists()
    return render(
        request, "projects/project_form.html", {"form": form, "has_projects": has_projects}
    )


@login_required
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            _, new_key = services.api_key_create(user=request.user, name=form.cleaned_data["name"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            form = ApiKeyForm()
    keys = ApiKey.objects.filter(user=request.user)
    response = render(
        request,
        "projects/api_keys.html",
        {
            "form": form,
            "keys": keys,
            "new_key": new_key,
            "projects": projects_for_user(request.user),
        },
    )
    if new_key:
        response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def api_key_revoke(request: HttpRequest, key_id) -> HttpResponse:
    api_key = get_object_or_404(ApiKey, pk=key_id, user=request.user)
    services.api_key_revoke(api_key=api_key)
    messages.success(request, f"Key {api_key.name} revoked.")
    return redirect(reverse("api_keys"))


def placeholder(request: HttpRequest, project_id, *, area: str, text: str) -> HttpResponse:
    """An area a later release fills in; it says what will appear there."""
    project = project_for_user(request.user, project_id)
    return render(
        request, "area_placeholder.html", {"project": project, "area": area, "text": text}
    )
