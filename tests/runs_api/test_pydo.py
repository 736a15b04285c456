"""DigitalOcean's official Python client, ``pydo``, against a live server (gunicorn) and a
real ``qcluster``: every genai *evaluation* method of the installed pydo that this server
provides is called through pydo, and pydo parses every error body.

pydo's bearer-token policy refuses plain ``http://`` URLs (azure-core), so on loopback the
key goes in a header policy; behind TLS ``Client(token=KEY, endpoint="https://...")`` is all.
"""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.core.pipeline.policies import HeadersPolicy
from pydo import Client

from tests.runs_api.conftest import builtin, qa_rows
from tests.support.processes import qcluster, wait_until, web_server
from tests.workflows.fake_servers import FakeServer, echo_agent

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FINISHED = {
    "EVALUATION_RUN_SUCCESSFUL",
    "EVALUATION_RUN_PARTIALLY_SUCCESSFUL",
    "EVALUATION_RUN_FAILED",
    "EVALUATION_RUN_CANCELLED",
}


def pydo_client(base: str, key: str) -> Client:
    return Client(
        token=key,
        endpoint=base,
        authentication_policy=HeadersPolicy({"Authorization": f"Bearer {key}"}),
        retry_total=0,
    )


def assert_do_error(body: dict, error_id: str) -> None:
    assert body["id"] == error_id and body["message"] and body["request_id"], body


def test_pydo_drives_every_agent_evaluation_method(
    api, project, other_project, make_dataset, make_agent
):
    version = make_dataset(qa_rows(6))
    exact = builtin("exact_match")
    with FakeServer(echo_agent()) as server:
        first = make_agent(server.url, name="Agent A")
        second = make_agent(server.url, name="Agent B")
        with web_server() as base, qcluster() as cluster:
            do = pydo_client(base, api.raw_key).genai

            metrics = do.list_evaluation_metrics()["metrics"]
            assert any(m["metric_uuid"] == str(exact.id) for m in metrics)

            created = do.create_evaluation_test_case(
                body={
                    "name": "Regression",
                    "description": "pydo",
                    "dataset_uuid": str(version.dataset_id),
                    "metrics": [str(exact.id)],
                    "star_metric": {"metric_uuid": str(exact.id), "success_threshold": 0.9},
                    "workspace_uuid": str(project.id),
                }
            )
            case_uuid = created["test_case_uuid"]
            listed = do.list_evaluation_test_cases()["evaluation_test_cases"]
            assert [c["test_case_uuid"] for c in listed] == [case_uuid]
            by_workspace = do.list_evaluation_test_cases_by_workspace(str(project.id))
            assert [c["test_case_uuid"] for c in by_workspace["evaluation_test_cases"]] == [
                case_uuid
            ]
            assert by_workspace["evaluation_test_cases"][0]["workspace_uuid"] == str(project.id)
            # Another project's workspace is not found; pydo hands back the parsed 404 body.
            assert_do_error(
                do.list_evaluation_test_cases_by_workspace(str(other_project.id)), "not_found"
            )

            case = do.get_evaluation_test_case(case_uuid)["evaluation_test_case"]
            assert case["name"] == "Regression" and case["dataset"]["row_count"] == 6

            runs = do.run_evaluation_test_case(
                body={
                    "test_case_uuid": case_uuid,
                    "agent_uuids": [str(first.id), str(second.id)],
                    "run_name": "pydo run",
                }
            )["evaluation_run_uuids"]
            assert len(runs) == 2

            def finished() -> bool:
                states = [do.get_evaluation_run(r)["evaluation_run"]["status"] for r in runs]
                return all(state in FINISHED for state in states)

            wait_until(finished, timeout=120, interval=0.5, message=cluster.log()[-2000:])
            for run_uuid in runs:
                run = do.get_evaluation_run(run_uuid)["evaluation_run"]
                assert run["status"] == "EVALUATION_RUN_SUCCESSFUL" and run["pass_status"]
                page = do.get_evaluation_run_results(run_uuid, page=2, per_page=4)
                assert page["meta"] == {"page": 2, "pages": 2, "total": 6}
                assert [p["prompt_id"] for p in page["prompts"]] == [5, 6]
                prompt = do.get_evaluation_run_prompt_results(run_uuid, 2)["prompt"]
                assert prompt["input"] == "q1" and prompt["output"] == "echo: q1"
                assert prompt["prompt_level_metric_results"][0]["number_value"] == 1.0

            by_case = do.list_evaluation_runs_by_test_case(case_uuid)["evaluation_runs"]
            assert {r["evaluation_run_uuid"] for r in by_case} == set(runs)

            updated = do.update_evaluation_test_case(
                case_uuid, body={"name": "Regression v2", "metrics": {"metric_uuids": []}}
            )
            assert updated["version"] == 2
            old = do.get_evaluation_test_case(case_uuid, evaluation_test_case_version=1)
            assert old["evaluation_test_case"]["name"] == "Regression"
            assert (
                do.list_evaluation_runs_by_test_case(case_uuid, evaluation_test_case_version=2)[
                    "evaluation_runs"
                ]
                == []
            )

            # pydo parses every error: 404s come back as the parsed body, other statuses
            # raise with the DigitalOcean body readable from the response.
            assert_do_error(do.get_evaluation_run(str(uuid.uuid4())), "not_found")
            assert_do_error(do.get_evaluation_run_prompt_results(runs[0], 99), "not_found")
            with pytest.raises(HttpResponseError) as bad:
                do.run_evaluation_test_case(body={"test_case_uuid": case_uuid})
            assert bad.value.status_code == 400
            body = bad.value.response.json()
            assert_do_error(body, "bad_request")
            assert bad.value.response.headers["X-Request-Id"] == body["request_id"]
            with pytest.raises(ClientAuthenticationError) as denied:
                pydo_client(base, "not-a-key").genai.list_evaluation_test_cases()
            assert_do_error(denied.value.response.json(), "unauthorized")


