"""Input mappings: the ``$.`` selector syntax that feeds workflow and metric inputs, the
suggestions the sheet, test-case runs and the Gradient shapes start from
(``suggest_selectors``), and the check of a run's config before anything is saved.

Selectors:
- ``$.dataset.<column>`` (optionally ``$.dataset.<column>.<key>...`` into an object column),
- ``$.workflow.<output>`` (a declared output of the entry's workflow, or one of
  ``SPECIAL_WORKFLOW_OUTPUTS``),
- ``$.trace`` (the whole item; only for trace-shaped dataset versions).

``validate_run_config`` returns a ``RunPlan`` with every version resolved and pinned, or
raises one ``ValidationError`` whose ``message_dict`` has one clear message per problem,
keyed by the path of the offending field (``config[0].metrics[1].input_transformer...``).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q

from datasets.models import TRACE_FIELDS, DatasetVersion
from metrics.models import Metric, MetricVersion
from runs.models import RunMode
from workflows.models import Workflow, WorkflowVersion

DATASET_PREFIX = "$.dataset."
WORKFLOW_PREFIX = "$.workflow."
TRACE_SELECTOR = "$.trace"
SPECIAL_WORKFLOW_OUTPUTS = ("latency_ms", "input_tokens", "output_tokens", "chunks", "spans")
MAX_ENTRIES = 20
MAX_METRICS_PER_ENTRY = 50


@dataclass(frozen=True)
class Selector:
    """A parsed selector: ``source`` is "dataset", "workflow" or "trace"."""

    source: str
    key: str = ""
    path: tuple[str, ...] = ()

    def resolve(self, item: dict, workflow: dict | None) -> Any:
        if self.source == "trace":
            return item
        container = item if self.source == "dataset" else (workflow or {})
        value = container.get(self.key)
        for part in self.path:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value


def parse_selector(text: Any, *, columns: list[str] | None = None) -> Selector | None:
    """The selector ``text`` names, or None when it is not selector syntax at all.

    With ``columns``, ``$.dataset.a.b`` resolves to the longest column name that prefixes it
    (column names may themselves contain dots), the rest being keys inside that column.
    """
    if not isinstance(text, str):
        return None
    text = text.strip()
    if text == TRACE_SELECTOR:
        return Selector("trace")
    for prefix, source in ((DATASET_PREFIX, "dataset"), (WORKFLOW_PREFIX, "workflow")):
        if text.startswith(prefix) and len(text) > len(prefix):
            rest = text[len(prefix) :]
            if source == "dataset" and columns is not None and rest not in columns:
                parts = rest.split(".")
                for cut in range(len(parts) - 1, 0, -1):
                    head = ".".join(parts[:cut])
                    if head in columns:
                        return Selector(source, head, tuple(parts[cut:]))
            return Selector(source, rest)
    return None


# --- suggestions -----------------------------------------------------------------------------

# What the guesses look for, in order of preference. One list each, shared by every caller.
QUESTION_NAMES = ("question", "query", "input", "prompt")
EXPECTED_NAMES = (
    "expected",
    "expected_answer",
    "expected_output",
    "expected_response",
    "ground_truth",
    "ground_truth_answer",
    "reference",
    "target",
    "gold",
    "answer",
)
RESPONSE_NAMES = ("response", "output", "answer", "prediction", "actual", "completion", "text")
SPAN_NAMES = ("spans", "trace")
CHUNK_NAMES = ("chunks", "context", "contexts")


def suggest_column(names, role: str, *, exclude=()) -> str | None:
    """The first of ``names`` (dataset columns, workflow outputs or an item's keys) that
    plays ``role``: "question", "expected" or "response"."""
    wanted = {"question": QUESTION_NAMES, "expected": EXPECTED_NAMES, "response": RESPONSE_NAMES}
    present = [n for n in names if n not in exclude]
    return next((c for c in wanted[role] if c in present), None)


def _role(name: str) -> str | None:
    lowered = name.lower()
    for role, names in (
        ("response", RESPONSE_NAMES),
        ("expected", EXPECTED_NAMES),
        ("question", QUESTION_NAMES),
    ):
        if lowered in names:
            return role
    return None


def suggest_selectors(
    inputs: list[dict] | None,
    *,
    columns: list[str],
    outputs: list[str] | None = None,
    trace: bool = False,
    for_workflow: bool = False,
) -> dict[str, str]:
    """{input name: selector} for the declared ``inputs`` this can guess.

    Only required inputs get a suggestion: an optional input stays unmapped unless the user
    maps it. ``for_workflow``: the inputs of a workflow (read from the dataset). Otherwise a
    metric's inputs, in a run with workflows when ``outputs`` (the workflow's output names)
    is given, dataset-only when it is None; ``trace`` says the dataset version is
    trace-shaped, so span inputs read ``$.trace``.
    """
    suggestions: dict[str, str] = {}
    declared = [spec for spec in inputs or [] if spec.get("name")]
    with_workflow = outputs is not None
    outputs = list(outputs or [])
    for spec in declared:
        if not spec.get("required", True):
            continue
        name = spec["name"]
        role = _role(name)
        lowered = name.lower()
        selector = None
        if for_workflow:
            if name in columns:
                selector = f"{DATASET_PREFIX}{name}"
            elif role == "question" or len(declared) == 1:
                column = suggest_column(columns, "question")
                selector = f"{DATASET_PREFIX}{column}" if column else None
        elif with_workflow and (name in outputs or name in SPECIAL_WORKFLOW_OUTPUTS):
            selector = f"{WORKFLOW_PREFIX}{name}"
        elif with_workflow and role == "response" and outputs:
            primary = suggest_column(outputs, "response") or outputs[0]
            selector = f"{WORKFLOW_PREFIX}{primary}"
        elif with_workflow and lowered in CHUNK_NAMES and name not in columns:
            selector = f"{WORKFLOW_PREFIX}chunks"
        elif lowered in SPAN_NAMES and (trace or with_workflow):
            selector = f"{WORKFLOW_PREFIX}spans" if with_workflow else TRACE_SELECTOR
        elif name in columns:
            selector = f"{DATASET_PREFIX}{name}"
        elif role is not None and not (with_workflow and role == "response"):
            # In dataset-only runs the response and the expected value must not be one column.
            taken = () if role == "response" else _response_columns(declared, columns, outputs)
            column = suggest_column(columns, role, exclude=taken)
            selector = f"{DATASET_PREFIX}{column}" if column else None
        if selector:
            suggestions[name] = selector
    return suggestions


def _response_columns(declared, columns, outputs) -> tuple[str, ...]:
    """Dataset columns a dataset-only suggestion already reads as the response."""
    if outputs:
        return ()
    taken = []
    for spec in declared:
        name = spec["name"]
        if name in columns and _role(name) == "response":
            taken.append(name)
        elif _role(name) == "response":
            column = suggest_column(columns, "response")
            if column:
                taken.append(column)
    return tuple(taken)


# --- the plan a valid config turns into ------------------------------------------------------


@dataclass
class PlannedMetric:
    metric: Metric
    version: MetricVersion
    input_selector: dict[str, str]
    span_type: str | None = None  # the metric scores each span of this type


@dataclass
class PlannedEntry:
    workflow: Workflow | None
    workflow_version: WorkflowVersion | None
    input_selector: dict[str, str]
    metrics: list[PlannedMetric] = field(default_factory=list)


@dataclass
class RunPlan:
    dataset_version: DatasetVersion
    mode: str
    entries: list[PlannedEntry]
    star: tuple[int, int] | None = None  # (entry index, metric index)
    star_threshold: float | None = None

    def frozen_config(self) -> list[dict]:
        """The config as stored on the run: ids, pinned versions, selectors; no secrets."""
        frozen = []
        for entry in self.entries:
            workflow = None
            if entry.workflow_version is not None:
                workflow = {
                    "id": str(entry.workflow.id),
                    "name": entry.workflow.name,
                    "version_id": str(entry.workflow_version.id),
                    "version_number": entry.workflow_version.number,
                    "version_hash": entry.workflow_version.content_hash,
                    "input_transformer": {"selector": dict(entry.input_selector)},
                }
            frozen.append(
                {
                    "workflow": workflow,
                    "metrics": [
                        {
                            "id": str(planned.metric.id),
                            "name": planned.metric.name,
                            "version_id": str(planned.version.id),
                            "version_number": planned.version.number,
                            "input_transformer": {"selector": dict(planned.input_selector)},
                            **({"span_type": planned.span_type} if planned.span_type else {}),
                        }
                        for planned in entry.metrics
                    ],
                }
            )
        return frozen


def _as_uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


class _Errors:
    def __init__(self) -> None:
        self.by_path: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.by_path.setdefault(path, []).append(message)

    def raise_if_any(self) -> None:
        if self.by_path:
            raise ValidationError(self.by_path)


def _selector_map(raw: Any, path: str, errors: _Errors) -> dict[str, str]:
    """The ``input_transformer.selector`` object of a config element (empty values dropped)."""
    if raw in (None, {}):
        return {}
    if not isinstance(raw, dict):
        errors.add(path, 'input_transformer must be an object like {"selector": {...}}.')
        return {}
    selector = raw.get("selector", {})
    if selector is None:
        return {}
    if not isinstance(selector, dict):
        errors.add(f"{path}.selector", "selector must be an object of input name -> selector.")
        return {}
    mapping = {}
    for name, value in selector.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if not isinstance(value, str):
            errors.add(f"{path}.selector.{name}", "A selector must be a string like $.dataset.x.")
            continue
        mapping[str(name)] = value.strip()
    return mapping


def _check_dataset_or_trace(
    selector: Selector, text: str, *, version: DatasetVersion, columns: list[str]
) -> str | None:
    if selector.source == "trace":
        if not version.is_trace_shaped:
            return (
                "$.trace needs trace-shaped items (with input, output, status and trace_id "
                "fields); this dataset version is not trace-shaped."
            )
        return None
    if selector.key not in columns:
        known = ", ".join(columns) or "none"
        return f"Unknown column '{selector.key}' in {text}. Columns: {known}."
    return None


def _resolve_dataset_version(
    project, raw_id, errors: _Errors, *, draft_ok: bool = False
) -> DatasetVersion | None:
    version_id = _as_uuid(raw_id)
    version = None
    if version_id is not None:
        version = (
            DatasetVersion.objects.select_related("dataset")
            .filter(id=version_id, dataset__project=project)
            .first()
        )
    if version is None:
        errors.add("dataset_version_id", "Unknown dataset version.")
        return None
    if draft_ok:
        if version.is_draft:
            # A draft's columns are kept up to date; trace shape is only frozen at release.
            version.is_trace_shaped = all(n in version.column_names() for n in TRACE_FIELDS)
        return version
    if not version.is_released:
        errors.add(
            "dataset_version_id",
            f"Version {version.number} of {version.dataset.name} is a draft; release it "
            "before evaluating it.",
        )
        return None
    if version.row_count == 0:
        errors.add(
            "dataset_version_id",
            f"Version {version.number} of {version.dataset.name} has no rows to evaluate.",
        )
        return None
    return version


def _resolve_workflow(project, raw: dict, path: str, errors: _Errors):
    workflow_id = _as_uuid(raw.get("id"))
    workflow = (
        Workflow.objects.filter(id=workflow_id, project=project).first() if workflow_id else None
    )
    if workflow is None:
        errors.add(f"{path}.id", "Unknown workflow.")
        return None, None
    if workflow.is_deleted:
        errors.add(f"{path}.id", f"Workflow '{workflow.name}' was deleted.")
        return None, None
    if raw.get("version_id") not in (None, ""):
        version_id = _as_uuid(raw.get("version_id"))
        version = (
            workflow.versions.filter(id=version_id).first() if version_id is not None else None
        )
        if version is None:
            errors.add(f"{path}.version_id", f"Unknown version of workflow '{workflow.name}'.")
            return workflow, None
    else:
        version = workflow.latest_version()
        if version is None:
            errors.add(f"{path}.id", f"Workflow '{workflow.name}' has no version yet.")
            return workflow, None
    return workflow, version


def _resolve_metric(project, raw: dict, path: str, errors: _Errors):
    metric_id = _as_uuid(raw.get("id"))
    metric = None
    if metric_id is not None:
        metric = Metric.objects.filter(
            Q(project=project) | Q(project__isnull=True), id=metric_id
        ).first()
    if metric is None:
        errors.add(f"{path}.id", "Unknown metric.")
        return None, None
    if metric.is_deleted:
        errors.add(f"{path}.id", f"Metric '{metric.name}' was deleted.")
        return None, None
    if raw.get("version_id") not in (None, ""):
        version_id = _as_uuid(raw.get("version_id"))
        version = metric.versions.filter(id=version_id).first() if version_id else None
        if version is None:
            errors.add(f"{path}.version_id", f"Unknown version of metric '{metric.name}'.")
            return metric, None
    else:
        version = metric.latest_version()
        if version is None:
            errors.add(f"{path}.id", f"Metric '{metric.name}' has no version yet.")
            return metric, None
    return metric, version


def _check_workflow_inputs(
    version: WorkflowVersion,
    mapping: dict[str, str],
    path: str,
    errors: _Errors,
    *,
    dataset_version: DatasetVersion,
    columns: list[str],
) -> None:
    declared = version.input_names()
    label = f"workflow '{version.workflow.name}' v{version.number}"
    for name in version.required_input_names():
        if name not in mapping:
            errors.add(
                f"{path}.{name}",
                f"Map the input '{name}' of {label} to a dataset column, e.g. $.dataset.{name}.",
            )
    for name, text in mapping.items():
        if declared and name not in declared:
            errors.add(
                f"{path}.{name}",
                f"'{name}' is not an input of {label} (its inputs: {', '.join(declared)}).",
            )
            continue
        selector = parse_selector(text, columns=columns)
        if selector is None:
            errors.add(f"{path}.{name}", f"'{text}' is not a selector; use $.dataset.<column>.")
        elif selector.source == "workflow":
            errors.add(
                f"{path}.{name}",
                "A workflow input reads the dataset: use $.dataset.<column>, not "
                "$.workflow.<output>.",
            )
        else:
            problem = _check_dataset_or_trace(
                selector, text, version=dataset_version, columns=columns
            )
            if problem:
                errors.add(f"{path}.{name}", problem)


SPAN_INPUT = "span"
# A span metric's question, unmapped in a dataset-only run over traces: the trace's input.
SPAN_DEFAULTS = {"question": "$.dataset.input"}


def span_metric_inputs(version) -> list[dict]:
    """What a span-level binding maps: ``trace`` (where its spans are) and the metric's
    declared inputs other than ``span`` (which the engine fills with each span)."""
    return [item for item in version.inputs or [] if item.get("name") != SPAN_INPUT]


def span_defaults(version, *, dataset_only: bool, trace_shaped: bool) -> dict[str, str]:
    """The selectors a span-level binding gets when they are not given (the sheet shows the
    same): ``trace`` is the row's ``$.dataset.trace`` in a dataset-only run, the workflow's
    ``$.workflow.spans`` otherwise; over a dataset of traces, ``question`` is its input."""
    from traces.span_scoring import DATASET_TRACE, WORKFLOW_SPANS

    defaults = {"trace": DATASET_TRACE if dataset_only else WORKFLOW_SPANS}
    if dataset_only and trace_shaped:
        others = {item["name"] for item in span_metric_inputs(version)}
        defaults.update({k: v for k, v in SPAN_DEFAULTS.items() if k in others})
    return defaults


def _span_target(raw, metric_version, mapping, path, errors, dataset_version, mode):
    """The validated ``span_type`` of a metric entry (None for a row-level metric). A
    span-level metric (input ``span``) needs one; other metrics cannot take one. The span
    list read is ``trace`` of the selector, defaulting to the row's ``$.dataset.trace``
    (dataset-only) or the workflow's ``$.workflow.spans``; the metric's other inputs (e.g.
    ``question``) are mapped like a row metric's. ``mapping`` is completed."""
    from traces.span_scoring import DATASET_TRACE, SPAN_TARGETS

    span_type = raw.get("span_type")
    span_metric = SPAN_INPUT in metric_version.input_names()
    if span_type in (None, ""):
        if span_metric:
            errors.add(
                f"{path}.span_type",
                "This metric scores trace spans: set span_type to one of "
                f"{', '.join(SPAN_TARGETS)}.",
            )
        return None
    if not isinstance(span_type, str) or span_type not in SPAN_TARGETS:
        errors.add(f"{path}.span_type", f"span_type must be one of {', '.join(SPAN_TARGETS)}.")
        return None
    if not span_metric:
        errors.add(
            f"{path}.span_type",
            "This metric scores rows, not spans: leave span_type out, or pick a span-level "
            "metric (tool call succeeded, tool arguments valid JSON or matching a JSON Schema, "
            "retriever chunk relevance, LLM span latency/tokens, or an LLM judge whose prompt "
            "uses {{span}} or {{span_...}}).",
        )
        return None
    others = {item["name"] for item in span_metric_inputs(metric_version)}
    trace_shaped = dataset_version is not None and dataset_version.is_trace_shaped
    for name, default in span_defaults(
        metric_version, dataset_only=mode == RunMode.DATASET_ONLY, trace_shaped=trace_shaped
    ).items():
        mapping.setdefault(name, default)
    if mode == RunMode.DATASET_ONLY:
        no_traces = dataset_version is not None and not dataset_version.is_trace_shaped
        if (
            no_traces
            and mapping["trace"] == DATASET_TRACE
            and "trace" not in dataset_version.column_names()
        ):
            errors.add(
                f"{path}.span_type",
                "Span-level metrics read the rows' traces: this dataset version has no "
                "trace column (use a dataset of ingested traces).",
            )
            return None
    selector = parse_selector(mapping["trace"])
    unknown = sorted(set(mapping) - {"trace"} - others)
    if selector is None or unknown:
        also = f"; and its inputs {', '.join(sorted(others))}" if others else ""
        errors.add(
            f"{path}.input_transformer.selector",
            "A span-level metric takes the selector trace (e.g. $.dataset.trace or "
            f"$.workflow.spans){also}" + (f"; not {', '.join(unknown)}." if unknown else "."),
        )
        return None
    return span_type


