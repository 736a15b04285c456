"""The README's "Use in CI" jobs stay true to the client: the GitHub Actions and GitLab CI
blocks are valid YAML, and every ``evalsite ...`` command in them (and in the shell example
above them) parses with the client's own argument parser, naming files that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from evalsite_client.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def ci_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Use in CI\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, "README.md has no 'Use in CI' section"
    return match.group(1)


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", ci_section(), re.S | re.M)


def strings(node) -> list[str]:
    """Every string in a parsed YAML document (step commands, scripts)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return []


def evalsite_commands(text: str) -> list[list[str]]:
    """The ``evalsite`` command lines in a script, as argument lists (a commented-out line,
    like GitLab's optional ``before_script``, counts too)."""
    commands = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip().lstrip("#").strip().removeprefix("- ")
        if line.startswith("evalsite "):
            commands.append(shlex.split(line)[1:])
    return commands


def yaml_jobs() -> dict[str, object]:
    jobs = {}
    for block in blocks("yaml"):
        first = block.splitlines()[0]
        assert first.startswith("# "), f"a CI block starts with its file name: {first!r}"
        jobs[first[2:].strip()] = yaml.safe_load(block)
    return jobs


def test_the_readme_has_a_github_actions_and_a_gitlab_ci_job_that_parse():
    jobs = yaml_jobs()

    assert set(jobs) == {".github/workflows/evals.yml", ".gitlab-ci.yml"}
    steps = jobs[".github/workflows/evals.yml"]["jobs"]["evaluate"]["steps"]
    assert any("evalsite run" in (step.get("run") or "") for step in steps)
    assert "evalsite run" in " ".join(jobs[".gitlab-ci.yml"]["evaluate"]["script"])


def commands_in_readme() -> list[tuple[str, list[str]]]:
    found = []
    for name, job in yaml_jobs().items():
        for text in strings(job):
            found += [(name, argv) for argv in evalsite_commands(text)]
    for block in blocks("bash"):
        found += [("bash", argv) for argv in evalsite_commands(block)]
    # Each CI job's commands count even when commented out (GitLab's optional demo start).
    for block in blocks("yaml"):
        name = block.splitlines()[0][2:].strip()
        commented = "\n".join(line for line in block.splitlines() if line.strip().startswith("#"))
        found += [(name, argv) for argv in evalsite_commands(commented)]
    return found


def test_the_readme_runs_evalsite_in_both_ci_jobs_and_the_shell_example():
    names = [name for name, _ in commands_in_readme()]
    assert {".github/workflows/evals.yml", ".gitlab-ci.yml", "bash"} <= set(names)


@pytest.mark.parametrize("where,argv", commands_in_readme(), ids=lambda v: str(v)[:40])
def test_every_evalsite_command_in_the_readme_parses_with_the_client(where, argv):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse refused it (exit 3, the usage error)
        pytest.fail(f"{where}: `evalsite {shlex.join(argv)}` does not parse (exit {exc.code})")
    if getattr(args, "config", None):
        assert (ROOT / args.config).is_file(), f"{where}: no such config {args.config}"
