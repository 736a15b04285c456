"""Refusals that happen before a view runs (one middleware, early in the chain).

- Under the API prefixes (``/v1/``, ``/v2/gen-ai/``) a body whose ``Content-Length`` is over
  the limit (``DATA_UPLOAD_MAX_MEMORY_SIZE`` for JSON and forms; the upload limit for
  multipart) gets a JSON 400 without being read; ``RequestDataTooBig`` raised later becomes
  the same JSON 400 instead of Django's HTML page.
- Everywhere but OTLP ingestion, a body sent with ``Transfer-Encoding: chunked`` and no
  ``Content-Length`` gets a 411 before a byte is read: Django's WSGI request reads a body
  without a length as empty, so an upload would otherwise be answered "no file was submitted"
  (and a JSON body "required field") whatever it held. ``/otlp/`` reads the server-terminated
  stream itself, bounded (``traces.views``), because trace exporters may stream.
- Everywhere, a query parameter (``search=``, filters...) whose name or value holds a NUL
  character is refused with a 400 naming the parameter: PostgreSQL cannot compare text with
  ``\\x00`` in it. (URL decoding turns undecodable bytes into U+FFFD, so lone surrogates cannot
  arrive this way.)
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpResponse, JsonResponse

from evalsite import uploads
from evalsite.errors import error_body
from evalsite.safe_json import text_problem

API_PREFIXES = ("/v1/", "/v2/gen-ai/")


def is_api(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path.rstrip("/") in ("/v1", "/v2/gen-ai")


CHUNKED_PREFIXES = ("/otlp/",)
LENGTH_REQUIRED = (
    "Send the request body with a Content-Length header: chunked bodies "
    "(Transfer-Encoding: chunked) are not accepted."
)


def _bad_request(request, message: str, *, code: str, field: str = "", status: int = 400):
    if is_api(request.path):
        # Each dialect's error shape (DigitalOcean's under /v2/gen-ai): evalsite.errors.
        errors = {field: [message]} if field else None
        body = error_body(request, status=status, message=message, code=code, errors=errors)
        return JsonResponse(body, status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def is_chunked_without_length(request) -> bool:
    if request.path.startswith(CHUNKED_PREFIXES):
        return False
    encoding = request.META.get("HTTP_TRANSFER_ENCODING", "")
    return "chunked" in encoding.lower() and not request.META.get("CONTENT_LENGTH")


class RequestGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if is_chunked_without_length(request):
            return _bad_request(request, LENGTH_REQUIRED, code="length_required", status=411)
        for name, values in request.GET.lists():
            for text in (name, *values):
                problem = text_problem(text)
                if problem:
                    shown = name.replace("\x00", "?")[:60]
                    return _bad_request(
                        request,
                        f"Query parameter {shown} {problem}.",
                        code="invalid",
                        field=shown,
                    )
        if is_api(request.path):
            too_big = self._body_too_big(request)
            if too_big:
                return _bad_request(request, too_big, code="request_too_large")
        return self.get_response(request)

    @staticmethod
    def _body_too_big(request) -> str | None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if request.content_type == "multipart/form-data":
            limit = uploads.request_limit()
            return uploads.too_large_message() if length > limit else None
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and length > limit:
            return f"The request body is larger than {limit} bytes."
        return None

    def process_exception(self, request, exception):
        if is_api(request.path) and isinstance(exception, RequestDataTooBig | TooManyFieldsSent):
            return _bad_request(request, str(exception), code="request_too_large")
        return None
