"""Domain errors shared by services, UI views and API views.

Services raise Django's ``ValidationError`` for bad input (with a field -> messages dict when
the problem belongs to a field) and ``ConflictError`` when the input is fine but the object's
state forbids the operation (editing a released version, downloading a running run...).
UI views show both next to the form; the API maps them to 400 and 409.
"""

from __future__ import annotations

import logging
import uuid

from django.http import JsonResponse


class ConflictError(Exception):
    """The operation conflicts with the current state of the object (HTTP 409)."""

    def __init__(self, message: str, *, code: str = "conflict"):
        super().__init__(message)
        self.message = message
        self.code = code


class UnprocessableError(Exception):
    """Well-formed input the server will not act on (HTTP 422), e.g. an ``Idempotency-Key``
    reused with a different body."""

    def __init__(self, message: str, *, code: str = "unprocessable"):
        super().__init__(message)
        self.message = message
        self.code = code


# --- the API error bodies of both dialects ---------------------------------------------------
#
# ``/v1`` (Dynamiq) errors are ``{"message", "errors", "code"}``; ``/v2/gen-ai`` (DigitalOcean
# Gradient) errors are DigitalOcean's ``{"id", "message", "request_id"}``, which pydo documents
# and parses, with field errors kept under ``errors`` for a 400. Every API response carries the
# request id in an ``X-Request-Id`` header, and unknown paths or methods under either prefix
# answer JSON, never Django's HTML pages.

logger = logging.getLogger("evalsite.api")

V1_PREFIX = "/v1/"
GRADIENT_PREFIX = "/v2/gen-ai/"
REQUEST_ID_HEADER = "X-Request-Id"

# DigitalOcean's ``id``: a short name of the status ("not_found" for a 404, ...).
DO_ERROR_IDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "request_entity_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    429: "too_many_requests",
    500: "server_error",
    503: "service_unavailable",
}
DEFAULT_MESSAGES = {
    404: "The resource you requested could not be found.",
    405: "Method not allowed.",
    500: "Server error.",
}


def is_api_path(path: str) -> bool:
    return path.startswith(V1_PREFIX) or path.startswith(GRADIENT_PREFIX)


def is_gradient_path(path: str) -> bool:
    return path.startswith(GRADIENT_PREFIX)


def request_id_of(request) -> str:
    """This request's id (set by ``ApiErrorMiddleware``; made up when it did not run)."""
    request = getattr(request, "_request", request)  # a DRF Request wraps Django's
    rid = getattr(request, "request_id", None)
    if not rid:
        rid = uuid.uuid4().hex
        if request is not None:
            request.request_id = rid
    return rid


def error_body(
    request, *, status: int, message: str, code: str = "", errors: dict | None = None
) -> dict:
    """The error body of the dialect the request's path belongs to."""
    if is_gradient_path(getattr(request, "path", "") or ""):
        body = {
            "id": DO_ERROR_IDS.get(status) or code or "error",
            "message": message,
            "request_id": request_id_of(request),
        }
        if errors:
            body["errors"] = errors
        return body
    body = {"message": message}
    if errors:
        body["errors"] = errors
    if code:
        body["code"] = code
    return body


class ApiErrorMiddleware:
    """Gives every request an id (``request.request_id``, answered as ``X-Request-Id``) and
    turns Django's HTML 404/405/500 under ``/v1/`` and ``/v2/gen-ai/`` into JSON errors."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = uuid.uuid4().hex
        response = self.get_response(request)
        if is_api_path(request.path) and response.status_code in (404, 405):
            content_type = response.get("Content-Type", "")
            if not content_type.startswith("application/json"):
                response = self._json_error(request, response.status_code, response)
        response[REQUEST_ID_HEADER] = request.request_id
        return response

    def process_exception(self, request, exception):
        if not is_api_path(request.path):
            return None
        logger.exception("API error (request %s)", request_id_of(request))
        return JsonResponse(
            error_body(request, status=500, message=DEFAULT_MESSAGES[500], code="server_error"),
            status=500,
        )

    @staticmethod
    def _json_error(request, status: int, original) -> JsonResponse:
        code = "not_found" if status == 404 else "method_not_allowed"
        message = DEFAULT_MESSAGES[status]
        if status == 405:
            allowed = original.get("Allow", "")
            message = f"Method {request.method} not allowed here." + (
                f" Allowed: {allowed}." if allowed else ""
            )
        response = JsonResponse(
            error_body(request, status=status, message=message, code=code), status=status
        )
        if original.get("Allow"):
            response["Allow"] = original["Allow"]
        return response
