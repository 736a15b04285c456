"""The New Evaluation Run sheet: a side sheet on the runs list, also its own page.

Every change that reshapes the sheet (dataset, version, mode, agent, metric, add/remove
rows) posts the whole form back and the server re-renders it from that state, so the
cascading selects work the same with htmx (partial swap) and without JavaScript (full page).
Start calls ``runs.services.run_start`` — the API's validation — and shows each error next to
the field it concerns. The one-time ``token`` is the idempotency key: a double click makes
one run.
"""

from __future__ import annotations

import re

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from datasets.models import DatasetVersion, VersionStatus
from datasets.selectors import datasets_with_released_versions
from metrics.models import MetricCategory
from metrics.selectors import metrics_for_project
from projects.models import Role
from runs import services
from runs.forms import SheetState
from runs.mapping import (
    SPAN_INPUT,
    SPECIAL_WORKFLOW_OUTPUTS,
    TRACE_SELECTOR,
    span_defaults,
    span_metric_inputs,
    suggest_selectors,
)
from runs.options import project_defaults
from runs.views.common import project_or_404
from workflows.models import Workflow

# What a metric slot scores: the row, or each span of a type (span-level bindings).
SCORE_ROW = ("", "the row")
SCORE_SPANS = (
    ("TRACE_SPAN_TYPE_LLM", "each LLM span"),
    ("TRACE_SPAN_TYPE_RETRIEVER", "each retriever span"),
    ("TRACE_SPAN_TYPE_TOOL", "each tool span"),
)
TRACE_INPUT = {
    "name": "trace",
    "description": "Where the spans are: the row's trace, or the spans the agent reported.",
    "required": True,
}


def _score_target(version, row) -> tuple[list, bool]:
    """(the Score choices, whether the metric only scores spans). A span-level metric has
    no "row" choice: its span type is forced, by default the first one it is made for."""
    if version is None or SPAN_INPUT not in version.input_names():
        return [SCORE_ROW, *SCORE_SPANS], False
    from metrics.registry import get_implementation

    offered = [value for value, _ in SCORE_SPANS]
    if row.span_type not in offered:
        try:
            made_for = getattr(get_implementation(version.implementation), "span_types", ())
        except ValidationError:
            made_for = ()
        row.span_type = next((t for t in made_for if t in offered), offered[0])
    return list(SCORE_SPANS), True


def _find(items, wanted_id):
    return next((item for item in items if str(item.id) == str(wanted_id)), None)


SELECTOR_HEAD = re.compile(r"[.\[]")


def _stale(value: str, *, columns, outputs, with_workflow, trace, known_columns) -> bool:
    """A chosen source that the current dataset version or mode no longer offers."""
    if value.startswith("$.dataset."):
        head = SELECTOR_HEAD.split(value[len("$.dataset.") :], 1)[0]
        return known_columns and bool(head) and head not in columns
    if value.startswith("$.workflow."):
        if not with_workflow:
            return True
        head = SELECTOR_HEAD.split(value[len("$.workflow.") :], 1)[0]
        return bool(outputs) and head not in outputs and head not in SPECIAL_WORKFLOW_OUTPUTS
    if value == TRACE_SELECTOR or value.startswith(TRACE_SELECTOR + "."):
        return with_workflow or not trace
    return False


def _input_rows(
    declared, chosen: dict, errors: dict, prefix: str, groups, defaults, stale=None, cleared=None
) -> list:
    rows = []
    known = {value for _, options in groups for value, _ in options}
    for spec in declared or []:
        name = spec.get("name", "")
        value = chosen.get(name)
        if value and stale is not None and stale(value):
            cleared.append((prefix, name, value))
            value = None
        if value is None:
            value = defaults(name)
        extra = [(value, value)] if value and value not in known else []
        rows.append(
            {
                "name": name,
                "description": spec.get("description", ""),
                "required": spec.get("required", True),
                "value": value,
                "groups": [*groups, ("Current", extra)] if extra else groups,
                "field": f"{prefix}-input-{name}",
                "errors": errors.get(f"{prefix}-input-{name}", []),
            }
        )
    return rows


