"""pydo's eleven *model evaluation* methods against a live server (gunicorn), a real
``qcluster``, and fake OpenAI-compatible endpoints on 127.0.0.1 for the candidate model and
the judge: every method is called through pydo, and pydo parses every error body."""

from __future__ import annotations

import gzip
import json
import uuid

import httpx
import pytest
from azure.core.exceptions import HttpResponseError

from runs import model_evaluations
from runs.models import EvaluationRun, ModelEvaluationPreset, ModelEvaluationRun
from tests.runs_api.conftest import builtin, qa_rows
from tests.runs_api.test_pydo import assert_do_error, pydo_client
from tests.support.processes import qcluster, wait_until, web_server
from tests.workflows.fake_servers import FakeServer, openai_chat
from workflows import services as workflow_services
from workflows.models import Workflow

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FINISHED = {
    "MODEL_EVALUATION_RUN_SUCCESSFUL",
    "MODEL_EVALUATION_RUN_PARTIALLY_SUCCESSFUL",
    "MODEL_EVALUATION_RUN_FAILED",
    "MODEL_EVALUATION_RUN_CANCELLED",
}
# openai_chat() formats its content ({user}): the judge's JSON braces are doubled.
JUDGE_REPLY = '{{"score": 1, "reasoning": "Matches the ground truth."}}'


def make_candidate(project, owner, url: str, *, name: str = "Candidate", model: str = "cand-1"):
    """A candidate model as a user registers one: an openai_chat workflow."""
    return workflow_services.workflow_create(
        project=project,
        user=owner,
        name=name,
        kind="openai_chat",
        config={
            "base_url": f"{url}/v1",
            "model": model,
            "user_prompt": "{{question}}",
            "max_retries": 0,
        },
        inputs=[{"name": "question", "description": "", "required": True}],
        outputs=[{"name": "answer", "description": ""}],
    )


def bad_request(call, field: str) -> dict:
    """The call answers 400 in DigitalOcean's shape, naming ``field``."""
    with pytest.raises(HttpResponseError) as raised:
        call()
    assert raised.value.status_code == 400, raised.value.response.text()
    body = raised.value.response.json()
    assert_do_error(body, "bad_request")
    assert field in body["errors"], body
    return body


def status_of(raised) -> int:
    return raised.value.status_code


