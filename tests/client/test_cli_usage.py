"""``--help`` on every command, and usage errors exit 3 (no server needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EVALSITE = Path(sys.executable).with_name("evalsite")


def evalsite(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EVALSITE_")}
    return subprocess.run(
        [str(EVALSITE), *args], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("command", [[], ["run"], ["compare"], ["status"], ["download"]])
def test_every_command_has_help_naming_the_exit_codes(command):
    done = evalsite(*command, "--help")

    assert done.returncode == 0
    assert "usage: evalsite" in done.stdout
    assert "Exit codes: 0 the gate passed, 1 the gate failed" in " ".join(done.stdout.split())


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["run", "--server", "http://127.0.0.1:9"], "give --config FILE"),
        (
            ["run", "--server", "http://127.0.0.1:9", "--config", "a", "--test-case", "b"],
            "not both",
        ),
        (["run", "--server", "http://127.0.0.1:9", "--test-case", "b"], "--agent"),
        (["run", "--config", "a.yaml"], "--server"),
        (
            ["run", "--server", "http://x", "--config", "a", "--fail-on-regression", "F1"],
            "needs --baseline",
        ),
        (["run", "--server", "http://x", "--config", "a", "--min-effect", "-1"], "--min-effect"),
        (["download", "r", "--format", "xml", "--server", "http://x"], "invalid choice"),
    ],
)
def test_usage_errors_exit_3(args, words):
    done = evalsite(*args, EVALSITE_API_KEY="k")

    assert done.returncode == 3, done.stderr
    assert words in done.stderr


def test_an_unreachable_server_is_exit_2_in_one_line(tmp_path):
    done = evalsite("status", "abc", "--server", "http://127.0.0.1:9", EVALSITE_API_KEY="k")

    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("evalsite: error: could not reach http://127.0.0.1:9")