def sheet_context(
    project, state: SheetState, errors: dict | None = None, *, clear_stale: bool = True
) -> dict:
    """``clear_stale``: drop chosen sources the dataset version or mode no longer offers
    (after a switch) and list them; Start keeps them so the service names the problem."""
    errors = errors or {}
    datasets = list(datasets_with_released_versions(project))
    dataset = _find(datasets, state.dataset_id)
    state.dataset_id = str(dataset.id) if dataset else ""
    versions = (
        list(
            DatasetVersion.objects.filter(dataset=dataset, status=VersionStatus.RELEASED).order_by(
                "-number"
            )
        )
        if dataset
        else []
    )
    version = _find(versions, state.version_id) or (versions[0] if versions else None)
    state.version_id = str(version.id) if version else ""
    columns = version.column_names() if version else []
    trace = bool(version and version.is_trace_shaped)
    dataset_options = [(f"$.dataset.{c}", f"$.dataset.{c}") for c in columns]

    workflows = list(Workflow.objects.active().filter(project=project).order_by("name"))
    agents, outputs, cleared = [], [], []

    def dataset_stale(value: str) -> bool:
        return value.startswith("$.dataset.") and _stale(
            value,
            columns=columns,
            outputs=[],
            with_workflow=True,
            trace=trace,
            known_columns=version is not None,
        )

    for i, agent in enumerate(state.agents):
        workflow = _find(workflows, agent.workflow_id)
        agent.workflow_id = str(workflow.id) if workflow else ""
        wf_versions = list(workflow.versions.order_by("-number")) if workflow else []
        wf_version = _find(wf_versions, agent.version_id) or (
            wf_versions[0] if wf_versions else None
        )
        agent.version_id = str(wf_version.id) if wf_version else ""
        if wf_version:
            outputs += [o for o in wf_version.output_names() if o not in outputs]
        prefix = f"agent-{i}"
        suggested = suggest_selectors(
            wf_version.inputs if wf_version else [], columns=columns, for_workflow=True
        )
        agents.append(
            {
                "index": i,
                "row": agent,
                "versions": wf_versions,
                "inputs": _input_rows(
                    wf_version.inputs if wf_version else [],
                    agent.inputs,
                    errors,
                    prefix,
                    [("Dataset", dataset_options)],
                    lambda name, suggested=suggested: suggested.get(name, ""),
                    dataset_stale if state.with_workflow and clear_stale else None,
                    cleared,
                ),
                "workflow_errors": errors.get(f"{prefix}-workflow", []),
                "version_errors": errors.get(f"{prefix}-version", []),
            }
        )

    groups = [("Dataset", dataset_options)]
    if state.with_workflow:
        groups.append(
            (
                "Workflow",
                [(f"$.workflow.{o}", f"$.workflow.{o}") for o in outputs]
                + [(f"$.workflow.{o}", f"$.workflow.{o}") for o in SPECIAL_WORKFLOW_OUTPUTS],
            )
        )
    elif trace:
        groups.append(("Trace", [(TRACE_SELECTOR, "$.trace (the whole recorded trace)")]))

    catalogue = list(metrics_for_project(project))
    labels = dict(MetricCategory.choices)
    metric_groups: dict[str, list] = {}
    for metric in catalogue:
        metric_groups.setdefault(labels.get(metric.category, metric.category), []).append(metric)
    metric_rows = []
    for j, row in enumerate(state.metrics):
        metric = _find(catalogue, row.metric_id)
        row.metric_id = str(metric.id) if metric else ""
        m_versions = list(metric.versions.order_by("-number")) if metric else []
        chosen = _find(m_versions, row.version_id)
        row.version_id = str(chosen.id) if chosen else ""
        shown = chosen or (m_versions[0] if m_versions else None)
        prefix = f"metric-{j}"
        score_options, span_only = _score_target(shown, row)
        declared = shown.inputs if shown else []
        suggested = suggest_selectors(
            declared,
            columns=columns,
            outputs=outputs if state.with_workflow else None,
            trace=trace,
        )
        if row.span_type and span_only:
            # A span binding maps where its spans are plus its other inputs (not span).
            declared = [TRACE_INPUT, *span_metric_inputs(shown)]
            suggested = {
                **suggest_selectors(
                    declared[1:],
                    columns=columns,
                    outputs=outputs if state.with_workflow else None,
                    trace=trace,
                ),
                **span_defaults(shown, dataset_only=not state.with_workflow, trace_shaped=trace),
            }
        metric_rows.append(
            {
                "index": j,
                "row": row,
                "metric": metric,
                "versions": m_versions,
                "score_options": score_options,
                "span_only": span_only,
                "span_errors": errors.get(f"{prefix}-span_type", []),
                "inputs": _input_rows(
                    declared,
                    row.inputs,
                    errors,
                    prefix,
                    groups,
                    lambda name, suggested=suggested: suggested.get(name, ""),
                    None
                    if not clear_stale
                    else lambda value: _stale(
                        value,
                        columns=columns,
                        outputs=outputs,
                        with_workflow=state.with_workflow,
                        trace=trace,
                        known_columns=version is not None,
                    ),
                    cleared,
                ),
                "metric_errors": errors.get(f"{prefix}-metric", []),
                "version_errors": errors.get(f"{prefix}-version", []),
                "is_star": state.star == j,
            }
        )
    return {
        "project": project,
        "state": state,
        "errors": errors,
        "datasets": datasets,
        "versions": versions,
        "version": version,
        "columns": columns,
        "trace_shaped": trace,
        "workflows": workflows,
        "agents": agents,
        "metric_groups": sorted(metric_groups.items()),
        "metric_rows": metric_rows,
        "general_errors": errors.get("__all__", []),
        "cleared": [f"{_row_label(prefix)} {name}: {value}" for prefix, name, value in cleared],
        "run_defaults": project_defaults(project),
    }