def test_pydo_drives_every_model_evaluation_method(api, project, owner, make_dataset):
    version = make_dataset(qa_rows(4))
    exact = builtin("exact_match")
    with (
        FakeServer(openai_chat(content="echo: {user}")) as model_server,
        FakeServer(openai_chat(content=JUDGE_REPLY)) as judge_server,
    ):
        candidate = make_candidate(project, owner, model_server.url)
        with web_server() as base:
            do = pydo_client(base, api.raw_key).genai

            # 1. list_model_evaluation_metrics: the catalogue for model runs.
            catalogue = do.list_model_evaluation_metrics()["metrics"]
            by_uuid = {m["metric_uuid"]: m for m in catalogue}
            assert by_uuid[str(exact.id)]["evaluation_scope"] == "EVALUATION_SCOPE_MODEL"
            assert by_uuid[str(exact.id)]["source"] == "EVALUATION_METRIC_SOURCE_BUILTIN"
            assert by_uuid[str(exact.id)]["associated_presets"] == []
            span_metric = builtin("span_tool_call_succeeded")
            assert str(span_metric.id) not in by_uuid  # a model call has no tool spans

            judge = do.create_custom_evaluation_metric(
                body={
                    "metric_name": "Correct, judged",
                    "config": {
                        "scoring_prompt": "Score 1 when the response matches the ground truth.",
                        "requires_ground_truth": True,
                        "base_url": f"{judge_server.url}/v1",
                        "model": "judge-1",
                    },
                }
            )["metric"]
            custom = {m["metric_uuid"]: m for m in do.list_model_evaluation_metrics()["metrics"]}
            assert custom[judge["metric_uuid"]]["source"] == "EVALUATION_METRIC_SOURCE_CUSTOM"

            # Bad bodies: 400 naming the field, and nothing is created.
            bad_request(lambda: do.create_model_evaluation_run(body={}), "candidate_model_uuid")
            base_body = {
                "candidate_model_uuid": str(candidate.id),
                "dataset_uuid": str(version.dataset_id),
                "metric_uuids": [str(exact.id)],
            }
            for change, field in (
                ({"epochs": 4}, "epochs"),
                ({"metric_uuids": [str(uuid.uuid4())]}, "metric_uuids"),
                ({"metric_uuids": [str(span_metric.id)]}, "metric_uuids"),
                ({"judge_model_uuid": str(exact.id)}, "judge_model_uuid"),
                ({"dataset_uuid": str(uuid.uuid4())}, "dataset_uuid"),
                ({"candidate_model_uuid": str(uuid.uuid4())}, "candidate_model_uuid"),
                ({"candidate_model_name": "no-such-model", "candidate_model_uuid": ""}, None),
                ({"candidate_inference_config": {"temperature": 3}}, "candidate_inference_config"),
                (
                    {"candidate_inference_config": {"reasoning_effort": "high"}},
                    "candidate_inference_config.reasoning_effort",
                ),
                ({"preset_save_sections": ["BOGUS"]}, "preset_save_sections"),
                ({"star_metric": {"metric_uuid": str(uuid.uuid4())}}, "star_metric.metric_uuid"),
                ({"candidate_model_source": "CANDIDATE_MODEL_SOURCE_AGENT"}, None),
            ):
                body = {**base_body, **change}
                field = field or next(iter(k for k in change if k.startswith("candidate")))
                bad_request(lambda body=body: do.create_model_evaluation_run(body=body), field)
            assert ModelEvaluationRun.objects.count() == 0
            assert ModelEvaluationPreset.objects.count() == 0

            with qcluster() as cluster:
                # 6. create_model_evaluation_run, saving three of the five preset sections.
                created = do.create_model_evaluation_run(
                    body={
                        **base_body,
                        "name": "Nightly",
                        "judge_model_uuid": judge["metric_uuid"],
                        "candidate_inference_config": {
                            "system_prompt": "Be terse.",
                            "temperature": 0.3,
                            "max_tokens": 64,
                            "stop_token": "###",
                        },
                        "epochs": 2,
                        "star_metric": {"metric_uuid": str(exact.id), "success_threshold": 1.0},
                        "preset_save_sections": ["CANDIDATE", "DATASET", "METRICS"],
                        "preset_name": "Nightly preset",
                        "source": "sdk",
                    }
                )
                run_uuid = created["eval_run_uuid"]

                def finished() -> bool:
                    status = do.get_model_evaluation_run(run_uuid)["run"]["status"]
                    return status in FINISHED

                wait_until(finished, timeout=120, interval=0.5, message=cluster.log()[-2000:])

            # 7. get_model_evaluation_run: the detail, the summary and the rows.
            detail = do.get_model_evaluation_run(run_uuid)
            run = detail["run"]
            assert run["status"] == "MODEL_EVALUATION_RUN_SUCCESSFUL", run.get("error_description")
            assert run["name"] == "Nightly" and run["epochs"] == 2
            assert run["candidate_model_uuid"] == str(candidate.id)
            assert run["candidate_model_name"] == "cand-1"
            assert run["candidate_model_source"] == "CANDIDATE_MODEL_SOURCE_SERVERLESS"
            assert run["judge_model_uuid"] == judge["metric_uuid"]
            assert run["judge_model_name"] == "judge-1"
            assert run["candidate_inference_config"] == {
                "max_tokens": 64,
                "stop_token": "###",
                "system_prompt": "Be terse.",
                "temperature": 0.3,
            }
            assert run["progress"] == {
                "candidate_rows_evaluated": 4,
                "judge_rows_evaluated": 4,
                "total_rows": 4,
            }
            assert {m["metric_uuid"]: m["is_metric_goal"] for m in run["metrics"]} == {
                str(exact.id): True,
                judge["metric_uuid"]: False,
            }
            summary = run["result_summary"]
            assert summary["epochs"] == 2 and summary["overall_score_percent"] == 100.0
            assert summary["epoch_summary"]["pass_at_k_percent"] == 100.0
            assert summary["epoch_summary"]["rows_scored"] == 4
            assert [e["rows_scored"] for e in summary["epoch_summary"]["per_epoch"]] == [4, 4]
            metric_summaries = {m["metric_uuid"]: m for m in summary["metric_summaries"]}
            assert metric_summaries[str(exact.id)]["pass_count"] == 8  # 4 rows x 2 epochs
            assert metric_summaries[judge["metric_uuid"]]["pass_percent"] == 100.0
            # Computed once for this finish, then read back.
            assert ModelEvaluationRun.objects.get(pk=run_uuid).result_summary == summary
            usage = summary["performance_metrics"]["token_usage"]
            assert usage["total_candidate_input_tokens"] == "80"  # 8 calls x 10 tokens
            assert detail["meta"] == {"page": 1, "pages": 1, "total": 4}
            first = detail["results"][0]
            assert first["row_number"] == 1 and first["input"] == "q0"
            assert first["output"] == "echo: q0" and first["ground_truth"] == "echo: q0"
            assert sorted(first["epoch_results"]) == ["epoch1", "epoch2"]
            results = {r["metric_uuid"]: r for r in first["metric_results"]}
            assert results[str(exact.id)]["number_value"] == 1.0
            assert results[judge["metric_uuid"]]["reasoning"] == "Matches the ground truth."
            assert {r["status"] for r in first["metric_results"]} == {
                "EVALUATION_METRIC_RESULT_STATUS_COMPLETED"
            }
            page = do.get_model_evaluation_run(run_uuid, page=2, per_page=3)
            assert page["meta"] == {"page": 2, "pages": 2, "total": 4}
            assert [r["row_number"] for r in page["results"]] == [4]

            # The inference config reached every candidate call; the user's workflow is as
            # it was (the run pinned a derived version, out of the workflow lists).
            calls = [r.json for r in model_server.requests]
            assert len(calls) == 8
            for call in calls:
                assert call["model"] == "cand-1"
                assert call["messages"][0] == {"role": "system", "content": "Be terse."}
                assert call["temperature"] == 0.3 and call["max_tokens"] == 64
                assert call["stop"] == "###"
            candidate.refresh_from_db()
            assert candidate.versions.count() == 1
            assert (
                "system_prompt" not in candidate.latest_version().config
                or not (candidate.latest_version().config["system_prompt"])
            )
            assert list(Workflow.objects.active().filter(project=project)) == [candidate]

            # 5. list_model_evaluation_runs, with its filters.
            listed = do.list_model_evaluation_runs()
            assert [r["eval_run_uuid"] for r in listed["runs"]] == [run_uuid]
            assert listed["meta"] == {"page": 1, "pages": 1, "total": 1}
            assert "MODEL_EVALUATION_RUN_QUEUED" in listed["available_statuses"]
            assert (
                do.list_model_evaluation_runs(statuses=["MODEL_EVALUATION_RUN_FAILED"])["runs"]
                == []
            )
            both = ["MODEL_EVALUATION_RUN_FAILED", "MODEL_EVALUATION_RUN_SUCCESSFUL"]
            assert len(do.list_model_evaluation_runs(statuses=both)["runs"]) == 1
            assert (
                do.list_model_evaluation_runs(candidate_types=["CANDIDATE_MODEL_SOURCE_ROUTER"])[
                    "runs"
                ]
                == []
            )
            assert len(do.list_model_evaluation_runs(search="nightly")["runs"]) == 1
            assert do.list_model_evaluation_runs(search="zzz")["runs"] == []
            with pytest.raises(HttpResponseError) as bad_status:
                do.list_model_evaluation_runs(status="BOGUS")
            assert status_of(bad_status) == 400
            assert "status" in bad_status.value.response.json()["errors"]

            # 2. list_model_evaluation_presets / 3. get_model_evaluation_preset.
            (preset,) = do.list_model_evaluation_presets()["presets"]
            assert preset["name"] == "Nightly preset"
            assert preset["saved_sections"] == ["CANDIDATE", "DATASET", "METRICS"]
            assert preset["candidate_model_uuid"] == str(candidate.id)
            assert preset["dataset_uuid"] == str(version.dataset_id)
            assert preset["judge_model_uuid"] == ""  # the JUDGE section was not saved
            assert preset["candidate_system_prompt"] == ""  # nor SYSTEM_PROMPT
            assert preset["candidate_inference_config"] == {
                "max_tokens": 64,
                "stop_token": "###",
                "temperature": 0.3,
            }
            assert {m["metric_uuid"] for m in preset["metrics"]} == {
                str(exact.id),
                judge["metric_uuid"],
            }
            preset_uuid = preset["eval_preset_uuid"]
            assert do.get_model_evaluation_preset(preset_uuid)["preset"] == preset
            assert (
                do.list_model_evaluation_runs(eval_preset_uuid=preset_uuid)["runs"]
                == (listed["runs"])
            )
            using = {m["metric_uuid"]: m for m in do.list_model_evaluation_metrics()["metrics"]}
            assert using[str(exact.id)]["associated_presets"] == [
                {"eval_preset_uuid": preset_uuid, "name": "Nightly preset"}
            ]

            # 11. get_model_evaluation_run_results_download_url: a signed gzip JSON link.
            link = do.get_model_evaluation_run_results_download_url(run_uuid)
            assert link["expires_at"] and link["download_url"].startswith(base)
            downloaded = httpx.get(link["download_url"], timeout=30)
            assert downloaded.status_code == 200
            assert downloaded.headers["content-type"] == "application/gzip"
            document = json.loads(gzip.decompress(downloaded.content))
            assert document["id"] == run_uuid and len(document["results"]) == 8
            forged = httpx.get(link["download_url"] + "x", timeout=30)
            assert forged.status_code == 404 and forged.json()["id"] == "not_found"

            # 8. update_model_evaluation_run: a rename.
            renamed = do.update_model_evaluation_run(run_uuid, body={"name": "Nightly (v2)"})
            assert renamed["run"]["name"] == "Nightly (v2)"
            assert EvaluationRun.objects.get(pk=run_uuid).name == "Nightly (v2)"
            bad_request(lambda: do.update_model_evaluation_run(run_uuid, body={"name": ""}), "name")
            bad_request(
                lambda: do.update_model_evaluation_run(run_uuid, body={"name": "x" * 256}), "name"
            )

            # 10. cancel_model_evaluation_run: a finished run cannot be cancelled (409).
            with pytest.raises(HttpResponseError) as finished_cancel:
                do.cancel_model_evaluation_run(run_uuid, body={})
            assert status_of(finished_cancel) == 409
            assert_do_error(finished_cancel.value.response.json(), "conflict")

            # No worker now: a run from the preset stays queued. Its inline system prompt
            # fills the section the preset did not save.
            queued = do.create_model_evaluation_run(
                body={
                    "eval_preset_uuid": preset_uuid,
                    "name": "From the preset",
                    "candidate_inference_config": {"system_prompt": "Answer."},
                }
            )["eval_run_uuid"]
            queued_run = do.get_model_evaluation_run(queued)["run"]
            assert queued_run["status"] == "MODEL_EVALUATION_RUN_QUEUED"
            assert queued_run["eval_preset_uuid"] == preset_uuid
            assert queued_run["epochs"] == 1  # epochs are not saved on presets
            assert queued_run["candidate_inference_config"]["system_prompt"] == "Answer."
            assert {m["metric_uuid"] for m in queued_run["metrics"]} == {
                str(exact.id),
                judge["metric_uuid"],
            }
            with pytest.raises(HttpResponseError) as not_yet:
                do.get_model_evaluation_run_results_download_url(queued)
            assert status_of(not_yet) == 409
            # 9. delete_model_evaluation_run: only once it has stopped.
            with pytest.raises(HttpResponseError) as active_delete:
                do.delete_model_evaluation_run(queued)
            assert status_of(active_delete) == 409
            cancelled = do.cancel_model_evaluation_run(queued, body={"eval_run_uuid": queued})
            assert cancelled["run"]["status"] == "MODEL_EVALUATION_RUN_CANCELLED"
            assert do.delete_model_evaluation_run(queued) == {
                "status": "DELETE_MODEL_EVALUATION_RUN_STATUS_SUCCESS"
            }
            assert not EvaluationRun.objects.filter(pk=queued).exists()
            assert not ModelEvaluationRun.objects.filter(pk=queued).exists()
            assert_do_error(do.get_model_evaluation_run(queued), "not_found")
            assert_do_error(do.delete_model_evaluation_run(queued), "not_found")

            # 4. delete_model_evaluation_preset: the runs keep their results.
            assert do.delete_model_evaluation_preset(preset_uuid) == {}
            assert_do_error(do.get_model_evaluation_preset(preset_uuid), "not_found")
            assert_do_error(do.delete_model_evaluation_preset(preset_uuid), "not_found")
            kept = do.get_model_evaluation_run(run_uuid)["run"]
            assert kept["status"] == "MODEL_EVALUATION_RUN_SUCCESSFUL"
            assert "eval_preset_uuid" not in kept or kept["eval_preset_uuid"] == ""

            # Unknown ids, and an agent (not model) evaluation run, are DO-shaped 404s.
            unknown = str(uuid.uuid4())
            for call in (
                do.get_model_evaluation_run,
                do.delete_model_evaluation_run,
                do.get_model_evaluation_run_results_download_url,
                do.get_model_evaluation_preset,
                do.delete_model_evaluation_preset,
            ):
                assert_do_error(call(unknown), "not_found")
            assert_do_error(do.cancel_model_evaluation_run(unknown, body={}), "not_found")
            assert_do_error(
                do.update_model_evaluation_run(unknown, body={"name": "x"}), "not_found"
            )
            assert_do_error(do.get_model_evaluation_run("not-a-uuid"), "not_found")


