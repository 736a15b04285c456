"""Model evaluation runs and presets (Gradient's ``model_evaluation_runs`` and
``model_evaluation_presets``), on top of the ordinary run engine.

A *candidate model* is an OpenAI-compatible chat endpoint registered as an ``openai_chat``
workflow of the project. A model evaluation run is an ``EvaluationRun`` with one entry, that
workflow, over the latest released version of a dataset, scored by the chosen metrics (the
*judge* is an LLM-as-judge metric, whose endpoint scores the responses); ``epochs`` are the
run's repetitions. ``ModelEvaluationRun`` records what makes it a model evaluation.

``candidate_inference_config`` (system prompt, temperature, max tokens, stop token) must reach
the calls, and a run calls the workflow version it pins: when it changes anything, the run
pins a version of a *derived* workflow ("<candidate> · model evaluation …") carrying the
candidate's config with those settings, created for the run and marked deleted at once, so the
user's own workflow and its latest version stay as they were.

The UI and the API share these writes; cancel and delete are ``runs.services``'.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from datasets.models import Dataset, DatasetVersion, VersionStatus
from metrics.models import Metric
from metrics.selectors import metrics_for_project
from projects.access import projects_for_user, require_role, scope_to_user
from projects.models import Role
from runs import services
from runs.models import EvaluationRun, ModelEvaluationPreset, ModelEvaluationRun
from runs.test_cases import entry_config, star_for_run
from workflows import configs as workflow_configs
from workflows.models import Workflow, WorkflowKind, WorkflowVersion

SECTIONS = ("CANDIDATE", "SYSTEM_PROMPT", "DATASET", "JUDGE", "METRICS")
SECTION_PREFIX = "MODEL_EVALUATION_PRESET_SECTION_"
SOURCES = (
    "CANDIDATE_MODEL_SOURCE_SERVERLESS",
    "CANDIDATE_MODEL_SOURCE_DEDICATED",
    "CANDIDATE_MODEL_SOURCE_ROUTER",
    "CANDIDATE_MODEL_SOURCE_AGENT",
)
DEFAULT_SOURCE = SOURCES[0]
MAX_EPOCHS = 3
MAX_METRICS = 50
MAX_NAME = 200
MAX_SYSTEM_PROMPT = 50_000
JUDGE_IMPLEMENTATION = "llm_judge"
# candidate_inference_config field -> the openai_chat workflow config key it sets.
INFERENCE_KEYS = {"temperature": "temperature", "max_tokens": "max_tokens", "stop_token": "stop"}


def _fail(field: str, message: str):
    raise ValidationError({field: [message]})


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


# --- reads -----------------------------------------------------------------------------------


def model_runs_for_user(user) -> QuerySet[ModelEvaluationRun]:
    return (
        ModelEvaluationRun.objects.filter(run__project__in=projects_for_user(user))
        .select_related(
            "run__dataset_version__dataset",
            "candidate_workflow",
            "judge_metric",
            "preset",
        )
        .order_by("-run__queued_at", "-run_id")
    )


def presets_for_user(user) -> QuerySet[ModelEvaluationPreset]:
    return (
        scope_to_user(ModelEvaluationPreset.objects.all(), user)
        .select_related("candidate_workflow", "dataset", "judge_metric")
        .order_by("-created_at", "id")
    )


def _latest(metric: Metric):
    """The metric's latest version (preloaded by ``model_metrics_for_user``)."""
    if not hasattr(metric, "_latest_version"):
        metric._latest_version = metric.latest_version()
    return metric._latest_version


def is_judge(metric: Metric | None) -> bool:
    version = _latest(metric) if metric is not None else None
    return version is not None and version.implementation == JUDGE_IMPLEMENTATION


def judge_model_name(metric: Metric | None) -> str:
    """The model an LLM-as-judge metric calls (its latest version's ``model``)."""
    version = _latest(metric) if metric is not None else None
    return str((version.params or {}).get("model") or "") if version is not None else ""


def is_span_metric(metric: Metric) -> bool:
    version = _latest(metric)
    return version is not None and "span" in version.input_names()


