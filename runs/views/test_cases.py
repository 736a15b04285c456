"""Evaluation test cases in the UI: a list with a create form, and a test case's page with
its versions (each edit is a new version), a form to run it against agents, its runs and a
trend chart of the star metric across them. Writes go through ``runs.test_cases``."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from datasets.models import Dataset
from evalsite.errors import ConflictError
from metrics.selectors import metrics_for_project
from projects.models import Role
from runs import test_cases
from runs.models import EvaluationRun, EvaluationTestCase
from runs.views.common import can_edit, project_or_404
from workflows.models import Workflow

CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 640, 160, 24
TREND_RUNS = 50


class TestCaseForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    dataset = forms.ChoiceField()
    metrics = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)
    star = forms.ChoiceField(required=False, label="Star metric")
    threshold = forms.FloatField(required=False, label="Star threshold")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.datasets = {
            str(d.pk): d for d in Dataset.objects.filter(project=project).order_by("name")
        }
        metrics = list(metrics_for_project(project).order_by("name"))
        self.fields["dataset"].choices = [(k, d.name) for k, d in self.datasets.items()]
        choices = [(str(m.pk), m.name) for m in metrics]
        self.fields["metrics"].choices = choices
        self.fields["star"].choices = [("", "None"), *choices]

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        star = None
        if data.get("star"):
            star = {"metric_uuid": data["star"], "success_threshold": data.get("threshold")}
        return {
            "name": data["name"],
            "description": data.get("description", ""),
            "dataset": self.datasets.get(data["dataset"]),
            "metrics": data["metrics"],
            "star_metric": star,
        }

    def add_service_errors(self, exc: ValidationError) -> None:
        for key, errors in exc.message_dict.items():
            field = {"dataset_uuid": "dataset", "name": "name", "metrics": "metrics"}.get(key)
            if key.startswith("star_metric"):
                field = "threshold"
            for message in errors:
                self.add_error(field, message)


def _test_case(project, test_case_id) -> EvaluationTestCase:
    test_case = EvaluationTestCase.objects.filter(project=project, pk=test_case_id).first()
    if test_case is None:
        raise Http404("No such test case.")
    return test_case


@require_http_methods(["GET", "POST"])
def test_case_list(request: HttpRequest, project_id) -> HttpResponse:
    project = project_or_404(request, project_id)
    editable = can_edit(request, project)
    form = TestCaseForm(request.POST or None, project=project)
    if request.method == "POST":
        if not editable:
            project_or_404(request, project_id, role=Role.EDITOR)  # answers 403
        if form.is_valid():
            try:
                test_case = test_cases.test_case_create(
                    project=project, user=request.user, **form.service_kwargs()
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, f"Test case {test_case.name} created.")
                return redirect("runs:test_case", project_id=project.pk, test_case_id=test_case.pk)
    cases = (
        EvaluationTestCase.objects.filter(project=project)
        .select_related("dataset")
        .annotate(run_count=Count("evaluation_runs"))
        .order_by("name")
    )
    context = {"project": project, "cases": cases, "form": form, "can_edit": editable}
    return render(request, "runs/test_cases.html", context, status=400 if form.errors else 200)


def _star_mean(run: EvaluationRun) -> float | None:
    summary = (run.summaries or {}).get(str(run.star_binding_id)) if run.star_binding_id else None
    mean = (summary or {}).get("mean")
    return float(mean) if isinstance(mean, int | float) else None


def trend_points(runs: list[EvaluationRun]) -> dict:
    """The star metric's mean per finished run, oldest first, as SVG coordinates."""
    values = [(run, _star_mean(run)) for run in runs]
    values = [(run, v) for run, v in values if v is not None]
    if not values:
        return {"points": [], "polyline": ""}
    low = min(min(v for _, v in values), 0.0)
    high = max(max(v for _, v in values), 1.0 if low >= 0 else low + 1)
    span = (high - low) or 1.0
    step = (CHART_WIDTH - 2 * CHART_PAD) / max(len(values) - 1, 1)
    points = []
    for index, (run, value) in enumerate(values):
        x = CHART_PAD + index * step
        y = CHART_HEIGHT - CHART_PAD - (value - low) / span * (CHART_HEIGHT - 2 * CHART_PAD)
        points.append({"x": round(x, 1), "y": round(y, 1), "value": value, "run": run})
    return {
        "points": points,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
        "low": low,
        "high": high,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "pad": CHART_PAD,
        "baseline_y": CHART_HEIGHT - CHART_PAD,
    }


@require_http_methods(["GET", "POST"])
def test_case_detail(request: HttpRequest, project_id, test_case_id) -> HttpResponse:
    project = project_or_404(request, project_id)
    test_case = _test_case(project, test_case_id)
    editable = can_edit(request, project)
    initial = {
        "name": test_case.name,
        "description": test_case.description,
        "dataset": str(test_case.dataset_id or ""),
        "metrics": [str(m) for m in test_case.metrics],
        "star": (test_case.star_metric or {}).get("metric_uuid", ""),
        "threshold": (test_case.star_metric or {}).get("success_threshold"),
    }
    form = TestCaseForm(request.POST or None, project=project, initial=initial)
    if request.method == "POST":
        project_or_404(request, project_id, role=Role.EDITOR)
        if form.is_valid():
            try:
                test_case = test_cases.test_case_update(
                    test_case=test_case, user=request.user, **form.service_kwargs()
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, f"Saved as version {test_case.version}.")
                return redirect("runs:test_case", project_id=project.pk, test_case_id=test_case.pk)
    runs = list(
        EvaluationRun.objects.filter(test_case=test_case)
        .select_related("dataset_version")
        .order_by("-queued_at")[:TREND_RUNS]
    )
    for run in runs:
        run.star_mean = _star_mean(run)
    finished = [run for run in reversed(runs) if run.is_finished]
    context = {
        "project": project,
        "test_case": test_case,
        "versions": test_case.versions.select_related("created_by"),
        "metric_names": {
            str(m.pk): m.name for m in metrics_for_project(project).filter(id__in=test_case.metrics)
        },
        "runs": runs,
        "trend": trend_points(finished),
        "workflows": Workflow.objects.active().filter(project=project).order_by("name"),
        "form": form,
        "can_edit": editable,
    }
    return render(request, "runs/test_case.html", context, status=400 if form.errors else 200)


@require_POST
def test_case_run(request: HttpRequest, project_id, test_case_id) -> HttpResponse:
    project = project_or_404(request, project_id, role=Role.EDITOR)
    test_case = _test_case(project, test_case_id)
    workflow_ids = []
    for raw in request.POST.getlist("agents"):
        try:
            workflow_ids.append(Workflow._meta.pk.to_python(raw))
        except ValidationError:
            continue
    if not workflow_ids:
        messages.error(request, "Choose at least one agent to run the test case against.")
    else:
        try:
            started = test_cases.test_case_run(
                test_case=test_case,
                user=request.user,
                workflow_ids=workflow_ids,
                run_name=request.POST.get("run_name", "")[:200],
            )
        except (ValidationError, ConflictError) as exc:
            text = exc.message if isinstance(exc, ConflictError) else " ".join(exc.messages)
            messages.error(request, text)
        else:
            messages.success(request, f"Started {len(started)} run{'s' * (len(started) != 1)}.")
    return redirect("runs:test_case", project_id=project.pk, test_case_id=test_case.pk)
