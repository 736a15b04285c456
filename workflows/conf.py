"""Settings the workflows app reads, with their defaults in one place."""

from __future__ import annotations

import os

from django.conf import settings


def python_workflow_allow_list() -> list[str]:
    return list(
        getattr(settings, "EVALSITE_PYTHON_WORKFLOWS", ["workflows.demo_agent.answer_question"])
    )


def public_url() -> str:
    """Where this app is reachable by itself (the demo HTTP workflow calls it)."""
    value = getattr(settings, "EVALSITE_PUBLIC_URL", "") or os.environ.get(
        "EVALSITE_PUBLIC_URL", ""
    )
    return (value or "http://127.0.0.1:8000").rstrip("/")