def model_metrics_for_user(user) -> list[Metric]:
    """The metrics a model evaluation can use: every live metric of the user's projects and
    the built-ins except span-level ones (a candidate model call has one span, no tools)."""
    from metrics.models import MetricVersion
    from metrics.selectors import metrics_for_user

    metrics = list(metrics_for_user(user))
    latest = {}
    for version in MetricVersion.objects.filter(metric__in=metrics).order_by("metric_id", "number"):
        latest[version.metric_id] = version
    for metric in metrics:
        metric._latest_version = latest.get(metric.id)
    return [m for m in metrics if not is_span_metric(m)]


# --- validating a create body -----------------------------------------------------------------


def _candidate(user, data: dict, workspace) -> Workflow:
    workflows = scope_to_user(Workflow.objects.select_related("project"), user).filter(
        kind=WorkflowKind.OPENAI_CHAT, deleted_at__isnull=True
    )
    if workspace is not None:
        workflows = workflows.filter(project=workspace)
    raw_uuid = data.get("candidate_model_uuid")
    name = (data.get("candidate_model_name") or "").strip()
    if raw_uuid:
        found = workflows.filter(pk=_uuid(raw_uuid)).first() if _uuid(raw_uuid) else None
        if found is None:
            _fail(
                "candidate_model_uuid",
                "No such candidate model: register the model as an openai_chat workflow of "
                "the workspace and give its id.",
            )
        return found
    if not name:
        _fail("candidate_model_uuid", "Name the candidate model (candidate_model_uuid or _name).")
    matches = [
        w
        for w in workflows.order_by("-created_at")
        if w.name == name or (w.latest_version() and w.latest_version().config.get("model") == name)
    ]
    if not matches:
        _fail("candidate_model_name", f"No openai_chat workflow is named or calls '{name}'.")
    if len({w.project_id for w in matches}) > 1:
        _fail("workspace_uuid", f"'{name}' is in several of your projects: name the workspace.")
    return matches[0]


def _inference(raw) -> dict:
    """The checked ``candidate_inference_config`` (only the fields that were given)."""
    if raw in (None, {}):
        return {}
    if not isinstance(raw, dict):
        _fail("candidate_inference_config", "Must be an object.")
    prefix = "candidate_inference_config"
    clean: dict[str, Any] = {}
    if raw.get("reasoning_effort") not in (None, ""):
        _fail(
            f"{prefix}.reasoning_effort",
            "This candidate model advertises no reasoning effort values.",
        )
    prompt = raw.get("system_prompt")
    if prompt not in (None, ""):
        if not isinstance(prompt, str) or len(prompt) > MAX_SYSTEM_PROMPT:
            _fail(f"{prefix}.system_prompt", "Text of at most 50,000 characters.")
        clean["system_prompt"] = prompt
    temperature = raw.get("temperature")
    if temperature is not None:
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, int | float)
            or not math.isfinite(temperature)
            or not 0 <= temperature <= 2
        ):
            _fail(f"{prefix}.temperature", "A number from 0 to 2.")
        clean["temperature"] = float(temperature)
    max_tokens = raw.get("max_tokens")
    if max_tokens not in (None, 0):
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
            _fail(f"{prefix}.max_tokens", "A whole number from 1 to 1,000,000.")
        if not 1 <= max_tokens <= 1_000_000:
            _fail(f"{prefix}.max_tokens", "A whole number from 1 to 1,000,000.")
        clean["max_tokens"] = max_tokens
    stop = raw.get("stop_token")
    if stop not in (None, ""):
        if not isinstance(stop, str) or len(stop) > workflow_configs.MAX_STOP_CHARS:
            _fail(f"{prefix}.stop_token", "Text of at most 200 characters.")
        clean["stop_token"] = stop
    return clean


def _sections(raw) -> list[str]:
    if raw in (None, []):
        return []
    if not isinstance(raw, list):
        _fail("preset_save_sections", f"A list of sections: {', '.join(SECTIONS)}.")
    found = []
    for value in raw:
        name = str(value).upper().removeprefix(SECTION_PREFIX)
        if name not in SECTIONS:
            _fail("preset_save_sections", f"Unknown section {value!r}: use {', '.join(SECTIONS)}.")
        if name not in found:
            found.append(name)
    return found


