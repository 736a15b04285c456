"""The Idempotency-Key the client derives from the CI job: equal across retries of a job,
different for another job or another evaluation in the same job."""

from __future__ import annotations

from evalsite_client.ci import MAX_KEY, idempotency_key

BODY = {"name": "nightly", "dataset_version_id": "v1"}


def key(env, what=BODY, **options):
    return idempotency_key(
        env, explicit=options.get("explicit"), disabled=options.get("disabled", False), what=what
    )


def test_a_github_re_run_keeps_the_key():
    job = {"GITHUB_RUN_ID": "10", "GITHUB_JOB": "eval", "GITHUB_REPOSITORY": "acme/bot"}

    first = key({**job, "GITHUB_RUN_ATTEMPT": "1"})

    assert first == key({**job, "GITHUB_RUN_ATTEMPT": "2"})
    assert first != key({**job, "GITHUB_RUN_ID": "11"})
    assert first != key({**job, "GITHUB_JOB": "other"})
    assert first != key(job, what={**BODY, "name": "another evaluation"})


def test_a_gitlab_retry_keeps_the_key_though_the_job_id_changes():
    job = {"GITLAB_CI": "true", "CI_PROJECT_ID": "3", "CI_PIPELINE_ID": "77", "CI_JOB_NAME": "e"}

    assert key({**job, "CI_JOB_ID": "1"}) == key({**job, "CI_JOB_ID": "2"})
    assert key(job) != key({**job, "CI_PIPELINE_ID": "78"})


def test_outside_ci_there_is_no_key_unless_one_is_given():
    assert key({}) is None
    assert key({}, explicit="release-42") == "release-42"
    assert key({"GITHUB_RUN_ID": "1"}, disabled=True) is None


def test_the_key_fits_the_server_limit():
    long = {"GITHUB_RUN_ID": "1", "GITHUB_REPOSITORY": "x" * 500, "GITHUB_JOB": "j"}

    assert len(key(long)) <= MAX_KEY
    assert key(long) != key(long, what={"other": 1})
