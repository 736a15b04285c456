"""METRICS tab: the catalogue by category with filters, create/edit (a changed definition makes
a new version), version history, and the "Try it" panel. Writes go through ``services``."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from evalsite.filters import filter_errors
from evalsite.outbound.interactive import TryRateLimited
from metrics import selectors, services
from metrics.filtersets import MetricFilterSet
from metrics.forms import MetricForm, TryForm, _initial_param, implementation_groups, parse_inputs
from metrics.judge import BUILTIN_VARIABLES, PRESETS, template_variables
from metrics.models import MetricCategory, MetricType, MetricVersion
from metrics.registry import get_implementation
from projects.access import can, project_for_user
from projects.models import Role

ORIGINS = [("", "All"), ("builtin", "Built-in"), ("project", "This project")]


def _metric(request, project, metric_id, *, role=Role.VIEWER):
    return selectors.metric_for_user(request.user, metric_id, project=project, role=role)


def _implementation(key: str):
    try:
        return get_implementation(key)
    except ValidationError:
        return get_implementation("exact_match")


def metric_list(request, project_id):
    project = project_for_user(request.user, project_id)
    filterset = MetricFilterSet(request.GET or None, selectors.metrics_for_project(project))
    filters = filterset.values()  # all empty when a value is bad (a form error below)
    metrics = list(selectors.filter_metrics(selectors.metrics_for_project(project), **filters))
    latest = selectors.latest_versions(m.pk for m in metrics)
    for metric in metrics:
        metric.latest = latest.get(metric.pk)
    template = "metrics/list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#catalogue"
    return render(
        request,
        template,
        {
            "project": project,
            "groups": selectors.group_by_category(metrics),
            "total": len(metrics),
            "filters": filters,
            "categories": MetricCategory.choices,
            "types": MetricType.choices,
            "origins": ORIGINS,
            "filter_errors": filter_errors(filterset),
            "can_edit": can(request.user, project, Role.EDITOR),
        },
    )


def _try_inputs(form, implementation) -> list[dict]:
    """The inputs the Try it panel asks for: fixed by the implementation, or as the author
    declared them so far (a judge preset's own inputs when none are declared)."""
    if not implementation.user_inputs:
        return [dict(item) for item in implementation.inputs]
    declared = parse_inputs(form["inputs"].value() or "") if "inputs" in form.fields else []
    if declared:
        return declared
    preset = form["param_preset"].value() if "param_preset" in form.fields else None
    if preset in PRESETS:
        return [dict(item) for item in PRESETS[preset]["inputs"]]
    prompt = form["param_prompt"].value() if "param_prompt" in form.fields else ""
    return [
        {"name": v, "description": "", "required": True}
        for v in template_variables(prompt or "")
        if v not in BUILTIN_VARIABLES
    ]


def _try_form(form, implementation, data=None) -> TryForm:
    draft = MetricVersion(
        implementation=implementation.key, inputs=_try_inputs(form, implementation)
    )
    return TryForm(data, version=draft)


def _form_context(project, form, implementation, *, metric=None) -> dict:
    prompt = form["param_prompt"].value() if "param_prompt" in form.fields else ""
    return {
        "try_form": _try_form(form, implementation),
        "live_try": not implementation.is_async,
        "prompt_variables": [
            v for v in template_variables(prompt or "") if v not in BUILTIN_VARIABLES
        ],
        "project": project,
        "form": form,
        "metric": metric,
        "implementation": implementation,
        "implementation_groups": implementation_groups(),
        "presets": PRESETS,
        "builtin_variables": BUILTIN_VARIABLES,
    }


@require_http_methods(["GET", "POST"])
def metric_create(request, project_id):
    project = project_for_user(request.user, project_id, role=Role.EDITOR)
    implementation = _implementation(
        request.POST.get("implementation") or request.GET.get("implementation", "exact_match")
    )
    initial = {
        f"param_{spec.name}": _initial_param(spec, spec.default) for spec in implementation.params
    }
    initial["inverted"] = implementation.inverted
    form = MetricForm(request.POST or None, implementation=implementation, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            metric = services.metric_create(
                project=project,
                user=request.user,
                implementation=implementation.key,
                params=form.params(),
                inputs=form.inputs(),
                **form.metadata(),
                **form.value_settings(),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Metric {metric.name} created.")
            return redirect("metrics:detail", project_id=project.pk, metric_id=metric.pk)
    template = "metrics/form.html"
    if request.htmx and request.method == "GET" and request.htmx.target == "metric-form":
        template += "#metric-form"
    return render(request, template, _form_context(project, form, implementation))


@require_POST
def metric_try_draft(request, project_id):
    """Try it on the builder: score the sample inputs with the definition as it stands in
    the form, unsaved. Definition problems are shown instead of a score."""
    project = project_for_user(request.user, project_id, role=Role.EDITOR)
    implementation = _implementation(request.POST.get("implementation", "exact_match"))
    form = MetricForm(request.POST, implementation=implementation)
    form.fields["name"].required = False
    try_form = _try_form(form, implementation, request.POST)
    if request.htmx and request.GET.get("panel"):
        # The declared inputs (or the judge's prompt or preset) changed: new sample fields.
        context = _form_context(project, form, implementation)
        context["try_form"] = try_form
        return render(request, "metrics/form.html#try-panel", context)
    outcome, error = None, None
    if not form.is_valid() or not try_form.is_valid():
        error = " ".join(m for errors in form.errors.values() for m in errors)
    else:
        try:
            outcome = services.metric_try_definition(
                project=project,
                implementation=implementation.key,
                params=form.params(),
                inputs=form.inputs(),
                sample=try_form.inputs(),
                user=request.user,
                **form.value_settings(),
            )
        except TryRateLimited as exc:
            error = exc.message
        except ValidationError as exc:
            error = " ".join(
                f"{key}: {m}" if key not in ("__all__", "inputs") else m
                for key, messages in exc.message_dict.items()
                for m in messages
            )
    context = {"outcome": outcome, "try_error": error, "result_id": "draft-try-result"}
    if request.htmx:
        return render(request, "metrics/detail.html#try-result", context)
    context.update(_form_context(project, form, implementation))
    context["try_form"] = try_form
    return render(request, "metrics/form.html", context)


@require_http_methods(["GET", "POST"])
def metric_edit(request, project_id, metric_id):
    project = project_for_user(request.user, project_id, role=Role.EDITOR)
    metric = _metric(request, project, metric_id, role=Role.EDITOR)
    latest = metric.latest_version()
    key = request.POST.get("implementation") or request.GET.get("implementation")
    implementation = _implementation(key or (latest.implementation if latest else "exact_match"))
    initial = MetricForm.initial_for(metric, latest if latest and not key else None)
    form = MetricForm(request.POST or None, implementation=implementation, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            version = services.metric_revise(
                metric=metric,
                user=request.user,
                metadata=form.metadata(),
                implementation=implementation.key,
                params=form.params(),
                inputs=form.inputs(),
                note=form.cleaned_data.get("note", ""),
                **form.value_settings(),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(
                request,
                f"Saved as version {version.number}." if version else "Details saved.",
            )
            return redirect("metrics:detail", project_id=project.pk, metric_id=metric.pk)
    context = _form_context(project, form, implementation, metric=metric)
    return render(request, "metrics/form.html", context)


def _detail_context(request, project, metric, *, version_id=None) -> dict:
    versions = list(selectors.versions_for_metric(metric))
    chosen = str(version_id or request.GET.get("version", ""))
    version = next((v for v in versions if str(v.pk) == chosen), versions[0] if versions else None)
    implementation = get_implementation(version.implementation) if version else None
    return {
        "project": project,
        "metric": metric,
        "versions": versions,
        "version": version,
        "implementation": implementation,
        "public_params": implementation.public_params(version.params) if version else {},
        # "Try it" spends the judge's credits: editors only (the template hides the form).
        "try_form": TryForm(version=version)
        if version and can(request.user, project, Role.EDITOR)
        else None,
        "can_edit": not metric.is_builtin and can(request.user, project, Role.EDITOR),
    }


def metric_detail(request, project_id, metric_id):
    project = project_for_user(request.user, project_id)
    metric = _metric(request, project, metric_id)
    return render(request, "metrics/detail.html", _detail_context(request, project, metric))


@require_POST
def metric_try(request, project_id, metric_id, version_id):
    project = project_for_user(request.user, project_id, role=Role.EDITOR)
    metric = selectors.metric_for_try(request.user, metric_id, project=project)
    version = selectors.version_for_metric(metric, version_id)
    form = TryForm(request.POST, version=version)
    outcome, error = None, None
    if form.is_valid():
        try:
            outcome = services.metric_try(version=version, inputs=form.inputs(), user=request.user)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        except TryRateLimited as exc:
            error = exc.message
    if request.htmx:
        context = {"outcome": outcome, "try_error": error}
        return render(request, "metrics/detail.html#try-result", context)
    context = _detail_context(request, project, metric, version_id=version.pk)
    context.update(try_form=form, outcome=outcome, try_error=error)
    return render(request, "metrics/detail.html", context)


@require_POST
def metric_delete(request, project_id, metric_id):
    project = project_for_user(request.user, project_id, role=Role.EDITOR)
    metric = _metric(request, project, metric_id, role=Role.EDITOR)
    services.metric_delete(metric=metric, user=request.user)
    messages.success(request, f"Metric {metric.name} deleted; runs that used it keep it.")
    return redirect("metrics:list", project_id=project.pk)


@require_POST
def prompt_variables(request, project_id):
    """The prompt editor's live list of ``{{variables}}`` (htmx fragment)."""
    project_for_user(request.user, project_id)
    prompt = request.POST.get("param_prompt", "")[:200_000]
    variables = [v for v in template_variables(prompt) if v not in BUILTIN_VARIABLES]
    html = (
        "".join(f"<code>{{{{{v}}}}}</code> " for v in variables)
        if variables
        else '<span class="muted">none yet</span>'
    )
    return HttpResponse(f'<span id="prompt-variables">{html}</span>')
