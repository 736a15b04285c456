"""schemathesis over the whole OpenAPI schema (every endpoint of both dialects and the
datasets, workflows and metrics APIs) against a live server finds no server error. Path
parameters are pinned to real objects so the fuzzed bodies and queries reach the views'
logic instead of stopping at a 404."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import output_dir, web_server


def _config(world: dict, path: Path) -> Path:
    groups = {
        r"^/v1/datasets/": {
            "dataset_id": world["dataset_id"],
            "version_id": world["dataset_version_id"],
            "item_id": world["item_id"],
        },
        r"^/v1/workflows/": {
            "workflow_id": world["workflow_id"],
            "version_id": world["workflow_version_id"],
        },
        r"^/v1/metrics/": {
            "metric_id": world["metric_id"],
            "version_id": world["metric_version_id"],
        },
        r"^/v1/evaluations/": {"evaluation_id": world["run_id"]},
        r"^/v2/gen-ai/evaluation_runs/": {
            "evaluation_run_uuid": world["run_id"],
            "prompt_id": world["prompt_id"],
        },
        r"^/v2/gen-ai/model_evaluation_runs/\{": {"eval_run_uuid": world["eval_run_uuid"]},
        r"^/v2/gen-ai/model_evaluation_presets/": {"eval_preset_uuid": world["eval_preset_uuid"]},
        r"^/v2/gen-ai/evaluation_test_cases/": {
            "test_case_uuid": world["test_case_uuid"],
            "evaluation_test_case_uuid": world["test_case_uuid"],
        },
    }
    lines = []
    for regex, params in groups.items():
        pinned = ", ".join(f'"path.{k}" = {json.dumps(str(v))}' for k, v in params.items())
        lines += ["[[operations]]", f"include-path-regex = {json.dumps(regex)}"]
        lines += [f"parameters = {{ {pinned} }}", ""]
    path.write_text("\n".join(lines))
    return path


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_server_error_anywhere(api, world, tmp_path):
    config = _config(world, tmp_path / "schemathesis.toml")
    with web_server() as base:
        done = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "--config-file",
                str(config),
                "run",
                f"{base}/api/schema/",
                "--header",
                f"Authorization: Bearer {api.raw_key}",
                "--checks",
                "not_a_server_error",
                "--phases",
                "examples,fuzzing",
                "--max-examples",
                "8",
                "--workers",
                "1",
                "--max-time",
                "100",
                "--seed",
                "7",
                "--report-dir",
                str(output_dir() / "schemathesis-all"),
            ],
            capture_output=True,
            text=True,
            timeout=400,
        )
    (output_dir() / "schemathesis-all.txt").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    selected = re.search(r"Selected:\s*(\d+)/(\d+)", done.stdout)
    tested = re.search(r"Tested:\s*(\d+)", done.stdout)
    assert selected and tested, done.stdout[-3000:]
    assert int(selected.group(1)) == int(selected.group(2))  # the whole schema
    assert int(tested.group(1)) == int(selected.group(1)), done.stdout[-3000:]