def _dataset_version(project, dataset_uuid) -> DatasetVersion:
    if not dataset_uuid:
        _fail("dataset_uuid", "Choose the dataset to evaluate on.")
    dataset = Dataset.objects.filter(project=project, pk=_uuid(dataset_uuid)).first()
    if dataset is None or _uuid(dataset_uuid) is None:
        _fail("dataset_uuid", "No such dataset in this workspace.")
    version = dataset.versions.filter(status=VersionStatus.RELEASED).order_by("-number").first()
    if version is None:
        _fail("dataset_uuid", f"{dataset.name} has no released version; release one first.")
    return version


def _metrics(project, metric_uuids, judge_uuid) -> tuple[list[str], dict, Metric | None]:
    if metric_uuids is not None and not isinstance(metric_uuids, list):
        _fail("metric_uuids", "A list of metric UUIDs.")
    ids = list(dict.fromkeys(str(m) for m in metric_uuids or []))
    available = metrics_for_project(project)
    judge = None
    if judge_uuid:
        judge = available.filter(pk=_uuid(judge_uuid)).first() if _uuid(judge_uuid) else None
        if judge is None or not is_judge(judge):
            _fail(
                "judge_model_uuid",
                "The judge is an LLM-as-judge metric of this workspace (create one with "
                "create_custom_evaluation_metric): give its metric_uuid.",
            )
        if str(judge.id) not in ids:
            ids.append(str(judge.id))
    if not ids:
        _fail("metric_uuids", "Choose at least one metric (or a judge_model_uuid).")
    if len(ids) > MAX_METRICS:
        _fail("metric_uuids", f"At most {MAX_METRICS} metrics.")
    wanted = [u for u in (_uuid(i) for i in ids) if u is not None]
    known = {str(m.id): m for m in available.filter(id__in=wanted)}
    unknown = [i for i in ids if i not in known]
    if unknown:
        _fail("metric_uuids", f"No such metric: {', '.join(unknown)}.")
    spans = [m.name for m in known.values() if is_span_metric(m)]
    if spans:
        _fail("metric_uuids", f"Span-level metrics cannot score a model: {', '.join(spans)}.")
    if judge is None:
        judge = next((known[i] for i in ids if is_judge(known[i])), None)
    return ids, known, judge


def _star(raw, ids: list[str], known: dict) -> dict | None:
    if raw in (None, {}):
        return None
    if not isinstance(raw, dict):
        _fail("star_metric", "An object {metric_uuid, success_threshold}.")
    metric_uuid = str(raw.get("metric_uuid") or "")
    if not metric_uuid:
        # pydo's template sends the metric by name too: accept it alone.
        by_name = [i for i in ids if known[i].name == raw.get("name")]
        metric_uuid = by_name[0] if by_name else ""
    if metric_uuid not in ids:
        _fail("star_metric.metric_uuid", "The star metric must be one of the run's metrics.")
    star = {"metric_uuid": metric_uuid, "name": known[metric_uuid].name}
    for key in ("success_threshold", "success_threshold_pct"):
        value = raw.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            _fail(f"star_metric.{key}", "Must be a number.")
        if not math.isfinite(value) or (key.endswith("pct") and not 0 <= value <= 100):
            _fail(f"star_metric.{key}", "Must be a finite number (a percentage: 0 to 100).")
        star[key] = value
    return star


def _epochs(value) -> int:
    if value in (None, 0):
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EPOCHS:
        _fail("epochs", f"A whole number from 1 to {MAX_EPOCHS} (the number of passes).")
    return value