def _row_label(prefix: str) -> str:
    kind, index = prefix.split("-", 1)
    return f"{'Agent' if kind == 'agent' else 'Metric'} {int(index) + 1},"


def _render(request: HttpRequest, project, state: SheetState, errors=None) -> HttpResponse:
    context = sheet_context(project, state, errors, clear_stale=not errors)
    context["sheet_url"] = reverse("runs:new", args=[project.pk])
    if request.htmx and not request.htmx.boosted:
        partial = "sheet-form" if request.method == "POST" else "sheet-panel"
        return render(request, f"runs/sheet.html#{partial}", context)
    return render(request, "runs/sheet.html", context)


def _version_error(posted: str, state: SheetState) -> dict[str, list[str]]:
    try:
        found = DatasetVersion.objects.filter(pk=posted, dataset_id=state.dataset_id).first()
    except (ValueError, ValidationError):
        found = None
    if found is not None and found.status != VersionStatus.RELEASED:
        message = f"Version {found.number} is a draft; release it before evaluating it."
    else:
        message = "Choose a released version of this dataset."
    return {"dataset_version": [message]}


@require_http_methods(["GET", "POST"])
def run_new(request: HttpRequest, project_id) -> HttpResponse:
    project = project_or_404(request, project_id, role=Role.EDITOR)
    if request.method == "GET":
        state = SheetState.initial()
        if request.GET.get("dataset"):
            state.dataset_id = request.GET["dataset"]
        return _render(request, project, state)

    state = SheetState.from_data(request.POST)
    action = request.POST.get("action", "refresh")
    if action != "start":
        state.apply(action)
        return _render(request, project, state)

    # Resolve defaults (latest version, default selectors) exactly as the sheet shows them.
    posted_version = state.version_id
    context = sheet_context(project, state, clear_stale=False)
    if posted_version and state.dataset_id and posted_version != state.version_id:
        # Never fall back to another version than the one posted (a draft, another
        # dataset's version, an unknown id): say so next to the version field.
        return _render(request, project, state, _version_error(posted_version, state))
    for row in [*context["agents"], *context["metric_rows"]]:
        row["row"].inputs = {item["name"]: item["value"] for item in row["inputs"]}
    errors = state.precheck()
    if not errors:
        try:
            run = services.run_start(
                project=project,
                user=request.user,
                name=state.name,
                dataset_version_id=state.version_id,
                config=state.config(),
                star_metric=state.star_metric(),
                idempotency_key=f"sheet:{state.token}",
                options=state.run_options(),
            )
        except ValidationError as exc:
            errors = state.map_errors(
                exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
            )
        else:
            messages.success(request, f"Run {run.name} started.")
            target = reverse("runs:list", args=[project.pk])
            if request.htmx:
                return HttpResponseClientRedirect(target)
            return redirect(target)
    return _render(request, project, state, errors)
