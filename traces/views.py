"""``POST /otlp/v1/traces``: the OTLP/HTTP trace receiver.

An unmodified OpenTelemetry exporter delivers here with
``OTEL_EXPORTER_OTLP_ENDPOINT=http://host:8000/otlp`` and
``OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer <key>``. Responses follow the OTLP/HTTP
specification: 200 with an ``ExportTraceServiceResponse`` (``partial_success`` when some
spans were refused), 4xx with a ``google.rpc.Status`` body, both in the request's encoding.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions

from projects.auth import BearerKeyAuthentication
from traces import otlp, services

log = logging.getLogger(__name__)


def _reply(kind: str, status: int, body: bytes, **headers) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type=kind)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _error(kind: str, status: int, message: str, **headers) -> HttpResponse:
    return _reply(kind, status, otlp.error_body(kind, status, message), **headers)


def _read_body(request, limit: int) -> bytes:
    raw_length = request.META.get("CONTENT_LENGTH") or ""
    if raw_length:
        try:
            length = int(raw_length)
        except ValueError as exc:
            raise otlp.PayloadError(400, "Content-Length is not a number.") from exc
        if length > limit:
            raise otlp.too_large(limit)
        body = request.read(limit + 1)
    elif request.META.get("wsgi.input_terminated"):
        # Chunked upload: the server ends the stream, so read it directly, bounded.
        body = request.META["wsgi.input"].read(limit + 1)
    else:
        body = request.read(limit + 1)
    if len(body) > limit:
        raise otlp.too_large(limit)
    return body


@csrf_exempt
@login_not_required
def otlp_traces(request):
    kind = otlp.media_type(request.content_type or "")
    kind = kind if kind in otlp.CONTENT_TYPES else otlp.JSON
    if request.method != "POST":
        return _error(kind, 405, "Send traces with POST.", Allow="POST")
    try:
        authenticated = BearerKeyAuthentication().authenticate(request)
    except exceptions.AuthenticationFailed as exc:
        return _error(kind, 401, str(exc.detail), WWW_Authenticate="Bearer")
    if authenticated is None:
        return _error(
            kind,
            401,
            "Send an API key: Authorization: Bearer <key> (OTEL_EXPORTER_OTLP_HEADERS).",
            WWW_Authenticate="Bearer",
        )
    user = authenticated[0]
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        kind = otlp.check_content_type(request.content_type or "")
        body = _read_body(request, limit)
        body = otlp.decompress(body, request.META.get("HTTP_CONTENT_ENCODING", ""), limit=limit)
        message = otlp.parse(body, kind)
        report = services.traces_ingest(
            user=user,
            request=message,
            project_hint=request.headers.get("X-Evalsite-Project", ""),
        )
    except otlp.PayloadError as exc:
        return _error(kind, exc.status, exc.message)
    except services.IngestRefused as exc:
        return _error(kind, exc.status, exc.message)
    if report.rejected:
        log.info("otlp: %d span(s) rejected: %s", report.rejected, report.error_message)
    body = otlp.success_body(kind, rejected=report.rejected, message=report.error_message)
    return _reply(kind, 200, body)