def test_pydo_uploads_lists_downloads_and_deletes_evaluation_datasets(api, project, tmp_path):
    import httpx

    csv_text = "question,ground_truth_answer\nq0,a0\nq1,a1\nq2,a2\n"
    with web_server() as base:
        do = pydo_client(base, api.raw_key).genai
        presigned = do.create_evaluation_dataset_file_upload_presigned_urls(
            body={"files": [{"file_name": "regression.csv", "file_size": str(len(csv_text))}]}
        )
        assert presigned["request_id"]
        (upload,) = presigned["uploads"]
        assert upload["original_file_name"] == "regression.csv" and upload["expires_at"]
        assert upload["presigned_url"].startswith(base)
        # The presigned URL is the credential: no Authorization header, as with object storage.
        put = httpx.put(upload["presigned_url"], content=csv_text.encode(), timeout=30)
        assert put.status_code == 200, put.text
        assert put.json()["row_count"] == 3
        again = httpx.put(upload["presigned_url"], content=csv_text.encode(), timeout=30)
        assert again.status_code == 400 and again.json()["id"] == "bad_request"
        forged = httpx.put(upload["presigned_url"] + "x", content=b"a\n1\n", timeout=30)
        assert forged.status_code == 404 and forged.json()["id"] == "not_found"

        created = do.create_evaluation_dataset(
            body={
                "name": "Regression set",
                "file_upload_dataset": {
                    "original_file_name": "regression.csv",
                    "stored_object_key": upload["object_key"],
                },
            }
        )
        dataset_uuid = created["evaluation_dataset_uuid"]
        listed = do.list_evaluation_datasets()["evaluation_datasets"]
        (found,) = [d for d in listed if d["dataset_uuid"] == dataset_uuid]
        assert found["dataset_name"] == "Regression set" and found["row_count"] == 3
        assert found["has_ground_truth"] is True
        assert do.list_evaluation_datasets(has_ground_truth=False)["evaluation_datasets"] == []

        link = do.get_evaluation_dataset_download_url(dataset_uuid)
        assert link["expires_at"]
        downloaded = httpx.get(link["download_url"], timeout=30)
        assert downloaded.status_code == 200
        assert downloaded.text.splitlines()[0] == "question,ground_truth_answer"
        assert len(downloaded.text.splitlines()) == 4

        # A test case can use the uploaded dataset straight away.
        case = do.create_evaluation_test_case(
            body={
                "name": "On the upload",
                "dataset_uuid": dataset_uuid,
                "metrics": [str(builtin("exact_match").id)],
            }
        )
        assert case["test_case_uuid"]

        with pytest.raises(HttpResponseError) as bad_key:
            do.create_evaluation_dataset(
                body={"name": "x", "file_upload_dataset": {"stored_object_key": "forged"}}
            )
        assert_do_error(bad_key.value.response.json(), "bad_request")

        other = do.create_evaluation_dataset_file_upload_presigned_urls(
            body={"files": [{"file_name": "scratch.jsonl"}]}
        )["uploads"][0]
        assert httpx.put(other["presigned_url"], content=b'{"a": 1}\n').status_code == 200
        scratch = do.create_evaluation_dataset(
            body={"file_upload_dataset": {"stored_object_key": other["object_key"]}}
        )["evaluation_dataset_uuid"]
        assert do.delete_evaluation_dataset(scratch) == {}
        assert_do_error(do.get_evaluation_dataset_download_url(scratch), "not_found")
        assert_do_error(do.delete_evaluation_dataset(scratch), "not_found")


