"""The ``evalsite`` command, run as a subprocess against a live server (gunicorn) and a real
``qcluster``, with a local fake agent whose answers each test controls: exit codes, the gate,
the paired regression check, idempotent retries, and the JUnit / Markdown / JSON reports."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from runs.models import EvaluationRun, RunStatus
from runs.services import run_cancel
from tests.runs.conftest import builtin, qa_rows
from tests.support.controlled_agent import ControlledAgent, questions
from tests.support.processes import qcluster, wait_until, web_server
from tests.workflows.fake_servers import FakeServer

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

EVALSITE = Path(sys.executable).with_name("evalsite")
CI_VARIABLES = ("GITHUB_", "GITLAB_CI", "CI_", "BUILDKITE", "EVALSITE_")


def command_and_env(*args: str, key: str, server: str | None, **env: str):
    """The installed console script and a CI job's environment (no CI variables of ours)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(CI_VARIABLES)}
    clean.update(EVALSITE_API_KEY=key, **env)
    command = [str(EVALSITE), *args]
    if server:
        command[2:2] = ["--server", server]
    return command, clean


def evalsite(*args: str, key: str, server: str | None = None, cwd: Path, **env: str):
    """Run the installed console script the way a CI job would."""
    command, clean = command_and_env(*args, key=key, server=server, **env)
    return subprocess.run(
        command, cwd=cwd, env=clean, capture_output=True, text=True, timeout=240, check=False
    )


def config_file(path: Path, *, threshold: float, metric: str = "Exact match", **extra) -> Path:
    """Seed 000's create body, with names where it takes ids."""
    body = {
        "name": "support-agent-ci",
        "dataset_id": "QA",
        "dataset_version": 1,
        "config": [
            {
                "workflow": {
                    "id": "Agent",
                    "input_transformer": {"selector": {"question": "$.dataset.question"}},
                },
                "metrics": [
                    {
                        "id": metric,
                        "input_transformer": {
                            "selector": {
                                "response": "$.workflow.answer",
                                "expected": "$.dataset.ground_truth_answer",
                            }
                        },
                    }
                ],
            }
        ],
        "star_metric": {"metric_id": metric, "threshold": threshold},
        **extra,
    }
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


@pytest.fixture
def live(api, make_dataset, make_agent):
    """Server, worker and controlled agent; a 30-row dataset "QA" and an agent "Agent"."""
    builtin("exact_match")
    agent = ControlledAgent()
    with FakeServer(agent) as agent_server:
        make_dataset(qa_rows(30))
        make_agent(agent_server.url)
        agent.url = agent_server.url
        with web_server() as base, qcluster(log_name="client-qcluster"):
            agent.base = base
            agent.key = api.raw_key
            yield agent


def junit_cases(path: Path) -> list[ET.Element]:
    root = ET.parse(path).getroot()  # noqa: S314 - our own report
    return list(root.iter("testcase"))