def test_another_projects_model_evaluations_are_not_found_and_viewers_cannot_write(
    project, owner, viewer, other_project, outsider, make_dataset
):
    from tests.conftest import _api_client_for

    version = make_dataset(qa_rows(2))
    exact = builtin("exact_match")
    candidate = make_candidate(project, owner, "http://127.0.0.1:9")
    model_run = model_evaluations.model_run_create(
        user=owner,
        data={
            "candidate_model_name": "cand-1",  # by the model it calls
            "dataset_uuid": str(version.dataset_id),
            "metric_uuids": [str(exact.id)],
            "save_as_preset": True,
        },
    )
    assert model_run.candidate_workflow_id == candidate.id
    preset = model_run.preset
    assert preset.saved_sections == list(model_evaluations.SECTIONS)
    run_uuid, preset_uuid = str(model_run.run_id), str(preset.id)
    other_candidate = make_candidate(other_project, outsider, "http://127.0.0.1:9", name="Theirs")
    with web_server() as base:
        outsider_do = pydo_client(base, _api_client_for(outsider).raw_key).genai
        assert outsider_do.list_model_evaluation_runs()["runs"] == []
        assert outsider_do.list_model_evaluation_presets()["presets"] == []
        for call in (
            outsider_do.get_model_evaluation_run,
            outsider_do.delete_model_evaluation_run,
            outsider_do.get_model_evaluation_run_results_download_url,
            outsider_do.get_model_evaluation_preset,
            outsider_do.delete_model_evaluation_preset,
        ):
            assert_do_error(call(run_uuid if "run" in call.__name__ else preset_uuid), "not_found")
        assert_do_error(outsider_do.cancel_model_evaluation_run(run_uuid, body={}), "not_found")
        assert_do_error(
            outsider_do.update_model_evaluation_run(run_uuid, body={"name": "x"}), "not_found"
        )
        # Our project's candidate, dataset and preset are not theirs to use.
        bad_request(
            lambda: outsider_do.create_model_evaluation_run(
                body={
                    "candidate_model_uuid": str(candidate.id),
                    "dataset_uuid": str(version.dataset_id),
                    "metric_uuids": [str(exact.id)],
                }
            ),
            "candidate_model_uuid",
        )
        bad_request(
            lambda: outsider_do.create_model_evaluation_run(
                body={
                    "candidate_model_uuid": str(other_candidate.id),
                    "dataset_uuid": str(version.dataset_id),
                    "metric_uuids": [str(exact.id)],
                }
            ),
            "dataset_uuid",
        )
        bad_request(
            lambda: outsider_do.create_model_evaluation_run(body={"eval_preset_uuid": preset_uuid}),
            "eval_preset_uuid",
        )

        viewer_do = pydo_client(base, _api_client_for(viewer).raw_key).genai
        assert [r["eval_run_uuid"] for r in viewer_do.list_model_evaluation_runs()["runs"]] == [
            run_uuid
        ]
        assert viewer_do.get_model_evaluation_run(run_uuid)["run"]["name"]
        assert viewer_do.get_model_evaluation_preset(preset_uuid)["preset"]["name"]
        writes = (
            lambda: viewer_do.create_model_evaluation_run(
                body={
                    "candidate_model_uuid": str(candidate.id),
                    "dataset_uuid": str(version.dataset_id),
                    "metric_uuids": [str(exact.id)],
                }
            ),
            lambda: viewer_do.update_model_evaluation_run(run_uuid, body={"name": "mine"}),
            lambda: viewer_do.cancel_model_evaluation_run(run_uuid, body={}),
            lambda: viewer_do.delete_model_evaluation_run(run_uuid),
            lambda: viewer_do.delete_model_evaluation_preset(preset_uuid),
        )
        for write in writes:
            with pytest.raises(HttpResponseError) as denied:
                write()
            assert status_of(denied) == 403
            assert_do_error(denied.value.response.json(), "forbidden")
    model_run.run.refresh_from_db()
    assert model_run.run.name != "mine" and model_run.run.status == "pending"
    assert ModelEvaluationPreset.objects.filter(pk=preset_uuid).exists()
    assert ModelEvaluationRun.objects.count() == 1
    # Deleting the run from anywhere else (the run page, /v1) removes its model record too.
    from runs import services

    model_run.run.refresh_from_db()
    services.run_delete(run=model_run.run)
    assert not ModelEvaluationRun.objects.exists()


