"""Demo datasets: a question-answering set over the demo agent's corpus and a trace-shaped
set for dataset-only runs. Both get version 1 released. Idempotent and offline."""

from __future__ import annotations

import json
from pathlib import Path

from datasets import services
from datasets.models import Dataset

QA_NAME = "Support questions"
TRACES_NAME = "Recorded support chats"
QA_FILE = Path(__file__).parent / "demo_data" / "qa.json"

_TRACES = [
    ("How long is the warranty?", "Every Acme product has a two-year limited warranty.", "ok"),
    ("Do you ship to Norway?", "Standard shipping covers the European Union.", "ok"),
    ("Can I return opened cleaning pads?", "Yes, any product can be returned.", "ok"),
    ("How long does the Scout battery last?", "Up to 120 minutes on eco.", "ok"),
    ("Does the Rover need a boundary wire?", "", "error"),
    ("Is 5 GHz Wi-Fi supported?", "No, only 2.4 GHz networks.", "ok"),
    ("Where are my maps stored?", "Encrypted in Frankfurt, Germany.", "ok"),
    ("What does Acme Care cost?", "59 euros per year per robot.", "ok"),
    ("When is support open?", "Monday to Friday, 8 am to 6 pm CET.", "ok"),
    ("Who founded Acme Robotics?", "Acme was founded by Maria Jansen and Tom de Vries.", "ok"),
]


def trace_rows() -> list[dict]:
    from workflows.demo_agent import INDEX_UUID, retrieve

    rows = []
    for index, (question, answer, status) in enumerate(_TRACES, start=1):
        started = f"2025-01-0{1 + index % 9}T10:00:{index:02d}Z"
        # What the demo agent's retriever finds for the question: the recorded chunks.
        chunks = [
            {"text": doc["text"], "source_name": doc["title"], "index_uuid": INDEX_UUID}
            for doc in retrieve(question)
        ]
        spans = [
            {
                "name": "retrieve",
                "type": "TRACE_SPAN_TYPE_RETRIEVER",
                "input": {"query": question},
                "output": {"documents": len(chunks)},
                "retriever_chunks": chunks,
                "created_at": started,
            },
            {
                "name": "answer",
                "type": "TRACE_SPAN_TYPE_LLM",
                "input": {"question": question},
                "output": {"text": answer} if status == "ok" else {"error": "timeout"},
                "created_at": started,
            },
        ]
        rows.append(
            {
                "input": question,
                "output": answer,
                "status": status,
                "trace_id": f"demo-trace-{index:03d}",
                "trace": {"spans": spans, "latency_ms": 400 + 37 * index},
            }
        )
    return rows


def qa_rows() -> list[dict]:
    return json.loads(QA_FILE.read_text(encoding="utf-8"))


def _seed_one(*, project, user, name: str, description: str, rows: list[dict]) -> list[str]:
    if Dataset.objects.filter(project=project, name=name).exists():
        return []
    dataset = services.dataset_create(
        project=project, name=name, description=description, user=user
    )
    draft = services.version_create_draft(dataset=dataset, user=user)
    services.items_add(version=draft, rows=rows)
    services.version_release(version=draft, user=user)
    return [f"created dataset {name} (version 1 released, {len(rows)} rows)"]


def seed(*, project, user) -> list[str]:
    lines = _seed_one(
        project=project,
        user=user,
        name=QA_NAME,
        description="Questions about Acme Robotics answerable from the demo agent's corpus, "
        "with the passage (context) and the expected answer.",
        rows=qa_rows(),
    )
    lines += _seed_one(
        project=project,
        user=user,
        name=TRACES_NAME,
        description="Recorded agent traces (input, output, status, trace_id, trace) for "
        "dataset-only runs with the $.trace selector.",
        rows=trace_rows(),
    )
    return lines