def _check_metric_inputs(
    metric: Metric,
    version: MetricVersion,
    mapping: dict[str, str],
    path: str,
    errors: _Errors,
    *,
    dataset_version: DatasetVersion,
    columns: list[str],
    workflow_version: WorkflowVersion | None,
    dataset_only: bool,
    exclude: tuple[str, ...] = (),
) -> None:
    """``exclude``: inputs the engine fills itself (a span binding's ``span``)."""
    declared = version.input_names()
    for name in version.required_input_names():
        if name not in mapping and name not in exclude:
            errors.add(
                f"{path}.{name}", f"Map the input '{name}' of metric '{metric.name}' to a selector."
            )
    outputs = workflow_version.output_names() if workflow_version is not None else []
    for name, text in mapping.items():
        if declared and name not in declared:
            errors.add(
                f"{path}.{name}",
                f"'{name}' is not an input of metric '{metric.name}' "
                f"(its inputs: {', '.join(declared)}).",
            )
            continue
        selector = parse_selector(text, columns=columns)
        if selector is None:
            errors.add(
                f"{path}.{name}",
                f"'{text}' is not a selector; use $.dataset.<column>, $.workflow.<output> "
                "or $.trace.",
            )
        elif selector.source == "workflow":
            if not dataset_only and workflow_version is None:
                continue  # the workflow itself is already reported as wrong
            if workflow_version is None:
                errors.add(
                    f"{path}.{name}",
                    f"{text} needs a workflow, but this is a dataset-only run: use "
                    "$.dataset.<column> or $.trace.",
                )
            elif selector.key not in outputs and selector.key not in SPECIAL_WORKFLOW_OUTPUTS:
                known = ", ".join([*outputs, *SPECIAL_WORKFLOW_OUTPUTS])
                errors.add(
                    f"{path}.{name}",
                    f"Workflow '{workflow_version.workflow.name}' v{workflow_version.number} "
                    f"has no output '{selector.key}'. Outputs: {known}.",
                )
        else:
            problem = _check_dataset_or_trace(
                selector, text, version=dataset_version, columns=columns
            )
            if problem:
                errors.add(f"{path}.{name}", problem)