def test_a_passing_run_exits_0_and_a_retried_job_follows_the_same_run(live, tmp_path):
    config = config_file(tmp_path / "eval.yaml", threshold=0.9)
    job = {"GITHUB_RUN_ID": "4242", "GITHUB_JOB": "evaluate", "GITHUB_REPOSITORY": "acme/bot"}
    reports = ["--junit", "junit.xml", "--markdown", "summary.md", "--json", "verdict.json"]

    first = evalsite(
        "run", "--config", str(config), *reports,
        server=live.base, key=live.key, cwd=tmp_path, GITHUB_RUN_ATTEMPT="1", **job,
    )  # fmt: skip

    assert first.returncode == 0, first.stdout + first.stderr
    assert "gate passed" in first.stdout
    assert "Exact match ★" in first.stdout
    cases = junit_cases(tmp_path / "junit.xml")
    rows = [c for c in cases if c.get("classname").endswith(".rows")]
    assert len(rows) == 30
    assert not any(c.find("failure") is not None or c.find("error") is not None for c in cases)
    assert any(c.get("name").startswith("star metric Exact match") for c in cases)
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["passed"] is True and verdict["exit_code"] == 0
    [run] = verdict["runs"]
    assert run["status"] == "succeeded" and run["pass_status"] is True
    assert "## evalsite: passed" in (tmp_path / "summary.md").read_text()

    retried = evalsite(
        "run", "--config", str(config),
        server=live.base, key=live.key, cwd=tmp_path, GITHUB_RUN_ATTEMPT="2", **job,
    )  # fmt: skip

    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert EvaluationRun.objects.count() == 1
    assert run["id"] in retried.stderr

    other_job = evalsite(
        "run", "--config", str(config),
        server=live.base, key=live.key, cwd=tmp_path, GITHUB_RUN_ID="4243", GITHUB_JOB="evaluate",
    )  # fmt: skip
    assert other_job.returncode == 0
    assert EvaluationRun.objects.count() == 2

    status = evalsite("status", run["id"], server=live.base, key=live.key, cwd=tmp_path)
    assert status.returncode == 0 and "status succeeded" in status.stdout
    download = evalsite(
        "download", run["id"], "--format", "jsonl", server=live.base, key=live.key, cwd=tmp_path
    )
    lines = [json.loads(line) for line in download.stdout.splitlines()]
    assert download.returncode == 0 and len(lines) == 30
    assert {line["row"] for line in lines} == set(range(30))


