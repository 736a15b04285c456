"""Finding the objects a REST request names, through the project access rules.

Shared by both dialects: another project's run or test case is simply not found (404), a
member whose role is too low gets 403, and a malformed id is a 404 too (never a 500).
"""

from __future__ import annotations

import hashlib
import json

from django.core.exceptions import ValidationError

from evalsite.api import project_from_request  # noqa: F401 - re-exported for the runs API
from projects.access import object_for_user
from projects.models import Project, Role
from runs.models import EvaluationRun, EvaluationTestCase

MAX_IDEMPOTENCY_KEY = 200


def run_for_user(request, run_id, *, role: str = Role.VIEWER) -> EvaluationRun:
    queryset = EvaluationRun.objects.select_related(
        "dataset_version__dataset", "started_by", "test_case", "star_binding__metric_version"
    )
    return object_for_user(queryset, request.user, role=role, pk=run_id)


def test_case_for_user(request, test_case_id, *, role: str = Role.VIEWER) -> EvaluationTestCase:
    queryset = EvaluationTestCase.objects.select_related("dataset", "created_by")
    return object_for_user(queryset, request.user, role=role, pk=test_case_id)


def idempotency_key(request) -> str | None:
    """The ``Idempotency-Key`` header, if any (400 when absurdly long)."""
    key = (request.headers.get("Idempotency-Key") or "").strip()
    if not key:
        return None
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise ValidationError(
            {"Idempotency-Key": [f"Use at most {MAX_IDEMPOTENCY_KEY} characters."]}
        )
    return key


def request_fingerprint(request) -> str:
    """SHA-256 of the request's path and JSON body (keys sorted), which an
    ``Idempotency-Key`` is bound to: the same key with another body is a 422."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.path}\n{body}".encode()).hexdigest()


def same_project(project: Project, obj, field: str, label: str) -> None:
    if obj.project_id != project.id:
        raise ValidationError({field: [f"No such {label} in this project."]})
