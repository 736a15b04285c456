"""Monitors pages: the list, the create/edit form, one monitor with its runs and alerts.
Every member reads; editors create, change and delete. Writes go through traces.monitors."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from metrics.registry import get_implementation
from metrics.selectors import metrics_for_project
from projects.access import can, project_for_user
from projects.models import Role
from runs.mapping import suggest_selectors
from runs.models import EvaluationRun
from traces import monitors
from traces.forms import MonitorForm
from traces.models import Monitor, MonitorAlert, MonitorRun


@require_GET
def monitor_list(request: HttpRequest, project_id) -> HttpResponse:
    project = project_for_user(request.user, project_id)
    items = list(Monitor.objects.filter(project=project).select_related("dataset"))
    alerts = {}
    for alert in MonitorAlert.objects.filter(monitor__project=project).order_by("-created_at"):
        alerts.setdefault(alert.monitor_id, alert)
    for monitor in items:
        monitor.latest_alert = alerts.get(monitor.pk)
    return render(
        request,
        "traces/monitor_list.html",
        {
            "project": project,
            "monitors": items,
            "can_edit": can(request.user, project, Role.EDITOR),
        },
    )


def _span_default(metric) -> str | None:
    try:
        implementation = get_implementation(metric.latest_version().implementation)
    except Exception:  # a custom or missing implementation: no default
        return None
    types = getattr(implementation, "span_types", ()) or ()
    return types[0] if len(types) == 1 else None


def _picked_bindings(form, metrics_by_id, dataset) -> list[dict]:
    """Bindings for the metrics ticked in the form, with suggested selectors."""
    version = monitors.newest_version(dataset) if dataset else None
    columns = version.column_names() if version else []
    bindings = []
    for metric_id in form.cleaned_data.get("metrics") or []:
        metric = metrics_by_id.get(metric_id)
        latest = metric.latest_version() if metric else None
        if latest is None:
            bindings.append({"id": metric_id})
            continue
        if "span" in latest.input_names():
            span_type = form.cleaned_data.get("span_type") or _span_default(metric)
            bindings.append({"id": metric_id, **({"span_type": span_type} if span_type else {})})
            continue
        selector = suggest_selectors(latest.inputs, columns=columns, trace=True)
        bindings.append({"id": metric_id, "input_transformer": {"selector": selector}})
    return bindings


def _form_page(request, project, monitor=None) -> HttpResponse:
    datasets = list(monitors.trace_datasets(project))
    metrics = list(metrics_for_project(project))
    editing = monitor is not None
    initial = {}
    if editing:
        threshold = monitor.star_threshold
        initial = {
            "name": monitor.name,
            "dataset": str(monitor.dataset_id),
            "bindings": json.dumps(monitor.metrics, indent=2),
            "star_metric_id": str(monitor.star_metric_id or ""),
            "star_threshold": "" if threshold is None else f"{threshold:g}",
            "interval_minutes": monitor.interval_minutes,
            "period": monitor.period,
            "settle_seconds": monitor.settle_seconds,
            "is_active": monitor.is_active,
        }
    form = MonitorForm(
        request.POST or None,
        initial=initial,
        datasets=datasets,
        metrics=metrics,
        editing=editing,
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            bindings = form.bindings_json()
            dataset = next((d for d in datasets if str(d.pk) == form.cleaned_data["dataset"]), None)
            if bindings is None:
                bindings = _picked_bindings(form, {str(m.pk): m for m in metrics}, dataset)
            if bindings is not False:
                data = {
                    "name": form.cleaned_data["name"],
                    "dataset_id": form.cleaned_data["dataset"],
                    "metrics": bindings,
                    "star_metric_id": form.cleaned_data["star_metric_id"],
                    "star_threshold": form.cleaned_data["star_threshold"],
                    "interval_minutes": form.cleaned_data["interval_minutes"],
                    "period": form.cleaned_data["period"],
                    "settle_seconds": form.cleaned_data["settle_seconds"],
                    "is_active": form.cleaned_data["is_active"],
                    "score_existing": form.cleaned_data.get("score_existing", False),
                }
                try:
                    saved = monitors.monitor_save(
                        project=project, user=request.user, data=data, monitor=monitor
                    )
                except ValidationError as exc:
                    for field, errors in exc.message_dict.items():
                        field = "dataset" if field == "dataset_id" else field
                        target = field if field in form.fields else None
                        if field == "metrics" and form.cleaned_data.get("bindings"):
                            target = "bindings"
                        form.add_error(target, errors)
                else:
                    messages.success(request, f"Monitor {saved.name} saved.")
                    return redirect("monitors:detail", project_id=project.pk, monitor_id=saved.pk)
        status = 400
    return render(
        request,
        "traces/monitor_form.html",
        {"project": project, "form": form, "monitor": monitor, "has_datasets": bool(datasets)},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def monitor_create(request: HttpRequest, project_id) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=Role.EDITOR)
    return _form_page(request, project)


@require_http_methods(["GET", "POST"])
def monitor_edit(request: HttpRequest, project_id, monitor_id) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=Role.EDITOR)
    monitor = get_object_or_404(Monitor, pk=monitor_id, project=project)
    return _form_page(request, project, monitor)


@require_POST
def monitor_delete(request: HttpRequest, project_id, monitor_id) -> HttpResponse:
    project = project_for_user(request.user, project_id, role=Role.EDITOR)
    monitor = get_object_or_404(Monitor, pk=monitor_id, project=project)
    monitors.monitor_delete(monitor=monitor)
    messages.success(request, f"Monitor {monitor.name} deleted; its runs stay in Evaluations.")
    return redirect("monitors:list", project_id=project.pk)


@require_GET
def monitor_detail(request: HttpRequest, project_id, monitor_id) -> HttpResponse:
    project = project_for_user(request.user, project_id)
    monitor = get_object_or_404(
        Monitor.objects.select_related("dataset"), pk=monitor_id, project=project
    )
    links = list(MonitorRun.objects.filter(monitor=monitor).order_by("-period_start")[:50])
    runs = EvaluationRun.objects.in_bulk([link.run_id for link in links])
    periods = []
    for link in links:
        run = runs.get(link.run_id)
        if run is None:
            continue
        star = (run.summaries or {}).get(str(run.star_binding_id)) if run.star_binding_id else None
        periods.append({"start": link.period_start, "run": run, "star": star})
    return render(
        request,
        "traces/monitor_detail.html",
        {
            "project": project,
            "monitor": monitor,
            "periods": periods,
            "alerts": MonitorAlert.objects.filter(monitor=monitor)[:50],
            "bindings": json.dumps(monitor.metrics, indent=2),
            "can_edit": can(request.user, project, Role.EDITOR),
        },
    )
