"""Cursor pagination for ``/v1`` lists: opaque cursors and one response shape.

``{"data": [...], "pagination": {"limit": n, "next_cursor": str | null, "has_more": bool}}``
"""

from __future__ import annotations

import base64
import binascii
import json

from django.core.exceptions import ValidationError
from rest_framework import serializers

from evalsite import safe_json

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def encode_cursor(values: dict) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = safe_json.loads(base64.urlsafe_b64decode(padded.encode()), path="cursor")
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:  # UnsafeJSON included
        raise ValidationError({"cursor": ["This cursor is not valid."]}) from exc
    if not isinstance(values, dict):
        raise ValidationError({"cursor": ["This cursor is not valid."]})
    return values


# The positions a cursor can carry: what an ``IntegerField`` holds on every database.
POSITION_RANGE = range(-(2**31), 2**31)


def decode_position_cursor(cursor: str) -> int:
    """The ``after`` position of a cursor made by ``encode_cursor({"after": n})``."""
    after = decode_cursor(cursor).get("after")
    if isinstance(after, bool) or not isinstance(after, int) or after not in POSITION_RANGE:
        raise ValidationError({"cursor": ["This cursor is not valid."]})
    return after


def read_limit(raw, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    if raw in (None, ""):
        return default
    try:
        limit = int(raw)
    except (TypeError, ValueError) as exc:
        raise ValidationError({"limit": ["Use a whole number."]}) from exc
    if not 1 <= limit <= maximum:
        raise ValidationError({"limit": [f"Use a number from 1 to {maximum}."]})
    return limit


def page_body(data: list, *, limit: int, next_cursor: str | None) -> dict:
    return {
        "data": data,
        "pagination": {
            "limit": limit,
            "next_cursor": next_cursor,
            "has_more": next_cursor is not None,
        },
    }


class PaginationOut(serializers.Serializer):
    limit = serializers.IntegerField()
    next_cursor = serializers.CharField(allow_null=True)
    has_more = serializers.BooleanField()


def paginated(item_serializer: type[serializers.Serializer], name: str):
    """An output serializer class for a cursor page of ``item_serializer`` (for the schema)."""
    return type(
        name,
        (serializers.Serializer,),
        {"data": item_serializer(many=True), "pagination": PaginationOut()},
    )
