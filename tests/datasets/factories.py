"""Small builders for dataset tests (real database, real services)."""

from __future__ import annotations

import io

from datasets import services


def make_dataset(project, user=None, name="Questions"):
    return services.dataset_create(project=project, name=name, description="", user=user)


def make_draft(project, user=None, rows=None, name="Questions"):
    dataset = make_dataset(project, user, name=name)
    draft = services.version_create_draft(dataset=dataset, user=user)
    if rows:
        services.items_add(version=draft, rows=rows)
        draft.refresh_from_db()
    return draft


def make_released(project, user=None, rows=None, name="Questions"):
    rows = rows or [{"question": f"q{i}", "answer": f"a{i}"} for i in range(3)]
    draft = make_draft(project, user, rows=rows, name=name)
    return services.version_release(version=draft, user=user)


def upload(text: str | bytes) -> io.BytesIO:
    return io.BytesIO(text.encode() if isinstance(text, str) else text)
