"""Cross-cutting REST helpers: one error shape for every endpoint, and pagination."""

from __future__ import annotations

import logging
import uuid

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from evalsite.errors import ConflictError, UnprocessableError, error_body
from projects.access import project_for_user
from projects.models import Role

logger = logging.getLogger(__name__)


def validation_error_to_dict(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): [
                str(m) for err in errors for m in err.messages
            ]
            for field, errors in exc.error_dict.items()
        }
    return {"non_field_errors": [str(m) for m in exc.messages]}


def _flatten_message(errors) -> str:
    if isinstance(errors, dict):
        for key, value in errors.items():
            inner = _flatten_message(value)
            if inner:
                return inner if key in ("non_field_errors", "detail") else f"{key}: {inner}"
        return ""
    if isinstance(errors, list):
        for value in errors:
            inner = _flatten_message(value)
            if inner:
                return inner
        return ""
    return str(errors)


def error_response(
    request, message: str, *, status_code: int, errors=None, code: str = ""
) -> Response:
    return Response(
        error_body(request, status=status_code, message=message, code=code, errors=errors),
        status=status_code,
    )


def exception_handler(exc, context):
    """Every API error is JSON in its dialect's shape (``evalsite.errors.error_body``):
    ``{"message", "errors", "code"}`` under ``/v1``, DigitalOcean's ``{"id", "message",
    "request_id"}`` under ``/v2/gen-ai``."""
    request = context.get("request")
    if isinstance(exc, DjangoValidationError):
        errors = validation_error_to_dict(exc)
        return error_response(
            request,
            _flatten_message(errors) or "Invalid input.",
            status_code=status.HTTP_400_BAD_REQUEST,
            errors=errors,
            code="invalid",
        )
    if isinstance(exc, ConflictError):
        return error_response(
            request, exc.message, status_code=status.HTTP_409_CONFLICT, code=exc.code
        )
    if isinstance(exc, UnprocessableError):
        return error_response(
            request, exc.message, status_code=status.HTTP_422_UNPROCESSABLE_ENTITY, code=exc.code
        )
    if isinstance(exc, Http404):
        # Our own Http404s name what is missing ("No such evaluation run."); Django's
        # get_object_or_404 text names a model class, which is no use to a client.
        text = str(exc)
        exc = exceptions.NotFound(text if text.startswith("No such") else "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        message, code = _flatten_message(errors) or "Invalid input.", "invalid"
    else:
        detail = data.get("detail", "") if isinstance(data, dict) else data
        errors, message = None, str(detail)
        code = getattr(detail, "code", "") or exc.default_code
    response.data = error_body(
        request, status=response.status_code, message=message, code=code, errors=errors
    )
    return response


PROJECT_ID_PARAM = OpenApiParameter(
    "project_id", OpenApiTypes.UUID, required=True, description="The project's id."
)


def project_from_request(request, *, role: str = Role.VIEWER, field: str = "project_id"):
    """The project named by ``project_id`` (query string, else JSON body) for every /v1 list
    and create: 400 when missing or not a UUID, 404 when the caller is not a member, 403 when
    the caller's role is too low."""
    raw = request.query_params.get(field)
    if raw is None and isinstance(request.data, dict):
        raw = request.data.get(field)
    if raw in (None, ""):
        raise DjangoValidationError({field: ["This field is required."]})
    try:
        uuid.UUID(str(raw))
    except (TypeError, ValueError, AttributeError) as exc:
        raise DjangoValidationError({field: ["Must be a valid UUID."]}) from exc
    return project_for_user(request.user, raw, role=role)


def validated(serializer_class, data) -> dict:
    """Validate request data with an input serializer; errors become a 400 with field errors."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
