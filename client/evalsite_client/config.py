"""The ``--config`` file: seed 000's create body (``POST /v1/evaluations``) in JSON or YAML,
with names allowed wherever it takes ids. Names are resolved through the ``/v1`` list APIs
before the run is started, so a typo is reported with the field it is in and nothing starts.

Accepted besides ids:

- ``project_id`` (or ``project``): a project name; optional when the key sees one project;
- ``dataset_id`` (or ``dataset``): a dataset name;
- ``dataset_version_id`` (or ``dataset_version``): a version number such as ``1``; when
  omitted, the dataset's latest released version;
- ``config[i].workflow.id`` (or ``name``) and ``version_id`` (or ``version``: a number);
- ``config[i].metrics[j].id`` (or ``name``), ``version_id`` (or ``version``);
- ``star_metric.metric_id`` (or ``metric``).

A name matches exactly, else case-insensitively, else as the unique case-insensitive prefix
of one name ("Token F1" finds "Token F1 (SQuAD)"); an ambiguous name lists the candidates.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import yaml

from evalsite_client.api import Client


class ConfigError(Exception):
    """A problem with the config file, naming the field it is in."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


def load(path: str) -> dict:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("--config", f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        # YAML is a superset of JSON; a .json file is read strictly.
        body = json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError("--config", f"{path} is not valid JSON or YAML: {exc}") from exc
    if not isinstance(body, dict):
        raise ConfigError("--config", f"{path} must hold one object (the run's create body)")
    return body


def is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def pick(items: list[dict], wanted: str, *, field: str, kind: str, key: str = "name") -> dict:
    """The item whose ``key`` is ``wanted`` (an id, or a name matched as the module says)."""
    wanted_text = str(wanted).strip()
    if is_uuid(wanted_text):
        for item in items:
            if str(item.get("id")) == wanted_text:
                return item
        raise ConfigError(field, f"no {kind} with id {wanted_text}")
    names = [str(item.get(key) or "") for item in items]
    folded = wanted_text.casefold()
    for matches in (
        [i for i, n in enumerate(names) if n == wanted_text],
        [i for i, n in enumerate(names) if n.casefold() == folded],
        [i for i, n in enumerate(names) if re.match(re.escape(folded) + r"(\W|$)", n.casefold())],
    ):
        if len(matches) == 1:
            return items[matches[0]]
        if len(matches) > 1:
            listed = ", ".join(repr(names[i]) for i in matches[:8])
            raise ConfigError(
                field, f"{kind} {wanted_text!r} is ambiguous: {listed}; use the full name or id"
            )
    known = ", ".join(repr(n) for n in names[:12]) or "none"
    raise ConfigError(field, f"no {kind} named {wanted_text!r} (known: {known})")


def _version(versions: list[dict], wanted: Any, *, field: str, kind: str) -> dict:
    if is_uuid(wanted):
        return pick(versions, str(wanted), field=field, kind=f"{kind} version")
    try:
        number = int(str(wanted).lstrip("v"))
    except ValueError as exc:
        raise ConfigError(field, f"use a version id or a version number, not {wanted!r}") from exc
    for version in versions:
        if version.get("number") == number:
            return version
    known = ", ".join(str(v.get("number")) for v in versions) or "none"
    raise ConfigError(field, f"{kind} has no version {number} (versions: {known})")


def _take(mapping: dict, *names: str) -> Any:
    """The first of ``names`` present in ``mapping`` (removed from it), else None."""
    found = None
    for name in names:
        if name in mapping:
            value = mapping.pop(name)
            if found is None:
                found = value
    return found


class Resolver:
    """Turns a config with names into the create body the server takes (ids only)."""

    def __init__(self, client: Client):
        self.client = client
        self._metrics: list[dict] | None = None
        self._workflows: list[dict] | None = None
        self.project_id = ""

    def project(self, wanted: Any, *, field: str = "project_id") -> str:
        projects = self.client.get("/v1/projects").get("data") or []
        if wanted in (None, ""):
            if len(projects) == 1:
                return str(projects[0]["id"])
            names = ", ".join(repr(p.get("name")) for p in projects) or "none"
            raise ConfigError(field, f"name the project (this key sees: {names})")
        return str(pick(projects, wanted, field=field, kind="project")["id"])

    def metrics(self) -> list[dict]:
        if self._metrics is None:
            self._metrics = self.client.list_all("/v1/metrics", project_id=self.project_id)
        return self._metrics

    def workflows(self) -> list[dict]:
        if self._workflows is None:
            self._workflows = self.client.list_all("/v1/workflows", project_id=self.project_id)
        return self._workflows

    def metric_id(self, wanted: Any, *, field: str) -> str:
        if wanted in (None, ""):
            raise ConfigError(field, "give the metric's id or name")
        return str(pick(self.metrics(), wanted, field=field, kind="metric")["id"])

    def workflow_id(self, wanted: Any, *, field: str) -> str:
        if wanted in (None, ""):
            raise ConfigError(field, "give the workflow's id or name")
        return str(pick(self.workflows(), wanted, field=field, kind="workflow")["id"])

    def resolve(self, raw: dict) -> dict:
        body = json.loads(json.dumps(raw))  # a deep copy we may change
        self.project_id = self.project(_take(body, "project_id", "project"))
        out: dict = {"name": body.pop("name", None), "project_id": self.project_id}

        dataset_wanted = _take(body, "dataset_id", "dataset")
        if dataset_wanted in (None, ""):
            raise ConfigError("dataset_id", "give the dataset's id or name")
        datasets = self.client.list_all("/v1/datasets", project_id=self.project_id)
        dataset = pick(datasets, dataset_wanted, field="dataset_id", kind="dataset")
        out["dataset_id"] = str(dataset["id"])
        version_wanted = _take(body, "dataset_version_id", "dataset_version")
        versions = self.client.get(f"/v1/datasets/{dataset['id']}/versions").get("data") or []
        if version_wanted in (None, ""):
            released = [v for v in versions if v.get("status") == "released"]
            if not released:
                raise ConfigError("dataset_version_id", "the dataset has no released version")
            version = max(released, key=lambda v: v.get("number") or 0)
        else:
            version = _version(
                versions, version_wanted, field="dataset_version_id", kind="the dataset"
            )
        if version.get("status") not in (None, "released"):
            raise ConfigError(
                "dataset_version_id",
                f"version {version.get('number')} is a draft; only released versions run",
            )
        out["dataset_version_id"] = str(version["id"])

        entries = body.pop("config", None)
        if not isinstance(entries, list) or not entries:
            raise ConfigError("config", "a non-empty list of {workflow, metrics} entries")
        out["config"] = [self._entry(entry, f"config[{i}]") for i, entry in enumerate(entries)]

        star = body.pop("star_metric", None)
        if star is not None:
            if not isinstance(star, dict):
                raise ConfigError("star_metric", "an object: {metric_id, threshold}")
            star = dict(star)
            wanted = _take(star, "metric_id", "metric", "name", "id")
            star["metric_id"] = self.metric_id(wanted, field="star_metric.metric_id")
            out["star_metric"] = star
        out.update(body)  # anything else goes to the server as written
        return out

    def _entry(self, entry: Any, field: str) -> dict:
        if not isinstance(entry, dict):
            raise ConfigError(field, "an object with `metrics` and an optional `workflow`")
        entry = dict(entry)
        workflow = entry.get("workflow")
        if workflow is not None:
            if not isinstance(workflow, dict):
                raise ConfigError(f"{field}.workflow", "an object with `id` (or `name`)")
            workflow = dict(workflow)
            wanted = _take(workflow, "id", "name")
            workflow["id"] = self.workflow_id(wanted, field=f"{field}.workflow.id")
            version = _take(workflow, "version_id", "version")
            if version not in (None, ""):
                versions = self.client.get(f"/v1/workflows/{workflow['id']}/versions")
                workflow["version_id"] = str(
                    _version(
                        versions.get("data") or [],
                        version,
                        field=f"{field}.workflow.version_id",
                        kind="the workflow",
                    )["id"]
                )
            entry["workflow"] = workflow
        metrics = entry.get("metrics")
        if not isinstance(metrics, list) or not metrics:
            raise ConfigError(f"{field}.metrics", "a non-empty list of metrics")
        entry["metrics"] = [
            self._metric(metric, f"{field}.metrics[{j}]") for j, metric in enumerate(metrics)
        ]
        return entry

    def _metric(self, metric: Any, field: str) -> dict:
        if isinstance(metric, str):
            metric = {"id": metric}
        if not isinstance(metric, dict):
            raise ConfigError(field, "an object with `id` (or `name`) and `input_transformer`")
        metric = dict(metric)
        wanted = _take(metric, "id", "name")
        metric["id"] = self.metric_id(wanted, field=f"{field}.id")
        version = _take(metric, "version_id", "version")
        if version not in (None, ""):
            versions = self.client.get(f"/v1/metrics/{metric['id']}/versions").get("data") or []
            metric["version_id"] = str(
                _version(versions, version, field=f"{field}.version_id", kind="the metric")["id"]
            )
        return metric