def test_pydo_creates_updates_and_deletes_custom_evaluation_metrics(api, project):
    from metrics.models import Metric

    with web_server() as base:
        do = pydo_client(base, api.raw_key).genai
        # Without a judge endpoint the server says which field is missing.
        with pytest.raises(HttpResponseError) as no_judge:
            do.create_custom_evaluation_metric(
                body={"metric_name": "Polite", "config": {"scoring_prompt": "Is it polite?"}}
            )
        body = no_judge.value.response.json()
        assert_do_error(body, "bad_request")
        assert "config.base_url" in body["errors"]

        created = do.create_custom_evaluation_metric(
            body={
                "metric_name": "Polite",
                "description": "Politeness, judged",
                "config": {
                    "scoring_prompt": "Score 1 when the response is polite, else 0.",
                    "requires_ground_truth": False,
                    "base_url": "http://127.0.0.1:9/v1",
                    "model": "judge-1",
                },
            }
        )["metric"]
        assert created["metric_name"] == "Polite"
        assert created["source"] == "EVALUATION_METRIC_SOURCE_CUSTOM"
        assert created["custom_eval_config"] == {
            "requires_ground_truth": False,
            "scoring_prompt": "Score 1 when the response is polite, else 0.",
        }
        metric = Metric.objects.get(pk=created["metric_uuid"])
        assert metric.project_id == project.id
        assert [i["name"] for i in metric.latest_version().inputs] == ["input", "output"]
        assert any(
            m["metric_uuid"] == created["metric_uuid"]
            for m in do.list_evaluation_metrics()["metrics"]
        )

        updated = do.update_custom_evaluation_metric(
            created["metric_uuid"],
            body={"metric_name": "Polite v2", "config": {"requires_ground_truth": True}},
        )["metric"]
        assert updated["metric_name"] == "Polite v2"
        assert updated["custom_eval_config"]["requires_ground_truth"] is True
        metric.refresh_from_db()
        assert metric.versions.count() == 2
        assert [i["name"] for i in metric.latest_version().inputs] == [
            "input",
            "output",
            "ground_truth",
        ]

        assert do.delete_custom_evaluation_metric(created["metric_uuid"]) == {}
        assert_do_error(do.delete_custom_evaluation_metric(created["metric_uuid"]), "not_found")
        builtin_uuid = str(builtin("exact_match").id)
        with pytest.raises(HttpResponseError) as read_only:
            do.delete_custom_evaluation_metric(builtin_uuid)
        assert read_only.value.status_code == 403
        assert_do_error(read_only.value.response.json(), "forbidden")
