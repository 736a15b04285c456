"""Reports of a gated run: JUnit XML (one test case per row and metric, so CI systems list
the failing rows), Markdown (for a job summary or a pull-request comment) and JSON (the
machine-readable verdict)."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from pathlib import Path

from evalsite_client.gate import (
    RunVerdict,
    describe_change,
    exit_code,
    metric_name,
    metric_stats,
)

MARKDOWN_FAILED_ROWS = 20
PREVIEW = 80


# --- per-row outcomes ---------------------------------------------------------------------


def _metric_cells(row: dict) -> Iterator[tuple[str, dict]]:
    metrics = row.get("metrics") or {}
    if isinstance(metrics, dict):
        for key, cell in metrics.items():
            cell = cell if isinstance(cell, dict) else {"number_value": cell}
            yield str(cell.get("metric_name") or cell.get("name") or key), cell
    elif isinstance(metrics, list):
        for cell in metrics:
            if isinstance(cell, dict):
                yield str(cell.get("metric_name") or cell.get("name") or ""), cell


def _passes(value, *, threshold: float, inverted: bool) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return False
    return value <= threshold if inverted else value >= threshold


def preview(data) -> str:
    """A short label for a row: its first text field."""
    if isinstance(data, dict):
        for key in ("question", "input", "prompt", "query"):
            if isinstance(data.get(key), str):
                return _short(data[key])
        for value in data.values():
            if isinstance(value, str) and value.strip():
                return _short(value)
    return ""


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"


class RowOutcome:
    """One row × metric: passed, failed (below the star threshold) or error."""

    __slots__ = (
        "row", "agent", "metric", "value", "kind", "message", "detail", "label", "seconds"
    )  # fmt: skip

    def __init__(self, row, agent, metric, value, kind, message, detail, label, seconds=None):
        self.row, self.agent, self.metric, self.value = row, agent, metric, value
        self.kind, self.message, self.detail, self.label = kind, message, detail, label
        self.seconds = seconds


CONTEXT_CHARS = 2000


def _value_text(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _context(row: dict) -> str:
    """What a reader of a failing row wants beside the score: the agent's output and the
    dataset row (each shortened)."""
    parts = []
    outputs = (row.get("workflow") or {}).get("outputs")
    if outputs not in (None, {}, ""):
        parts.append("workflow output: " + json.dumps(outputs, ensure_ascii=False)[:CONTEXT_CHARS])
    if row.get("data") not in (None, {}):
        parts.append("dataset row: " + json.dumps(row["data"], ensure_ascii=False)[:CONTEXT_CHARS])
    return "\n".join(parts)


def row_outcomes(rows: Iterable[dict], verdict: RunVerdict) -> Iterator[RowOutcome]:
    star = verdict.run.get("star_metric") or {}
    star_id = str(star.get("metric_id") or "")
    threshold = star.get("threshold")
    inverted = bool(verdict.star and verdict.star.get("inverted"))
    for row in rows:
        position = row.get("row", row.get("position"))
        agent = (row.get("workflow") or {}).get("name") or ""
        label = preview(row.get("data"))
        task_error = row.get("error") or ""
        failed_task = row.get("status") == "failed"
        cells = list(_metric_cells(row))
        latency = (row.get("workflow") or {}).get("latency_ms")
        seconds = latency / 1000 if isinstance(latency, int | float) else None
        if failed_task and not cells:
            yield RowOutcome(
                position, agent, "workflow", None, "error", task_error or "failed", "", label,
                seconds,
            )  # fmt: skip
        for name, cell in cells:
            value = cell.get("number_value")
            if value is None:
                value = cell.get("string_value")
            error = cell.get("error_description") or ""
            reasoning = cell.get("reasoning") or ""
            if failed_task:
                kind, message = "error", f"the agent call failed: {task_error or 'failed'}"
            elif error:
                kind, message = "error", error
            elif (
                star_id
                and str(cell.get("metric_id")) == star_id
                and threshold is not None
                and not _passes(value, threshold=threshold, inverted=inverted)
            ):
                sign = "≤" if inverted else "≥"
                kind = "failure"
                message = f"{name} = {_value_text(value)} misses the threshold ({sign} {threshold})"
            else:
                kind, message = "passed", ""
            detail = reasoning
            if kind != "passed":
                detail = "\n\n".join(p for p in (reasoning, _context(row)) if p)
            yield RowOutcome(position, agent, name, value, kind, message, detail, label, seconds)


# --- JUnit --------------------------------------------------------------------------------


def _suite_name(verdict: RunVerdict) -> str:
    return f"evalsite: {verdict.run.get('name') or verdict.run.get('id')}"


def write_junit(path: str, items: list[tuple[RunVerdict, list[RowOutcome]]]) -> None:
    root = ET.Element("testsuites", name="evalsite")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for verdict, outcomes in items:
        suite = ET.SubElement(root, "testsuite", name=_suite_name(verdict))
        props = ET.SubElement(suite, "properties")
        for key in ("id", "status", "pass_status", "dataset_version_id"):
            ET.SubElement(
                props, "property", name=f"evalsite.{key}", value=str(verdict.run.get(key))
            )
        counts = {"tests": 0, "failures": 0, "errors": 0}
        classname = f"evalsite.{verdict.run.get('name') or 'run'}"
        for check in verdict.checks:
            case = ET.SubElement(suite, "testcase", classname=f"{classname}.gate", name=check.name)
            counts["tests"] += 1
            if not check.passed:
                counts["failures"] += 1
                failure = ET.SubElement(case, "failure", message=check.message, type="gate")
                failure.text = check.message
        if not verdict.completed:
            case = ET.SubElement(suite, "testcase", classname=f"{classname}.gate", name="run")
            counts["tests"] += 1
            counts["errors"] += 1
            message = f"run {verdict.run.get('status')}: {verdict.run.get('error_description', '')}"
            ET.SubElement(case, "error", message=message.strip(), type="run").text = message
        for outcome in outcomes:
            agent = f"{outcome.agent}." if outcome.agent else ""
            name = f"row {outcome.row}: {outcome.metric}"
            if outcome.label:
                name += f" — {outcome.label}"
            case = ET.SubElement(suite, "testcase", classname=f"{classname}.{agent}rows", name=name)
            if outcome.seconds is not None:
                case.set("time", f"{outcome.seconds:.3f}")
            counts["tests"] += 1
            if outcome.kind == "failure":
                counts["failures"] += 1
                element = ET.SubElement(case, "failure", message=outcome.message, type="threshold")
                element.text = outcome.detail or outcome.message
            elif outcome.kind == "error":
                counts["errors"] += 1
                element = ET.SubElement(case, "error", message=outcome.message, type="error")
                element.text = "\n\n".join(p for p in (outcome.message, outcome.detail) if p)
            elif outcome.detail:
                ET.SubElement(case, "system-out").text = outcome.detail
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    Path(path).write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n")


# --- Markdown -----------------------------------------------------------------------------


def _cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def markdown(items: list[tuple[RunVerdict, list[RowOutcome]]], *, server: str) -> str:
    verdicts = [v for v, _ in items]
    code = exit_code(verdicts)
    title = {0: "passed", 1: "gate failed", 2: "run failed"}.get(code, "error")
    lines = [f"## evalsite: {title}", ""]
    for verdict, outcomes in items:
        run = verdict.run
        link = f"{server}/projects/{run.get('project_id')}/evaluations/{run.get('id')}/"
        mark = "✅" if verdict.passed else "❌"
        lines += [
            f"### {mark} [{_cell(run.get('name'))}]({link})",
            "",
            f"Status **{run.get('status')}**, "
            f"{(run.get('progress') or {}).get('done', 0)} of "
            f"{(run.get('progress') or {}).get('total', 0)} rows done, "
            f"{(run.get('progress') or {}).get('failed', 0)} failed.",
            "",
        ]
        if verdict.checks:
            lines += ["| check | result | detail |", "| --- | --- | --- |"]
            for check in verdict.checks:
                result = "pass" if check.passed else "**FAIL**"
                lines.append(f"| {_cell(check.name)} | {result} | {_cell(check.message)} |")
            lines.append("")
        lines += notes_md(verdict)
        lines += [
            "| metric | agent | n | errors | mean | median | p10 | p90 | pass rate |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for m in verdict.metrics:
            star = " ★" if m.get("is_star") else ""
            lines.append(
                f"| {_cell(m.get('metric_name'))}{star} | {_cell(m.get('workflow_name'))} | "
                f"{_cell(m.get('count'))} | {_cell(m.get('errors'))} | {_cell(m.get('mean'))} | "
                f"{_cell(m.get('median'))} | {_cell(m.get('p10'))} | {_cell(m.get('p90'))} | "
                f"{_cell(m.get('pass_rate'))} |"
            )
        lines.append("")
        if verdict.comparison:
            base = verdict.comparison.get("baseline") or {}
            lines += [
                f"Compared with baseline **{_cell(base.get('name'))}** (`{base.get('id')}`), "
                "rows paired by dataset item:",
                "",
                "| metric | baseline | this run | Δ | 95% CI | p | verdict |",
                "| --- | --- | --- | --- | --- | --- | --- |",
            ]
            for m in verdict.comparison.get("metrics") or []:
                s = metric_stats(m)
                ci = (
                    f"[{s['ci_low']:+.3g}, {s['ci_high']:+.3g}]"
                    if s.get("ci_low") is not None
                    else "—"
                )
                delta = f"{s['delta']:+.4g}" if s.get("delta") is not None else "—"
                lines.append(
                    f"| {_cell(metric_name(m))} | {_cell(s.get('mean_baseline'))} | "
                    f"{_cell(s.get('mean_other'))} | {delta} | {ci} | {_cell(s.get('p_value'))} | "
                    f"{_cell(m.get('verdict_label'))} (n={s.get('n')}) |"
                )
            lines.append("")
        failing = [o for o in outcomes if o.kind != "passed"]
        if failing:
            lines += [f"{len(failing)} failing row result(s):", ""]
            for o in failing[:MARKDOWN_FAILED_ROWS]:
                label = f" — {_cell(o.label)}" if o.label else ""
                lines.append(f"- row {o.row}, {_cell(o.metric)}{label}: {_cell(o.message)}")
            if len(failing) > MARKDOWN_FAILED_ROWS:
                lines.append(f"- … and {len(failing) - MARKDOWN_FAILED_ROWS} more")
            lines.append("")
    return "\n".join(lines)


def notes_md(verdict: RunVerdict) -> list[str]:
    return [f"_{note}_" for note in verdict.notes] + ([""] if verdict.notes else [])


# --- JSON ---------------------------------------------------------------------------------


def verdict_json(items: list[tuple[RunVerdict, list[RowOutcome]]], *, server: str) -> dict:
    verdicts = [v for v, _ in items]
    code = exit_code(verdicts)
    return {
        "passed": code == 0,
        "exit_code": code,
        "server": server,
        "runs": [
            {
                "id": v.run.get("id"),
                "name": v.run.get("name"),
                "status": v.run.get("status"),
                "pass_status": v.run.get("pass_status"),
                "passed": v.passed,
                "progress": v.run.get("progress"),
                "star_metric": v.run.get("star_metric"),
                "checks": [
                    {"name": c.name, "passed": c.passed, "message": c.message} for c in v.checks
                ],
                "notes": v.notes,
                "metrics": v.metrics,
                "baseline_id": (v.baseline or {}).get("id"),
                "comparison": v.comparison,
                "failing_rows": [
                    {
                        "row": o.row,
                        "agent": o.agent,
                        "metric": o.metric,
                        "value": o.value,
                        "kind": o.kind,
                        "message": o.message,
                    }
                    for o in outcomes
                    if o.kind != "passed"
                ],
            }
            for v, outcomes in items
        ],
    }


def write_json(path: str, body: dict) -> None:
    Path(path).write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")


__all__ = [
    "describe_change",
    "markdown",
    "row_outcomes",
    "verdict_json",
    "write_json",
    "write_junit",
]
