"""Column inference: the ordered column names of a version's rows and each one's JSON type."""

from __future__ import annotations

from datasets.models import TRACE_FIELDS, ColumnType

_TYPES = {
    str: ColumnType.STRING,
    bool: ColumnType.BOOLEAN,
    int: ColumnType.NUMBER,
    float: ColumnType.NUMBER,
    dict: ColumnType.OBJECT,
    list: ColumnType.ARRAY,
    type(None): ColumnType.NULL,
}


def type_of(value) -> str:
    return str(_TYPES.get(type(value), ColumnType.MIXED))


def merge(left: str, right: str) -> str:
    """The type of a column holding values of both types (null is compatible with all)."""
    if left == right or right == ColumnType.NULL:
        return left
    if left == ColumnType.NULL:
        return right
    return str(ColumnType.MIXED)


class ColumnSet:
    """Columns in order of first appearance, with types merged across rows."""

    def __init__(self, columns: list[dict] | None = None):
        self.types: dict[str, str] = {c["name"]: c["type"] for c in columns or []}

    def add_row(self, data: dict) -> None:
        types = self.types
        for name, value in data.items():
            kind = type_of(value)
            current = types.get(name)
            if current is None:
                types[name] = kind
            elif current != kind:
                types[name] = merge(current, kind)

    def as_list(self, *, order: list[str] | None = None) -> list[dict]:
        """Columns in ``order`` first (names still present), then any others as first seen.

        PostgreSQL's jsonb does not keep key order, so the order recorded while rows were
        written (from the rows as sent) is the one to keep.
        """
        names = [name for name in order or [] if name in self.types]
        names += [name for name in self.types if name not in set(names)]
        return [{"name": name, "type": self.types[name]} for name in names]


def is_trace_shaped(data: dict) -> bool:
    return all(name in data for name in TRACE_FIELDS)