def test_pydo_uploads_a_model_evaluation_dataset_and_runs_a_model_on_it(api, project, owner):
    csv_text = "question,ground_truth_answer\nq0,echo: q0\nq1,echo: q1\n"
    candidate = make_candidate(project, owner, "http://127.0.0.1:9")
    with web_server() as base:
        do = pydo_client(base, api.raw_key).genai
        presigned = do.create_model_eval_dataset_upload_presigned_urls(
            body={"files": [{"file_name": "model.csv", "file_size": str(len(csv_text))}]}
        )
        (upload,) = presigned["uploads"]
        assert presigned["request_id"] and upload["presigned_url"].startswith(base)
        put = httpx.put(upload["presigned_url"], content=csv_text.encode(), timeout=30)
        assert put.status_code == 200 and put.json()["row_count"] == 2
        dataset_uuid = do.create_evaluation_dataset(
            body={
                "name": "Model set",
                "file_upload_dataset": {"stored_object_key": upload["object_key"]},
            }
        )["evaluation_dataset_uuid"]
        run_uuid = do.create_model_evaluation_run(
            body={
                "candidate_model_name": "Candidate",
                "dataset_uuid": dataset_uuid,
                "metric_uuids": [str(builtin("exact_match").id)],
            }
        )["eval_run_uuid"]
        detail = do.get_model_evaluation_run(run_uuid)
        assert detail["run"]["candidate_model_uuid"] == str(candidate.id)
        assert detail["run"]["dataset_name"] == "Model set"
        assert detail["run"]["name"] == "Candidate on Model set"
        assert detail["run"]["progress"]["total_rows"] == 2
        assert detail["meta"]["total"] == 2
        with pytest.raises(HttpResponseError) as empty:
            do.create_model_eval_dataset_upload_presigned_urls(body={"files": []})
        assert status_of(empty) == 400 and "files" in empty.value.response.json()["errors"]


