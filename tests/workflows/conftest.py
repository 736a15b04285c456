from __future__ import annotations

import asyncio

import pytest

from workflows import services
from workflows.executors import build_executor, new_async_client

QUESTION_IN = [{"name": "question", "description": "", "required": True}]
ANSWER_OUT = [{"name": "answer", "description": ""}]


def http_config(url: str, **overrides) -> dict:
    config = {
        "url": url,
        "method": "POST",
        "body_template": {"question": "{{question}}"},
        "output_paths": {"answer": "$.answer"},
        "input_tokens_path": "$.usage.input_tokens",
        "output_tokens_path": "$.usage.output_tokens",
        "chunks_path": "$.chunks",
        "spans_path": "$.spans",
        "timeout_s": 5,
        "max_retries": 2,
    }
    config.update(overrides)
    return config


@pytest.fixture
def make_workflow(project, owner):
    def make(kind="http", config=None, inputs=QUESTION_IN, outputs=ANSWER_OUT, name="Agent"):
        return services.workflow_create(
            project=project,
            user=owner,
            name=name,
            kind=kind,
            config=config,
            inputs=inputs,
            outputs=outputs,
        )

    return make


def run_once(version, inputs: dict, executor=None):
    executor = executor or build_executor(version)

    async def go():
        async with new_async_client() as client:
            return await executor.run(inputs, client=client)

    return asyncio.run(go())


def run_many(version, inputs_list: list[dict]):
    executor = build_executor(version)

    async def go():
        async with new_async_client() as client:
            return await asyncio.gather(*(executor.run(i, client=client) for i in inputs_list))

    return asyncio.run(go())