def _from_preset(data: dict, preset: ModelEvaluationPreset) -> dict:
    """The body with what the preset saved filled in where the body leaves it out."""
    merged = dict(data)
    saved = set(preset.saved_sections or [])

    def fill(key, value):
        if merged.get(key) in (None, "", [], {}) and value not in (None, "", [], {}):
            merged[key] = value

    inference = dict(merged.get("candidate_inference_config") or {})
    if "CANDIDATE" in saved and not (data.get("candidate_model_name") or "").strip():
        fill("candidate_model_uuid", str(preset.candidate_workflow_id or ""))
        fill("candidate_model_source", preset.candidate_model_source)
        for key, value in (preset.inference_config or {}).items():
            inference.setdefault(key, value)
    if "SYSTEM_PROMPT" in saved and preset.system_prompt:
        inference.setdefault("system_prompt", preset.system_prompt)
    if "DATASET" in saved:
        fill("dataset_uuid", str(preset.dataset_id or ""))
    if "JUDGE" in saved:
        fill("judge_model_uuid", str(preset.judge_metric_id or ""))
    if "METRICS" in saved:
        fill("metric_uuids", list(preset.metrics or []))
        fill("star_metric", preset.star_metric)
    merged["candidate_inference_config"] = inference
    return merged


# --- the candidate version a run pins ---------------------------------------------------------