def _check_star(plan: RunPlan, star_metric: Any, errors: _Errors) -> None:
    if star_metric in (None, {}):
        return
    if not isinstance(star_metric, dict):
        errors.add("star_metric", 'star_metric must be an object {"metric_id", "threshold"}.')
        return
    metric_id = _as_uuid(star_metric.get("metric_id"))
    for entry_index, entry in enumerate(plan.entries):
        for metric_index, planned in enumerate(entry.metrics):
            if planned.metric.id == metric_id:
                plan.star = (entry_index, metric_index)
                break
        if plan.star:
            break
    if plan.star is None:
        errors.add("star_metric.metric_id", "The star metric must be one of the run's metrics.")
    threshold = star_metric.get("threshold")
    if threshold in (None, ""):
        return
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(threshold, bool) or not math.isfinite(value):
        errors.add("star_metric.threshold", "The threshold must be a number.")
        return
    plan.star_threshold = value


def validate_run_config(
    *,
    project,
    name: Any,
    dataset_version_id: Any,
    config: Any,
    star_metric: Any = None,
    draft_ok: bool = False,
) -> RunPlan:
    """Resolve and check everything a run needs; raises one ValidationError listing all
    problems. Reads only.

    ``draft_ok``: the version may be a draft (or empty): monitors (``traces.monitors``) score
    rows ingested into a draft as they arrive, never the whole version."""
    errors = _Errors()
    if not isinstance(name, str) or not name.strip():
        errors.add("name", "Give the run a name.")
    elif len(name.strip()) > 200:
        errors.add("name", "The name is too long (200 characters at most).")
    version = _resolve_dataset_version(project, dataset_version_id, errors, draft_ok=draft_ok)
    if not isinstance(config, list) or not config:
        errors.add("config", "Add at least one entry: a workflow and/or the metrics to compute.")
        errors.raise_if_any()
    if len(config) > MAX_ENTRIES:
        errors.add("config", f"At most {MAX_ENTRIES} entries in one run.")
        errors.raise_if_any()

    has_workflow = [isinstance(raw, dict) and raw.get("workflow") is not None for raw in config]
    mode = RunMode.WITH_WORKFLOW if any(has_workflow) else RunMode.DATASET_ONLY
    columns = version.column_names() if version is not None else []
    entries: list[PlannedEntry] = []
    for index, raw in enumerate(config):
        path = f"config[{index}]"
        if not isinstance(raw, dict):
            errors.add(path, "Each entry must be an object with 'workflow' and 'metrics'.")
            continue
        workflow = workflow_version = None
        workflow_inputs: dict[str, str] = {}
        raw_workflow = raw.get("workflow")
        if mode == RunMode.WITH_WORKFLOW and raw_workflow is None:
            errors.add(
                f"{path}.workflow",
                "Pick a workflow: in a run with workflows every entry names one "
                "(or leave them all out for a dataset-only run).",
            )
        elif raw_workflow is not None:
            if not isinstance(raw_workflow, dict):
                errors.add(f"{path}.workflow", "workflow must be an object with an 'id'.")
            else:
                workflow, workflow_version = _resolve_workflow(
                    project, raw_workflow, f"{path}.workflow", errors
                )
                selector_path = f"{path}.workflow.input_transformer"
                workflow_inputs = _selector_map(
                    raw_workflow.get("input_transformer"), selector_path, errors
                )
                if workflow_version is not None and version is not None:
                    _check_workflow_inputs(
                        workflow_version,
                        workflow_inputs,
                        f"{selector_path}.selector",
                        errors,
                        dataset_version=version,
                        columns=columns,
                    )
        entry = PlannedEntry(workflow, workflow_version, workflow_inputs)
        raw_metrics = raw.get("metrics") or []
        if not isinstance(raw_metrics, list):
            errors.add(f"{path}.metrics", "metrics must be a list.")
            raw_metrics = []
        if not raw_metrics and mode == RunMode.DATASET_ONLY:
            errors.add(f"{path}.metrics", "Add at least one metric.")
        if len(raw_metrics) > MAX_METRICS_PER_ENTRY:
            errors.add(f"{path}.metrics", f"At most {MAX_METRICS_PER_ENTRY} metrics per entry.")
            raw_metrics = []
        for metric_index, raw_metric in enumerate(raw_metrics):
            metric_path = f"{path}.metrics[{metric_index}]"
            if not isinstance(raw_metric, dict):
                errors.add(metric_path, "Each metric must be an object with an 'id'.")
                continue
            metric, metric_version = _resolve_metric(project, raw_metric, metric_path, errors)
            selector_path = f"{metric_path}.input_transformer"
            mapping = _selector_map(raw_metric.get("input_transformer"), selector_path, errors)
            if metric_version is None:
                continue
            span_type = _span_target(
                raw_metric, metric_version, mapping, metric_path, errors, version, mode
            )
            if span_type is not None:
                if version is not None:
                    _check_metric_inputs(
                        metric,
                        metric_version,
                        {k: v for k, v in mapping.items() if k != "trace"},
                        f"{selector_path}.selector",
                        errors,
                        dataset_version=version,
                        columns=columns,
                        workflow_version=workflow_version,
                        dataset_only=mode == RunMode.DATASET_ONLY,
                        exclude=(SPAN_INPUT,),
                    )
                entry.metrics.append(PlannedMetric(metric, metric_version, mapping, span_type))
                continue
            if version is not None:
                _check_metric_inputs(
                    metric,
                    metric_version,
                    mapping,
                    f"{selector_path}.selector",
                    errors,
                    dataset_version=version,
                    columns=columns,
                    workflow_version=workflow_version,
                    dataset_only=mode == RunMode.DATASET_ONLY,
                )
            entry.metrics.append(PlannedMetric(metric, metric_version, mapping))
        entries.append(entry)

    plan = RunPlan(dataset_version=version, mode=mode, entries=entries)
    _check_star(plan, star_metric, errors)
    errors.raise_if_any()
    return plan
