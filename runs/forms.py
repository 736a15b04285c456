"""The New Evaluation Run sheet's state: parsed from the submitted fields, turned into the
Dynamiq-shaped ``config`` that ``runs.services.run_start`` validates (the same validation as
the API), and the service's error paths mapped back onto the sheet's fields.

Field names: ``name``, ``dataset``, ``dataset_version``, ``mode``, ``token`` (the one-time
idempotency key); per agent ``agent-<i>-workflow``, ``agent-<i>-version``,
``agent-<i>-input-<param>``; per metric ``metric-<j>-metric``, ``metric-<j>-version``,
``metric-<j>-input-<name>``, ``metric-<j>-span_type`` (empty: score the row; else the
spans of that type it scores); ``star`` (a metric index) and ``threshold``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from runs.models import RunMode

MAX_ROWS = 20
AGENT_KEY = re.compile(r"^agent-(\d+)-workflow$")
METRIC_KEY = re.compile(r"^metric-(\d+)-metric$")
ERROR_PATH = re.compile(r"^config\[(\d+)\](?:\.(workflow|metrics)(?:\[(\d+)\])?(?:\.(.*))?)?$")
SELECTOR_PREFIX = "input_transformer.selector."


@dataclass
class AgentRow:
    workflow_id: str = ""
    version_id: str = ""
    inputs: dict[str, str] = field(default_factory=dict)


@dataclass
class MetricRow:
    metric_id: str = ""
    version_id: str = ""
    inputs: dict[str, str] = field(default_factory=dict)
    span_type: str = ""  # "" scores the row; TRACE_SPAN_TYPE_* scores each span of it


def _prefixed(data, prefix: str) -> dict[str, str]:
    return {
        key[len(prefix) :]: (data.get(key) or "").strip()
        for key in data
        if key.startswith(prefix) and len(key) > len(prefix)
    }


def _indices(data, pattern: re.Pattern) -> list[int]:
    found = sorted({int(m.group(1)) for key in data if (m := pattern.match(key))})
    return found[:MAX_ROWS]


@dataclass
class SheetState:
    name: str = ""
    dataset_id: str = ""
    version_id: str = ""
    mode: str = RunMode.WITH_WORKFLOW
    token: str = ""
    agents: list[AgentRow] = field(default_factory=list)
    metrics: list[MetricRow] = field(default_factory=list)
    star: int | None = None
    threshold: str = ""
    # Run options (runs.options): as typed, checked by the service.
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def initial(cls) -> SheetState:
        # No empty pre-filled slots: "Add agent" / "Add metric" add the first ones.
        return cls(token=uuid.uuid4().hex)

    @classmethod
    def from_data(cls, data) -> SheetState:
        mode = data.get("mode") or RunMode.WITH_WORKFLOW
        if mode not in RunMode.values:
            mode = RunMode.WITH_WORKFLOW
        state = cls(
            name=(data.get("name") or "").strip()[:200],
            dataset_id=(data.get("dataset") or "").strip(),
            version_id=(data.get("dataset_version") or "").strip(),
            mode=mode,
            token=(data.get("token") or "").strip()[:64] or uuid.uuid4().hex,
            threshold=(data.get("threshold") or "").strip()[:40],
        )
        from runs.options import CACHE_FIELDS, CAP_FIELDS

        for name in ("repetitions", *CAP_FIELDS):
            state.options[name] = (data.get(name) or "").strip()[:40]
        if data.get("options_sent"):
            for name in CACHE_FIELDS:
                state.options[name] = "on" if data.get(name) else "off"
        for i in _indices(data, AGENT_KEY):
            state.agents.append(
                AgentRow(
                    workflow_id=(data.get(f"agent-{i}-workflow") or "").strip(),
                    version_id=(data.get(f"agent-{i}-version") or "").strip(),
                    inputs=_prefixed(data, f"agent-{i}-input-"),
                )
            )
        for j in _indices(data, METRIC_KEY):
            state.metrics.append(
                MetricRow(
                    metric_id=(data.get(f"metric-{j}-metric") or "").strip(),
                    version_id=(data.get(f"metric-{j}-version") or "").strip(),
                    inputs=_prefixed(data, f"metric-{j}-input-"),
                    span_type=(data.get(f"metric-{j}-span_type") or "").strip()[:40],
                )
            )
        star = (data.get("star") or "").strip()
        if star.isdigit() and int(star) < len(state.metrics):
            state.star = int(star)
        return state

    @property
    def with_workflow(self) -> bool:
        return self.mode == RunMode.WITH_WORKFLOW

    def apply(self, action: str) -> None:
        """Add or remove an agent or metric row (the sheet's buttons)."""
        # A click while the last slot is still empty focuses that slot instead of adding a
        # second blank one (which Start would then refuse).
        if action == "add_agent" and len(self.agents) < MAX_ROWS:
            if not self.agents or self.agents[-1].workflow_id:
                self.agents.append(AgentRow())
        elif action == "add_metric" and len(self.metrics) < MAX_ROWS:
            if not self.metrics or self.metrics[-1].metric_id:
                self.metrics.append(MetricRow())
        elif action.startswith("remove_agent:"):
            index = action.split(":", 1)[1]
            if index.isdigit() and int(index) < len(self.agents):
                del self.agents[int(index)]
        elif action.startswith("remove_metric:"):
            index = action.split(":", 1)[1]
            if index.isdigit() and int(index) < len(self.metrics):
                del self.metrics[int(index)]
                if self.star is not None:
                    removed = int(index)
                    self.star = (
                        None
                        if self.star == removed
                        else self.star - (1 if self.star > removed else 0)
                    )

    # --- to the service ----------------------------------------------------------------------

    def _metric_config(self) -> list[dict]:
        config = []
        for row in self.metrics:
            item = {
                "id": row.metric_id,
                "input_transformer": {"selector": {k: v for k, v in row.inputs.items() if v}},
            }
            if row.version_id:
                item["version_id"] = row.version_id
            if row.span_type:
                item["span_type"] = row.span_type
            config.append(item)
        return config

    def config(self) -> list[dict]:
        metrics = self._metric_config()
        if not self.with_workflow:
            return [{"workflow": None, "metrics": metrics}]
        return [
            {
                "workflow": {
                    "id": agent.workflow_id,
                    **({"version_id": agent.version_id} if agent.version_id else {}),
                    "input_transformer": {"selector": {k: v for k, v in agent.inputs.items() if v}},
                },
                "metrics": metrics,
            }
            for agent in self.agents
        ]

    def star_metric(self) -> dict | None:
        if self.star is None or self.star >= len(self.metrics):
            return None
        return {"metric_id": self.metrics[self.star].metric_id, "threshold": self.threshold or None}

    def precheck(self) -> dict[str, list[str]]:
        """What the sheet itself can tell before calling the service: the pieces that the
        Dynamiq shape cannot express (the mode with no agent, a row left empty)."""
        errors: dict[str, list[str]] = {}
        if not self.dataset_id:
            errors["dataset"] = ["Choose a dataset."]
        elif not self.version_id:
            errors["dataset_version"] = ["Choose a released version."]
        if self.with_workflow:
            if not self.agents:
                errors["agents"] = ["Add an agent, or choose Dataset only."]
            for i, agent in enumerate(self.agents):
                if not agent.workflow_id:
                    errors[f"agent-{i}-workflow"] = ["Choose an agent."]
        if not self.metrics and not self.with_workflow:
            errors["metrics"] = ["Add at least one metric."]
        for j, metric in enumerate(self.metrics):
            if not metric.metric_id:
                errors[f"metric-{j}-metric"] = ["Choose a metric, or remove this row."]
        return errors

    def run_options(self) -> dict:
        """The options as the service takes them (empty fields: defaults / no cap)."""
        return {name: value for name, value in self.options.items() if value != ""}

    def map_errors(self, message_dict: dict[str, list[str]]) -> dict[str, list[str]]:
        """Service error paths -> sheet field names (one message once per field)."""
        mapped: dict[str, list[str]] = {}

        def add(key: str, messages: list[str]) -> None:
            bucket = mapped.setdefault(key, [])
            for message in messages:
                if message not in bucket:
                    bucket.append(message)

        for path, messages in message_dict.items():
            if path == "name":
                add("name", messages)
            elif path == "dataset_version_id":
                add("dataset_version", messages)
            elif path.startswith("star_metric"):
                add("threshold" if path.endswith("threshold") else "star", messages)
            elif path == "config":
                add("agents" if self.with_workflow else "metrics", messages)
            elif path in self.options or path == "repetitions":
                add(path, messages)
            elif match := ERROR_PATH.match(path):
                add(self._config_error_key(match), messages)
            else:
                add("__all__", messages)
        return mapped

    def _config_error_key(self, match: re.Match) -> str:
        entry, part, metric_index, rest = match.groups()
        rest = rest or ""
        if part == "workflow":
            prefix = f"agent-{entry}"
            if rest.startswith(SELECTOR_PREFIX):
                return f"{prefix}-input-{rest[len(SELECTOR_PREFIX) :]}"
            if rest == "version_id":
                return f"{prefix}-version"
            return f"{prefix}-workflow"
        if part == "metrics" and metric_index is not None:
            prefix = f"metric-{metric_index}"
            if rest.startswith(SELECTOR_PREFIX):
                return f"{prefix}-input-{rest[len(SELECTOR_PREFIX) :]}"
            if rest == "version_id":
                return f"{prefix}-version"
            if rest == "span_type":
                return f"{prefix}-span_type"
            return f"{prefix}-metric"
        return "metrics" if part == "metrics" else "agents"
