"""Reports of a gated run: JUnit XML (one test case per row and metric, so CI systems list
the failing rows), Markdown (for a job summary or a pull-request comment) and JSON (the
machine-readable verdict)."""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from evalsite_client.gate import (
    RunVerdict,
    describe_change,
    exit_code,
    metric_name,
    metric_stats,
)

MARKDOWN_FAILED_ROWS = 20
KEEP_FAILING = 1000  # failing rows kept for the Markdown and JSON reports
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

# Characters XML 1.0 cannot carry (an agent's reply may hold any of them).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _xml_text(value) -> str:
    return escape(_NOT_XML.sub("\ufffd", str(value)))


def _xml_attr(value) -> str:
    return quoteattr(_NOT_XML.sub("\ufffd", str(value)))


def _case(classname: str, name: str, *, kind: str = "passed", message: str = "", text: str = "",
          kind_type: str = "", seconds: float | None = None) -> str:  # fmt: skip
    time = f" time={_xml_attr(f'{seconds:.3f}')}" if seconds is not None else ""
    head = f"    <testcase classname={_xml_attr(classname)} name={_xml_attr(name)}{time}"
    if kind == "passed":
        if not text:
            return head + " />\n"
        return f"{head}>\n      <system-out>{_xml_text(text)}</system-out>\n    </testcase>\n"
    tag = "failure" if kind == "failure" else "error"
    return (
        f"{head}>\n      <{tag} message={_xml_attr(message)} type={_xml_attr(kind_type)}>"
        f"{_xml_text(text or message)}</{tag}>\n    </testcase>\n"
    )


def _suite_name(verdict: RunVerdict) -> str:
    return f"evalsite: {verdict.run.get('name') or verdict.run.get('id')}"


def _classname(verdict: RunVerdict) -> str:
    return f"evalsite.{verdict.run.get('name') or 'run'}"


class RowReport:
    """The row outcomes of one run, in one pass and bounded memory: counts, the first failing
    rows (for Markdown and JSON), and, when a JUnit file is wanted, its test cases spooled
    to a temporary file (a 100,000-row run is never held in memory)."""

    def __init__(self, verdict: RunVerdict, *, junit: bool, keep: int | None = None):
        self.verdict = verdict
        self.keep = KEEP_FAILING if keep is None else keep
        self.tests = self.failures = self.errors = 0
        self.failing: list[RowOutcome] = []
        self.failing_total = 0
        # Closed by close(), after the report is written.
        self.cases = tempfile.TemporaryFile("w+", encoding="utf-8") if junit else None  # noqa: SIM115

    def add(self, outcome: RowOutcome) -> None:
        self.tests += 1
        if outcome.kind == "failure":
            self.failures += 1
        elif outcome.kind == "error":
            self.errors += 1
        if outcome.kind != "passed":
            self.failing_total += 1
            if len(self.failing) < self.keep:
                self.failing.append(outcome)
        if self.cases is None:
            return
        agent = f"{outcome.agent}." if outcome.agent else ""
        name = f"row {outcome.row}: {outcome.metric}"
        if outcome.label:
            name += f" — {outcome.label}"
        if outcome.kind == "error":
            text = "\n\n".join(p for p in (outcome.message, outcome.detail) if p)
        else:
            text = outcome.detail
        self.cases.write(
            _case(
                f"{_classname(self.verdict)}.{agent}rows",
                name,
                kind=outcome.kind,
                message=outcome.message,
                text=text,
                kind_type="threshold" if outcome.kind == "failure" else "error",
                seconds=outcome.seconds,
            )
        )

    def close(self) -> None:
        if self.cases is not None:
            self.cases.close()


def collect(rows: Iterable[dict], verdict: RunVerdict, *, junit: bool) -> RowReport:
    report = RowReport(verdict, junit=junit)
    for outcome in row_outcomes(rows, verdict):
        report.add(outcome)
    return report


