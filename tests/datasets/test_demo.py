from __future__ import annotations

import json
from pathlib import Path

import pytest

from datasets import demo
from datasets.models import Dataset

pytestmark = pytest.mark.django_db
CORPUS = Path(__file__).resolve().parents[2] / "workflows" / "demo_corpus.json"


def test_the_demo_seed_releases_two_datasets_once(project, owner):
    lines = demo.seed(project=project, user=owner)
    assert len(lines) == 2
    assert demo.seed(project=project, user=owner) == []
    qa = Dataset.objects.get(project=project, name=demo.QA_NAME).versions.get()
    traces = Dataset.objects.get(project=project, name=demo.TRACES_NAME).versions.get()
    assert qa.is_released and qa.row_count == 50 and not qa.is_trace_shaped
    assert {"question", "context", "ground_truth_answer"} <= set(qa.column_names())
    assert traces.is_released and traces.is_trace_shaped


def test_every_qa_context_is_verbatim_text_of_the_agent_corpus():
    corpus = json.loads(CORPUS.read_text(encoding="utf-8"))
    texts = [document["text"] for document in corpus]
    for row in demo.qa_rows():
        assert any(row["context"] in text for text in texts), row["question"]