def test_a_star_metric_below_its_threshold_exits_1_with_junit_failures_naming_the_rows(
    live, tmp_path
):
    wrong = [3, 7, 11, 15, 19, 23, 27]
    live.wrong = questions(wrong)
    live.broken = questions([5, 6])
    config = config_file(tmp_path / "eval.yaml", threshold=0.9)

    done = evalsite(
        "run", "--config", str(config), "--junit", "junit.xml", "--max-failed-rows", "1",
        server=live.base, key=live.key, cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 1, done.stdout + done.stderr
    assert "gate failed" in done.stdout
    cases = junit_cases(tmp_path / "junit.xml")
    failed = [c for c in cases if c.find("failure") is not None]
    gate = [c for c in failed if c.get("classname").endswith(".gate")]
    gate_failures = sorted(c.find("failure").get("message") for c in gate)
    assert len(gate) == 2
    assert gate_failures[0] == "2 row(s) failed (at most 1 allowed)"
    assert "misses the threshold" in gate_failures[1]
    failed_rows = sorted(c.get("name") for c in failed if c.get("classname").endswith(".rows"))
    assert failed_rows == sorted(f"row {i}: Exact match — q{i}" for i in wrong)
    errors = {
        c.get("name"): c.find("error").get("message") for c in cases if c.find("error") is not None
    }
    assert sorted(errors) == ["row 5: Exact match — q5", "row 6: Exact match — q6"]
    assert all("500" in message for message in errors.values()), errors
    root = ET.parse(tmp_path / "junit.xml").getroot()  # noqa: S314
    assert root.get("failures") == str(len(wrong) + 2) and root.get("errors") == "2"
    assert root.get("tests") == "32"


def test_a_failed_run_exits_2_with_its_rows_as_errors(live, tmp_path):
    live.broken = questions(range(30))  # every agent call answers 500: the run fails
    config = config_file(tmp_path / "eval.yaml", threshold=0.5)

    done = evalsite(
        "run", "--config", str(config), "--junit", "junit.xml", "--json", "verdict.json",
        server=live.base, key=live.key, cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 2, done.stdout + done.stderr
    assert "run failed (exit 2)" in done.stdout
    assert re.search(r"run finished\s+│\s+failed", done.stdout), done.stdout
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["passed"] is False and verdict["exit_code"] == 2
    [run] = verdict["runs"]
    assert run["status"] == "failed"
    assert EvaluationRun.objects.get().status == RunStatus.FAILED
    errors = [c for c in junit_cases(tmp_path / "junit.xml") if c.find("error") is not None]
    rows = [c for c in errors if c.get("classname").endswith(".rows")]
    [gate] = [c for c in errors if c.get("classname").endswith(".gate")]
    assert len(rows) == 30 and len(errors) == 31
    assert all("500" in c.find("error").get("message") for c in rows)
    assert gate.get("name") == "run" and gate.find("error").get("message").startswith("run failed")


def test_a_run_canceled_while_it_is_followed_exits_2(live, tmp_path):
    config = config_file(tmp_path / "eval.yaml", threshold=0.5)
    command, env = command_and_env(
        "run", "--config", str(config), "--json", "verdict.json", "--poll-interval", "0.2",
        server=live.base, key=live.key,
    )  # fmt: skip
    live.hold = threading.Event()  # agent calls wait, so the run is still going when canceled
    follower = subprocess.Popen(  # noqa: S603 - our own console script
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until(
            lambda: EvaluationRun.objects.filter(status=RunStatus.RUNNING).exists(),
            timeout=60,
            message="the run to start",
        )
        run_cancel(run=EvaluationRun.objects.get())
    finally:
        live.hold.set()
        stdout, stderr = follower.communicate(timeout=240)

    assert follower.returncode == 2, stdout + stderr
    assert "run failed (exit 2)" in stdout
    assert re.search(r"run finished\s+│\s+canceled", stdout), stdout
    [run] = json.loads((tmp_path / "verdict.json").read_text())["runs"]
    assert run["status"] == "canceled"
    assert EvaluationRun.objects.get().status == RunStatus.CANCELED


def test_a_significant_regression_exits_1_and_noise_exits_0(live, tmp_path):
    config = config_file(tmp_path / "eval.yaml", threshold=0.3)
    gate = ["--baseline", "latest-passing", "--fail-on-regression", "Exact match"]

    live.wrong = questions([0, 1])
    first = evalsite(
        "run", "--config", str(config), *gate, server=live.base, key=live.key, cwd=tmp_path
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert "nothing to compare with yet" in first.stdout
    baseline = EvaluationRun.objects.get()

    live.wrong = questions(range(14))  # 14 of 30 rows now wrong: mean 0.93 -> 0.53
    worse = evalsite(
        "run", "--config", str(config), *gate, "--json", "worse.json", "--markdown", "worse.md",
        server=live.base, key=live.key, cwd=tmp_path,
    )  # fmt: skip

    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "significantly worse" in worse.stdout
    verdict = json.loads((tmp_path / "worse.json").read_text())
    [run] = verdict["runs"]
    assert run["pass_status"] is True  # the star threshold alone would have let it through
    assert run["baseline_id"] == str(baseline.id)
    [check] = [c for c in run["checks"] if not c["passed"]]
    assert check["name"].startswith("no regression in Exact match")
    assert "| Exact match |" in (tmp_path / "worse.md").read_text()
    worse_id = run["id"]

    tolerated = evalsite(
        "compare", str(baseline.id), worse_id, "--fail-on-regression", "Exact match",
        "--min-effect", "0.5", server=live.base, key=live.key, cwd=tmp_path,
    )  # fmt: skip
    assert tolerated.returncode == 0, tolerated.stdout + tolerated.stderr
    assert "within --min-effect" in tolerated.stdout

    live.wrong = questions([2, 3])  # as good as the baseline, wrong on other rows
    noise = evalsite(
        "run", "--config", str(config), "--baseline", str(baseline.id),
        "--fail-on-regression", "Exact match", server=live.base, key=live.key, cwd=tmp_path,
    )  # fmt: skip

    assert noise.returncode == 0, noise.stdout + noise.stderr
    assert "No significant change" in noise.stdout


def test_a_bad_config_exits_3_naming_the_field_and_starts_nothing(live, tmp_path):
    unknown_metric = config_file(tmp_path / "unknown.yaml", threshold=0.5, metric="Exact mtach")
    bad_selector = tmp_path / "selector.json"
    body = yaml.safe_load(config_file(tmp_path / "ok.yaml", threshold=0.5).read_text())
    body["config"][0]["metrics"][0]["input_transformer"]["selector"]["expected"] = "$.dataset.nope"
    bad_selector.write_text(json.dumps(body))
    not_yaml = tmp_path / "broken.yaml"
    not_yaml.write_text("config: [unclosed")

    unknown = evalsite(
        "run", "--config", str(unknown_metric), server=live.base, key=live.key, cwd=tmp_path
    )
    refused = evalsite(
        "run", "--config", str(bad_selector), server=live.base, key=live.key, cwd=tmp_path
    )
    broken = evalsite(
        "run", "--config", str(not_yaml), server=live.base, key=live.key, cwd=tmp_path
    )
    no_key = evalsite("run", "--config", str(bad_selector), server=live.base, key="", cwd=tmp_path)
    bad_flag = evalsite("run", "--bogus", server=live.base, key=live.key, cwd=tmp_path)

    assert unknown.returncode == 3
    assert "config[0].metrics[0].id" in unknown.stderr and "Exact mtach" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "config[0].metrics[0].input_transformer.selector" in refused.stderr
    assert broken.returncode == 3 and "not valid JSON or YAML" in broken.stderr
    assert no_key.returncode == 3 and "EVALSITE_API_KEY" in no_key.stderr
    assert bad_flag.returncode == 3 and "--bogus" in bad_flag.stderr
    assert EvaluationRun.objects.count() == 0


def test_server_errors_are_one_clear_line(live, tmp_path):
    missing = evalsite(
        "status", "00000000-0000-0000-0000-000000000000",
        server=live.base, key=live.key, cwd=tmp_path,
    )  # fmt: skip
    bad_key = evalsite("status", "x", server=live.base, key="not-a-key", cwd=tmp_path)

    assert missing.returncode == 2
    [line] = missing.stderr.strip().splitlines()
    assert re.fullmatch(
        r"evalsite: error: server answered 404: \S.*\. "
        r"\(GET /v1/evaluations/00000000-0000-0000-0000-000000000000\)",
        line,
    ), line
    assert bad_key.returncode == 2 and "server answered 401" in bad_key.stderr
    assert len(bad_key.stderr.strip().splitlines()) == 1


def test_the_gradient_flow_runs_a_test_case_for_each_agent(
    live, tmp_path, project, owner, make_agent
):
    from datasets.models import Dataset
    from runs import test_cases

    metric = builtin("exact_match")
    dataset = Dataset.objects.get(name="QA")
    test_cases.test_case_create(
        project=project,
        user=owner,
        name="Support regression",
        dataset=dataset,
        metrics=[str(metric.id)],
        star_metric={"metric_uuid": str(metric.id), "success_threshold": 0.9},
    )
    make_agent(live.url, name="Agent B")
    live.wrong = questions(range(5))  # both agents call the same fake: 25/30 right
    job = {"GITLAB_CI": "true", "CI_PROJECT_ID": "7", "CI_PIPELINE_ID": "99", "CI_JOB_NAME": "eval"}
    args = ["run", "--test-case", "support regression", "--agent", "Agent", "--agent", "Agent B"]

    done = evalsite(
        *args, "--json", "verdict.json", server=live.base, key=live.key, cwd=tmp_path,
        CI_JOB_ID="1", **job,
    )  # fmt: skip
    retried = evalsite(*args, server=live.base, key=live.key, cwd=tmp_path, CI_JOB_ID="2", **job)

    assert done.returncode == 1, done.stdout + done.stderr  # 25/30 < 0.9 for both agents
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert len(verdict["runs"]) == 2
    assert {r["status"] for r in verdict["runs"]} == {"succeeded"}
    assert all(r["pass_status"] is False for r in verdict["runs"])
    assert retried.returncode == 1
    assert EvaluationRun.objects.filter(test_case__name="Support regression").count() == 2
