"""CSV cells that a spreadsheet would run as a formula are neutralised (CSV injection).

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
``'`` so Excel, LibreOffice and Google Sheets show it as text instead of evaluating it
(``=HYPERLINK(...)``, ``@SUM(...)``, ``-2+3``). Plain numbers (``-5``, ``+1.5e3``) are left as
they are, so numeric columns stay numeric. Every CSV export (dataset versions, run results)
writes through ``writer()``.
"""

from __future__ import annotations

import csv
import re

FORMULA_START = frozenset("=+-@\t\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def escape_cell(value):
    if isinstance(value, str) and value and value[0] in FORMULA_START:
        if value[0] in "+-" and _NUMBER.fullmatch(value):
            return value
        return "'" + value
    return value


class _SafeWriter:
    __slots__ = ("_writer",)

    def __init__(self, stream, **kwargs):
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row):
        return self._writer.writerow([escape_cell(value) for value in row])

    def writerows(self, rows):
        return self._writer.writerows([[escape_cell(value) for value in row] for row in rows])


def writer(stream, **kwargs) -> _SafeWriter:
    """``csv.writer`` whose cells go through ``escape_cell``."""
    return _SafeWriter(stream, **kwargs)