def empty(verdict: RunVerdict) -> RowReport:
    """No rows (a canceled run, or no report asked for)."""
    return RowReport(verdict, junit=False)


def write_junit(path: str, items: list[tuple[RunVerdict, RowReport]]) -> None:
    suites = []
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for verdict, report in items:
        classname = _classname(verdict)
        gate_cases = []
        counts = {"tests": report.tests, "failures": report.failures, "errors": report.errors}
        for check in verdict.checks:
            counts["tests"] += 1
            if not check.passed:
                counts["failures"] += 1
            gate_cases.append(
                _case(
                    f"{classname}.gate",
                    check.name,
                    kind="passed" if check.passed else "failure",
                    message=check.message,
                    kind_type="gate",
                )
            )
        if not verdict.completed:
            counts["tests"] += 1
            counts["errors"] += 1
            message = f"run {verdict.run.get('status')}: {verdict.run.get('error_description', '')}"
            gate_cases.append(
                _case(
                    f"{classname}.gate",
                    "run",
                    kind="error",
                    message=message.strip(),
                    kind_type="run",
                )  # fmt: skip
            )
        for key, value in counts.items():
            totals[key] += value
        suites.append((verdict, report, counts, gate_cases))
    with open(path, "w", encoding="utf-8") as out:
        out.write("<?xml version='1.0' encoding='utf-8'?>\n")
        out.write(
            f'<testsuites name="evalsite" tests="{totals["tests"]}" '
            f'failures="{totals["failures"]}" errors="{totals["errors"]}">\n'
        )
        for verdict, report, counts, gate_cases in suites:
            out.write(
                f'  <testsuite name={_xml_attr(_suite_name(verdict))} tests="{counts["tests"]}" '
                f'failures="{counts["failures"]}" errors="{counts["errors"]}">\n'
                "    <properties>\n"
            )
            for key in ("id", "status", "pass_status", "dataset_version_id"):
                out.write(
                    f"      <property name={_xml_attr('evalsite.' + key)} "
                    f"value={_xml_attr(verdict.run.get(key))} />\n"
                )
            out.write("    </properties>\n")
            out.writelines(gate_cases)
            if report.cases is not None:
                report.cases.seek(0)
                shutil.copyfileobj(report.cases, out)
            out.write("  </testsuite>\n")
        out.write("</testsuites>\n")


# --- Markdown -----------------------------------------------------------------------------


def _cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def markdown(items: list[tuple[RunVerdict, RowReport]], *, server: str) -> str:
    verdicts = [v for v, _ in items]
    code = exit_code(verdicts)
    title = {0: "passed", 1: "gate failed", 2: "run failed"}.get(code, "error")
    lines = [f"## evalsite: {title}", ""]
    for verdict, report in items:
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
        if report.failing_total:
            lines += [
                f"{report.failing_total} row result(s) below the star threshold or in error:",
                "",
            ]
            listed = report.failing[:MARKDOWN_FAILED_ROWS]
            for o in listed:
                label = f" — {_cell(o.label)}" if o.label else ""
                lines.append(f"- row {o.row}, {_cell(o.metric)}{label}: {_cell(o.message)}")
            if report.failing_total > len(listed):
                lines.append(f"- … and {report.failing_total - len(listed)} more")
            lines.append("")
    return "\n".join(lines)


def notes_md(verdict: RunVerdict) -> list[str]:
    return [f"_{note}_" for note in verdict.notes] + ([""] if verdict.notes else [])


# --- JSON ---------------------------------------------------------------------------------


def verdict_json(items: list[tuple[RunVerdict, RowReport]], *, server: str) -> dict:
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
                    for o in report.failing
                ],
                "failing_rows_total": report.failing_total,
            }
            for v, report in items
        ],
    }


def write_json(path: str, body: dict) -> None:
    Path(path).write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")


__all__ = [
    "collect",
    "describe_change",
    "markdown",
    "row_outcomes",
    "verdict_json",
    "write_json",
    "write_junit",
]
