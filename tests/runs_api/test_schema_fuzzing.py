"""The OpenAPI schema documents both dialects' runs operations."""

from __future__ import annotations

import pytest

OPERATIONS = [
    ("/v1/evaluations", "get"),
    ("/v1/evaluations", "post"),
    ("/v1/evaluations/{evaluation_id}", "get"),
    ("/v1/evaluations/{evaluation_id}", "delete"),
    ("/v1/evaluations/{evaluation_id}/results", "get"),
    ("/v1/evaluations/{evaluation_id}/results/download", "get"),
    ("/v1/evaluations/{evaluation_id}/metrics", "get"),
    ("/v1/evaluations/{evaluation_id}/rerun", "post"),
    ("/v1/evaluations/{evaluation_id}/cancel", "post"),
    ("/v2/gen-ai/evaluation_runs", "post"),
    ("/v2/gen-ai/evaluation_runs/{evaluation_run_uuid}", "get"),
    ("/v2/gen-ai/evaluation_runs/{evaluation_run_uuid}/results", "get"),
    ("/v2/gen-ai/evaluation_runs/{evaluation_run_uuid}/results/{prompt_id}", "get"),
    ("/v2/gen-ai/evaluation_test_cases", "get"),
    ("/v2/gen-ai/evaluation_test_cases", "post"),
    ("/v2/gen-ai/evaluation_test_cases/{test_case_uuid}", "get"),
    ("/v2/gen-ai/evaluation_test_cases/{test_case_uuid}", "put"),
    ("/v2/gen-ai/evaluation_test_cases/{evaluation_test_case_uuid}/evaluation_runs", "get"),
    ("/v2/gen-ai/workspaces/{workspace_uuid}/evaluation_test_cases", "get"),
    ("/v2/gen-ai/evaluation_datasets", "get"),
    ("/v2/gen-ai/evaluation_datasets", "post"),
    ("/v2/gen-ai/evaluation_datasets/file_upload_presigned_urls", "post"),
    ("/v2/gen-ai/evaluation_datasets/{dataset_uuid}", "delete"),
    ("/v2/gen-ai/evaluation_datasets/{dataset_uuid}/download_url", "get"),
]


@pytest.mark.django_db
def test_the_schema_documents_every_runs_operation(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    for path, method in OPERATIONS:
        operation = schema["paths"][path][method]
        assert operation["responses"], (path, method)
    run = schema["components"]["schemas"]["EvaluationRunOut"]["properties"]
    assert "agent_version_hash" in run and "star_metric_result" in run
    assert "EVALUATION_RUN_RUNNING_DATASET" in str(schema["components"]["schemas"])
    # The rerun takes raised caps in its body, documented as such.
    rerun = schema["paths"]["/v1/evaluations/{evaluation_id}/rerun"]["post"]
    ref = rerun["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]
    assert set(body) == {"max_agent_calls", "max_judge_calls", "max_tokens", "max_cost"}
    docs = api.get("/api/docs/")
    assert docs.status_code == 200


# Fuzzing of these operations runs with every other one, path parameters pinned to real
# objects: tests/security/test_schema_fuzzing.py.
