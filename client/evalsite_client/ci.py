"""What the client learns from the CI system it runs in: the job's identity (for the
``Idempotency-Key``), the commit, and a link back to the job.

The key must be the same when a job is retried, so it leaves out what changes on a retry:
GitHub Actions' ``GITHUB_RUN_ATTEMPT`` (a re-run keeps ``GITHUB_RUN_ID``), GitLab's
``CI_JOB_ID`` (a retried job gets a new id but keeps its pipeline and job name). A hash of
what is being started is added so two evaluations in one job are two runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

MAX_KEY = 200


def job_identity(env: Mapping[str, str]) -> str | None:
    """A string naming this CI job, equal across retries of it; None outside CI."""
    if env.get("EVALSITE_CI_JOB"):
        return env["EVALSITE_CI_JOB"]
    if env.get("GITHUB_RUN_ID"):
        return ":".join(
            [
                "github",
                env.get("GITHUB_REPOSITORY", ""),
                env["GITHUB_RUN_ID"],
                env.get("GITHUB_JOB", ""),
            ]
        )
    if env.get("GITLAB_CI") and env.get("CI_PIPELINE_ID"):
        return ":".join(
            [
                "gitlab",
                env.get("CI_PROJECT_ID", ""),
                env["CI_PIPELINE_ID"],
                env.get("CI_JOB_NAME", ""),
            ]
        )
    if env.get("BUILDKITE_BUILD_ID"):
        step = env.get("BUILDKITE_STEP_KEY") or env.get("BUILDKITE_STEP_ID", "")
        return f"buildkite:{env['BUILDKITE_BUILD_ID']}:{step}"
    return None


def idempotency_key(
    env: Mapping[str, str], *, explicit: str | None, disabled: bool, what: object
) -> str | None:
    """``--idempotency-key`` if given, else one derived from the CI job and ``what``."""
    if disabled:
        return None
    if explicit:
        return explicit[:MAX_KEY]
    identity = job_identity(env)
    if identity is None:
        return None
    digest = hashlib.sha256(
        json.dumps(what, sort_keys=True, default=str).encode("utf-8")
    ).hexdigest()[:16]
    prefix = f"evalsite-ci:{identity}"[: MAX_KEY - 17]
    return f"{prefix}:{digest}"


def commit(env: Mapping[str, str]) -> str:
    return env.get("GITHUB_SHA") or env.get("CI_COMMIT_SHA") or env.get("BUILDKITE_COMMIT") or ""


def job_url(env: Mapping[str, str]) -> str:
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return env.get("CI_JOB_URL") or env.get("BUILDKITE_BUILD_URL") or ""
