"""The reports on their own: JUnit XML stays well-formed whatever an agent answered, and rows
stream through in one pass (the Markdown and JSON keep only the first failing rows)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from evalsite_client import reports
from evalsite_client.gate import Check, RunVerdict

RUN = {
    "id": "r1",
    "name": "nightly <main>",
    "project_id": "p1",
    "status": "partially_succeeded",
    "pass_status": False,
    "star_metric": {"metric_id": "m1", "threshold": 0.5},
    "progress": {"done": 3, "total": 3, "failed": 1},
}


def rows(count: int, *, answer: str = "ok"):
    for i in range(count):
        yield {
            "row": i,
            "status": "failed" if i == 2 else "succeeded",
            "error": "HTTP 500 from agent" if i == 2 else "",
            "data": {"question": f"q{i} & <b>\x01"},
            "workflow": {"name": "Bot", "outputs": {"answer": answer}, "latency_ms": 250},
            "metrics": {
                "F1": {"metric_id": "m1", "number_value": 0.9 if i % 2 == 0 else 0.1},
            },
        }


def verdict() -> RunVerdict:
    v = RunVerdict(run=RUN, metrics=[{"metric_name": "F1", "is_star": True, "inverted": False}])
    v.checks.append(Check("star metric F1", False, 'mean 0.4 misses the threshold (≥ 0.5) "x"'))
    return v


def test_junit_is_well_formed_with_control_characters_and_markup_in_answers(tmp_path):
    v = verdict()
    report = reports.collect(rows(3, answer="bad \x00\x07 byte ]]> <tag>"), v, junit=True)
    path = tmp_path / "junit.xml"

    reports.write_junit(str(path), [(v, report)])

    root = ET.parse(path).getroot()  # noqa: S314 - our own report
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "2", "1")
    cases = {c.get("name"): c for c in root.iter("testcase")}
    failure = cases["row 1: F1 — q1 & <b>\ufffd"].find("failure")
    assert failure.get("message") == "F1 = 0.1 misses the threshold (≥ 0.5)"
    assert '"answer": "bad \\u0000\\u0007 byte ]]> <tag>"' in failure.text
    assert cases["row 1: F1 — q1 & <b>\ufffd"].get("time") == "0.250"
    error = cases["row 2: F1 — q2 & <b>\ufffd"].find("error")
    assert "HTTP 500 from agent" in error.get("message")
    assert cases["star metric F1"].find("failure") is not None
    [suite] = root.iter("testsuite")
    assert suite.get("name") == "evalsite: nightly <main>"


def test_markdown_and_json_keep_only_the_first_failing_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(reports, "KEEP_FAILING", 5)
    v = verdict()
    report = reports.collect(rows(40), v, junit=False)

    body = reports.verdict_json([(v, report)], server="http://x")
    text = reports.markdown([(v, report)], server="http://x")

    assert report.tests == 40 and report.failing_total == 21  # 20 below threshold, 1 error
    [run] = body["runs"]
    assert run["failing_rows_total"] == 21 and len(run["failing_rows"]) == 5
    assert "21 row result(s) below the star threshold or in error" in text
    assert text.count("\n- row ") == 5 and "- … and 16 more" in text
    json.dumps(body)


def test_junit_failures_carry_the_metric_reasoning_and_errors_the_metric_error(tmp_path):
    v = verdict()
    judged = [
        {
            "row": 0,
            "status": "succeeded",
            "data": {"question": "Refund window?"},
            "workflow": {"name": "Bot", "outputs": {"answer": "No idea"}},
            "metrics": {
                "F1": {
                    "metric_id": "m1",
                    "number_value": 0.2,
                    "reasoning": "The answer omits the 30-day window.",
                },
            },
        },
        {
            "row": 1,
            "status": "succeeded",
            "data": {"question": "Warranty?"},
            "workflow": {"name": "Bot", "outputs": {"answer": "Two years"}},
            "metrics": {
                "F1": {
                    "metric_id": "m1",
                    "number_value": None,
                    "reasoning": "",
                    "error_description": "judge answered 429: rate limited",
                },
            },
        },
        {
            "row": 2,
            "status": "succeeded",
            "data": {"question": "Shipping?"},
            "workflow": {"name": "Bot", "outputs": {"answer": "EU only"}},
            "metrics": {
                "F1": {"metric_id": "m1", "number_value": 0.9, "reasoning": "Matches."},
            },
        },
    ]
    report = reports.collect(judged, v, junit=True)
    path = tmp_path / "junit.xml"

    reports.write_junit(str(path), [(v, report)])

    cases = {c.get("name"): c for c in ET.parse(path).getroot().iter("testcase")}  # noqa: S314
    failure = cases["row 0: F1 — Refund window?"].find("failure")
    assert failure.get("message") == "F1 = 0.2 misses the threshold (≥ 0.5)"
    assert failure.text.startswith("The answer omits the 30-day window.")
    assert '"answer": "No idea"' in failure.text  # the agent's output, for context
    error = cases["row 1: F1 — Warranty?"].find("error")
    assert error.get("message") == "judge answered 429: rate limited"
    assert "judge answered 429: rate limited" in error.text
    passed = cases["row 2: F1 — Shipping?"]
    assert passed.find("failure") is None and passed.find("error") is None
    assert passed.find("system-out").text == "Matches."
