"""OTLP/HTTP wire format: request bodies in, responses out.

Decoding uses the ``opentelemetry-proto`` messages: binary protobuf with ``FromString`` and
OTLP/JSON with protobuf's JSON parser, after the one departure OTLP/JSON makes from the
standard protobuf JSON mapping (trace and span ids are hex strings, not base64). Bodies are
bounded before and after decompression, so a small gzip bomb cannot grow into gigabytes.

Errors raise ``PayloadError`` with the HTTP status the OTLP/HTTP specification asks for
(400 bad data, 413 too large, 415 unsupported content type or encoding).
"""

from __future__ import annotations

import base64
import binascii
import zlib

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CONTENT_TYPES = (PROTOBUF, JSON)
# gRPC status codes used in the google.rpc.Status bodies of error responses.
GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 413: 3, 415: 3, 500: 13, 503: 14}


class PayloadError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def media_type(content_type: str) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_content_type(content_type: str) -> str:
    kind = media_type(content_type)
    if kind not in CONTENT_TYPES:
        shown = kind or "none"
        raise PayloadError(
            415,
            f"Unsupported Content-Type {shown}: send application/x-protobuf or "
            "application/json (OTLP/HTTP).",
        )
    return kind


def decompress(body: bytes, encoding: str, *, limit: int) -> bytes:
    """The body decoded per ``Content-Encoding`` (identity, gzip, deflate), at most ``limit``
    bytes once decompressed."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decoder = zlib.decompressobj(wbits=zlib.MAX_WBITS)
    else:
        raise PayloadError(
            415, f"Unsupported Content-Encoding {encoding}: use gzip, deflate or none."
        )
    try:
        out = decoder.decompress(body, limit + 1)
        if len(out) > limit or decoder.unconsumed_tail:
            raise PayloadError(413, _too_large(limit, "once decompressed"))
        out += decoder.flush()
    except zlib.error as exc:
        raise PayloadError(400, f"The body is not valid {encoding} data: {exc}.") from exc
    if len(out) > limit:
        raise PayloadError(413, _too_large(limit, "once decompressed"))
    if not decoder.eof:
        raise PayloadError(400, f"The {encoding} body is truncated.")
    return out


def _too_large(limit: int, where: str = "") -> str:
    suffix = f" {where}" if where else ""
    return f"The request body is larger than the limit of {limit} bytes{suffix}."


def too_large(limit: int) -> PayloadError:
    return PayloadError(413, _too_large(limit))


def _hex_to_b64(value, where: str, *, sizes: tuple[int, ...]) -> str:
    if not isinstance(value, str):
        raise PayloadError(400, f"{where} must be a hex string.")
    if value == "":
        return ""
    try:
        raw = binascii.unhexlify(value)
    except (binascii.Error, ValueError) as exc:
        raise PayloadError(400, f"{where} is not a hex string: {value[:40]!r}.") from exc
    if len(raw) not in sizes:
        raise PayloadError(400, f"{where} must be {sizes[-1] * 2} hex digits.")
    return base64.b64encode(raw).decode()


def _fix_ids(document) -> None:
    """OTLP/JSON writes ids as hex; the protobuf JSON parser expects base64 for bytes."""
    if not isinstance(document, dict):
        raise PayloadError(400, "The JSON body must be an object (ExportTraceServiceRequest).")
    for r_index, resource_spans in enumerate(_list(document, "resourceSpans", "resource_spans")):
        for s_index, scope_spans in enumerate(_list(resource_spans, "scopeSpans", "scope_spans")):
            for index, span in enumerate(_list(scope_spans, "spans")):
                where = f"resourceSpans[{r_index}].scopeSpans[{s_index}].spans[{index}]"
                if not isinstance(span, dict):
                    raise PayloadError(400, f"{where} must be an object.")
                _fix_span_ids(span, where)
                for l_index, link in enumerate(_list(span, "links")):
                    if isinstance(link, dict):
                        _fix_span_ids(link, f"{where}.links[{l_index}]")


def _list(container, *names) -> list:
    if not isinstance(container, dict):
        return []
    for name in names:
        value = container.get(name)
        if isinstance(value, list):
            return value
    return []


def _fix_span_ids(span: dict, where: str) -> None:
    for names, sizes in (
        (("traceId", "trace_id"), (16,)),
        (("spanId", "span_id"), (8,)),
        (("parentSpanId", "parent_span_id"), (8,)),
    ):
        for name in names:
            if name in span and span[name] is not None:
                span[name] = _hex_to_b64(span[name], f"{where}.{name}", sizes=sizes)


def parse(body: bytes, kind: str) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    if kind == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise PayloadError(
                400, f"The body is not a valid protobuf ExportTraceServiceRequest: {exc}"
            ) from exc
        return request
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(400, f"The body is not valid JSON: {exc}") from exc
    _fix_ids(document)
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise PayloadError(
            400, f"The JSON is not a valid OTLP ExportTraceServiceRequest: {exc}"
        ) from exc
    return request


# Responses -------------------------------------------------------------------------------


def success_body(kind: str, *, rejected: int = 0, message: str = "") -> bytes:
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if kind == PROTOBUF:
        return response.SerializeToString()
    return orjson.dumps(json_format.MessageToDict(response))


def error_body(kind: str, status: int, message: str) -> bytes:
    """A ``google.rpc.Status`` as the OTLP/HTTP specification asks for 4xx/5xx responses."""
    code = GRPC_CODES.get(status, 2)
    if kind == PROTOBUF:
        return status_pb2.Status(code=code, message=message).SerializeToString()
    return orjson.dumps({"code": code, "message": message})