@pytest.mark.django_db
def test_an_openai_chat_workflow_takes_a_stop_sequence_and_refuses_a_bad_one(project, owner):
    from django.core.exceptions import ValidationError

    def create(stop, name):
        return workflow_services.workflow_create(
            project=project,
            user=owner,
            name=name,
            kind="openai_chat",
            config={
                "base_url": "http://127.0.0.1:9/v1",
                "model": "m",
                "user_prompt": "{{question}}",
                "stop": stop,
            },
            inputs=[{"name": "question", "description": "", "required": True}],
        )

    assert create("###", "With stop").latest_version().config["stop"] == "###"
    # Unset: not in the config at all, so versions saved before stop existed keep their hash.
    assert "stop" not in create("", "Without stop").latest_version().config
    for bad in ("x" * 201, 42):
        with pytest.raises(ValidationError) as refused:
            create(bad, f"Bad {bad!r}"[:40])
        assert "stop" in refused.value.message_dict


@pytest.mark.django_db
def test_the_workflow_form_registers_a_candidate_model_with_a_stop_sequence(web, project):
    form = {
        "name": "UI model",
        "description": "",
        "inputs": "question: the question",
        "outputs": "answer: the answer",
        "base_url": "http://127.0.0.1:9/v1",
        "model": "cand-ui",
        "user_prompt": "{{question}}",
        "stop": "###",
    }
    response = web.post(f"/projects/{project.id}/workflows/new/?kind=openai_chat", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    workflow = Workflow.objects.get(name="UI model")
    assert workflow.latest_version().config["stop"] == "###"
    edit = web.get(f"/projects/{project.id}/workflows/{workflow.pk}/edit/").content.decode()
    assert 'value="###"' in edit  # the edit form keeps it
