"""``/v2`` prompts: trace spans and chunks come from the row whatever its shape (a list of
spans, or an object holding ``spans``) in dataset-only and with-workflow runs; optional fields
without a value are omitted, never ``null``; a ``/v1`` run with several agents shows every
agent's prompts, each naming its agent, and metric results labelled per agent."""

from __future__ import annotations

import pytest

from datasets import demo as dataset_demo
from runs import services
from tests.runs_api.conftest import builtin, exact_match_entry, execute
from tests.workflows.fake_servers import FakeServer, Reply, echo_agent

pytestmark = pytest.mark.django_db


def nulls(value, path="$") -> list[str]:
    """Every path in a JSON body whose value is null."""
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in nulls(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in nulls(v, f"{path}[{i}]")]
    return []


def test_the_demo_recorded_chats_show_spans_and_chunks(api, project, owner):
    dataset_demo.seed(project=project, user=owner)
    from datasets.models import Dataset

    dataset = Dataset.objects.get(project=project, name=dataset_demo.TRACES_NAME)
    version = dataset.versions.get(number=1)
    entry = exact_match_entry(response="$.dataset.output", expected="$.dataset.output")
    run = execute(
        services.run_start(
            project=project,
            user=owner,
            name="recorded chats",
            dataset_version_id=version.id,
            config=[entry],
        )
    )
    body = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}/results?per_page=100").json()
    assert nulls(body) == []
    prompts = body["prompts"]
    assert len(prompts) == version.row_count
    for prompt in prompts:
        kinds = [span["type"] for span in prompt["evaluation_trace_spans"]]
        assert kinds == ["TRACE_SPAN_TYPE_RETRIEVER", "TRACE_SPAN_TYPE_LLM"]
        assert prompt["prompt_chunks"], prompt["trace_id"]
        assert prompt["prompt_chunks"][0]["source_name"] and prompt["prompt_chunks"][0]["text"]
        retriever = prompt["evaluation_trace_spans"][0]
        assert retriever["retriever_chunks"] == prompt["prompt_chunks"]
        assert prompt["trace_id"].startswith("demo-trace-")
    one = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}/results/1").json()["prompt"]
    assert one == prompts[0]


@pytest.mark.parametrize(
    "row_trace",
    [
        [{"name": "tool", "type": "tool", "input": "x", "output": "y"}],
        {"spans": [{"name": "tool", "type": "tool", "input": "x", "output": "y"}], "ms": 3},
    ],
    ids=["spans-list", "object-holding-spans"],
)
def test_dataset_only_rows_of_either_shape(api, project, owner, make_dataset, row_trace):
    rows = [{"input": "q", "output": "a", "expected": "a", "trace": row_trace, "chunks": ["c1"]}]
    version = make_dataset(rows)
    entry = exact_match_entry(response="$.dataset.output", expected="$.dataset.expected")
    run = execute(
        services.run_start(
            project=project,
            user=owner,
            name="shapes",
            dataset_version_id=version.id,
            config=[entry],
        )
    )
    prompt = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}/results/1").json()["prompt"]
    (span,) = prompt["evaluation_trace_spans"]
    assert (span["name"], span["type"]) == ("tool", "TRACE_SPAN_TYPE_TOOL")
    assert "created_at" not in span  # the row has none: omitted, not null
    assert [c["text"] for c in prompt["prompt_chunks"]] == ["c1"]
    assert nulls(prompt) == []


def test_with_workflow_spans_held_in_an_object(api, project, owner, make_dataset, make_agent):
    def agent(request):
        question = (request.json or {}).get("question", "")
        return Reply(
            json={
                "answer": f"echo: {question}",
                "spans": {"spans": [{"name": "llm", "type": "llm", "input": question}]},
            }
        )

    version = make_dataset([{"question": "q0", "ground_truth_answer": "echo: q0"}])
    with FakeServer(agent) as server:
        workflow = make_agent(server.url)
        run = execute(
            services.run_start(
                project=project,
                user=owner,
                name="object spans",
                dataset_version_id=version.id,
                config=[exact_match_entry(workflow)],
            )
        )
    prompt = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}/results/1").json()["prompt"]
    assert [s["type"] for s in prompt["evaluation_trace_spans"]] == ["TRACE_SPAN_TYPE_LLM"]
    assert prompt["agent_uuid"] == str(workflow.id)
    assert nulls(prompt) == []


def test_a_two_agent_v1_run_reads_per_agent_through_v2(
    api, project, owner, make_dataset, make_agent
):
    version = make_dataset(
        [{"question": f"q{i}", "ground_truth_answer": f"echo: q{i}"} for i in range(3)]
    )
    with FakeServer(echo_agent()) as server:
        first = make_agent(server.url, name="Agent A")
        second = make_agent(server.url, name="Agent B")
        run = execute(
            services.run_start(
                project=project,
                user=owner,
                name="two agents",
                dataset_version_id=version.id,
                config=[exact_match_entry(first), exact_match_entry(second)],
            )
        )
    body = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}/results?per_page=4").json()
    assert body["meta"] == {"page": 1, "pages": 2, "total": 6}
    prompts = body["prompts"]
    assert [p["prompt_id"] for p in prompts] == [1, 2, 3, 4]
    assert [p["agent_name"] for p in prompts] == ["Agent A", "Agent B", "Agent A", "Agent B"]
    assert [p["input"] for p in prompts] == ["q0", "q0", "q1", "q1"]
    assert prompts[1]["agent_uuid"] == str(second.id)
    labels = [r["metric_name"] for p in prompts for r in p["prompt_level_metric_results"]]
    assert labels == ["Exact match (Agent A)", "Exact match (Agent B)"] * 2
    exact = builtin("exact_match").name
    run_level = [r["metric_name"] for r in body["evaluation_run"]["run_level_metric_results"]]
    assert run_level == [f"{exact} (Agent A)", f"{exact} (Agent B)"]
    assert body["evaluation_run"]["agent_name"] == "Agent A, Agent B"
    rest = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}/results?page=2&per_page=4").json()
    assert [(p["prompt_id"], p["agent_name"]) for p in rest["prompts"]] == [
        (5, "Agent A"),
        (6, "Agent B"),
    ]
    six = api.get(f"/v2/gen-ai/evaluation_runs/{run.id}/results/6").json()["prompt"]
    assert (six["agent_name"], six["input"]) == ("Agent B", "q2")
    assert api.get(f"/v2/gen-ai/evaluation_runs/{run.id}/results/7").status_code == 404