def _candidate_version(candidate: Workflow, inference: dict, user) -> WorkflowVersion:
    """The candidate's latest version, or (when the inference config changes anything) a
    version of a derived workflow with those settings, created for this run."""
    latest = candidate.latest_version()
    if latest is None:
        _fail("candidate_model_uuid", f"'{candidate.name}' has no version yet.")
    config = dict(latest.config or {})
    if "system_prompt" in inference:
        config["system_prompt"] = inference["system_prompt"]
    for field, key in INFERENCE_KEYS.items():
        if field in inference:
            config[key] = inference[field]
    if config == latest.config:
        return latest
    derived = Workflow.objects.create(
        project=candidate.project,
        name=f"{candidate.name} · model evaluation {timezone.now():%Y-%m-%d %H:%M:%S}"[:200],
        description=f"The candidate '{candidate.name}' v{latest.number} with the inference "
        "configuration of a model evaluation run (kept for that run only).",
        kind=WorkflowKind.OPENAI_CHAT,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    return WorkflowVersion.objects.create(
        workflow=derived,
        number=1,
        config=config,
        inputs=latest.inputs,
        outputs=latest.outputs,
        content_hash=workflow_configs.content_hash(
            kind=WorkflowKind.OPENAI_CHAT,
            config=config,
            inputs=latest.inputs,
            outputs=latest.outputs,
        ),
        created_by=derived.created_by,
    )


# --- writes ----------------------------------------------------------------------------------


@transaction.atomic
def model_run_create(*, user, data: dict, workspace=None) -> ModelEvaluationRun:
    """Start a model evaluation run from a (serializer-checked) create body; raises
    ``ValidationError`` naming the field, ``PermissionDenied`` below editor."""
    preset = None
    if data.get("eval_preset_uuid"):
        preset_id = _uuid(data["eval_preset_uuid"])
        preset = presets_for_user(user).filter(pk=preset_id).first() if preset_id else None
        if preset is None:
            _fail("eval_preset_uuid", "No such model evaluation preset.")
        if workspace is None:
            workspace = preset.project
        elif preset.project_id != workspace.id:
            _fail("eval_preset_uuid", "No such model evaluation preset in this workspace.")
        data = _from_preset(data, preset)
    candidate = _candidate(user, data, workspace)
    project = candidate.project
    require_role(user, project, Role.EDITOR)
    source = data.get("candidate_model_source") or DEFAULT_SOURCE
    if source not in SOURCES:
        _fail("candidate_model_source", f"One of {', '.join(SOURCES)}.")
    if source == "CANDIDATE_MODEL_SOURCE_AGENT":
        _fail(
            "candidate_model_source",
            "Agents are evaluated with run_evaluation_test_case; a candidate here is a model.",
        )
    inference = _inference(data.get("candidate_inference_config"))
    version = _dataset_version(project, data.get("dataset_uuid"))
    ids, known, judge = _metrics(project, data.get("metric_uuids"), data.get("judge_model_uuid"))
    star = _star(data.get("star_metric"), ids, known)
    epochs = _epochs(data.get("epochs"))
    name = (data.get("name") or "").strip() or f"{candidate.name} on {version.dataset.name}"
    if len(name) > MAX_NAME:
        _fail("name", f"At most {MAX_NAME} characters.")
    sections = _sections(data.get("preset_save_sections"))
    if not sections and data.get("save_as_preset"):
        sections = list(SECTIONS)
    preset_name = (data.get("preset_name") or "").strip()
    if len(preset_name) > MAX_NAME:
        _fail("preset_name", f"At most {MAX_NAME} characters.")

    pinned = _candidate_version(candidate, inference, user)
    run = services.run_start(
        project=project,
        user=user,
        name=name,
        dataset_version_id=version.id,
        config=[
            entry_config(
                pinned, ids, known, columns=version.column_names(), trace=version.is_trace_shaped
            )
        ],
        star_metric=star_for_run(star, known.get((star or {}).get("metric_uuid"))),
        options={"repetitions": epochs},
    )
    if pinned.workflow_id != candidate.id:
        pinned.workflow.mark_deleted()  # pinned by the run; out of every workflow list
    if sections and preset is None:
        preset = _preset_save(
            project=project,
            user=user,
            name=preset_name or f"{name} preset",
            sections=sections,
            candidate=candidate,
            source=source,
            inference=inference,
            dataset=version.dataset,
            judge=judge,
            metric_ids=ids,
            star=star,
        )
    return ModelEvaluationRun.objects.create(
        run=run,
        candidate_workflow=candidate,
        candidate_model_name=str(candidate.latest_version().config.get("model") or ""),
        candidate_model_source=source,
        inference_config=inference,
        judge_metric=judge,
        preset=preset,
        source=str(data.get("source") or "")[:20],
    )


def _preset_save(
    *, project, user, name, sections, candidate, source, inference, dataset, judge, metric_ids, star
) -> ModelEvaluationPreset:
    saved = set(sections)
    with_candidate = "CANDIDATE" in saved
    return ModelEvaluationPreset.objects.create(
        project=project,
        name=name[:MAX_NAME],
        saved_sections=[s for s in SECTIONS if s in saved],
        candidate_workflow=candidate if with_candidate else None,
        candidate_model_source=source if with_candidate else "",
        inference_config=(
            {k: v for k, v in inference.items() if k in INFERENCE_KEYS} if with_candidate else {}
        ),
        system_prompt=inference.get("system_prompt", "") if "SYSTEM_PROMPT" in saved else "",
        dataset=dataset if "DATASET" in saved else None,
        judge_metric=judge if "JUDGE" in saved else None,
        metrics=metric_ids if "METRICS" in saved else [],
        star_metric=star if "METRICS" in saved else None,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )


def model_run_rename(*, model_run: ModelEvaluationRun, name) -> ModelEvaluationRun:
    name = (name or "").strip() if isinstance(name, str) else name
    if not isinstance(name, str) or not name:
        _fail("name", "Give the run a name.")
    if len(name) > MAX_NAME:
        _fail("name", f"At most {MAX_NAME} characters.")
    EvaluationRun.objects.filter(pk=model_run.run_id).update(name=name)
    model_run.run.refresh_from_db()
    return model_run


def model_run_cancel(*, model_run: ModelEvaluationRun) -> ModelEvaluationRun:
    services.run_cancel(run=model_run.run)
    model_run.run.refresh_from_db()
    return model_run


def model_run_delete(*, model_run: ModelEvaluationRun) -> None:
    """Only a finished run (Gradient's rule): cancel first, then delete."""
    from evalsite.errors import ConflictError

    if model_run.run.is_active:
        raise ConflictError(
            "The run is still in progress: cancel it, then delete it once it has stopped.",
            code="run_active",
        )
    services.run_delete(run=model_run.run)  # removes this record too


def preset_delete(*, preset: ModelEvaluationPreset) -> None:
    """Runs that used the preset keep their results; they just no longer name it."""
    preset.delete()


def presets_using(user, metric_ids) -> dict[str, list[ModelEvaluationPreset]]:
    """metric id -> the user's presets whose METRICS section includes it."""
    wanted = {str(m) for m in metric_ids}
    found: dict[str, list[ModelEvaluationPreset]] = {}
    for preset in presets_for_user(user).exclude(metrics=[]):
        for metric_id in preset.metrics or []:
            if str(metric_id) in wanted:
                found.setdefault(str(metric_id), []).append(preset)
    return found
