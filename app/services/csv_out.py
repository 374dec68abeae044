"""The one way this app writes CSV: every text cell is neutralised against formula injection.

A spreadsheet reads a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (OWASP, "CSV Injection"); such text cells get a leading apostrophe.
Numbers stay numbers: an int or float is written as is, and so is text that is nothing but
a plain decimal number (``-0.25``), since a spreadsheet can only read it as that number.
"""

from __future__ import annotations

import csv
import io
import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def neutralise(text: str | None) -> str:
    """Keep a spreadsheet from reading a text cell as a formula (OWASP CSV injection advice)."""
    if not text:
        return ""
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_cell(value: Any) -> str:
    """One cell: numbers as numbers, booleans as true/false, None empty, the rest as
    neutralised text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        return repr(number) if math.isfinite(number) else ""
    return neutralise(str(value))


def write_csv(rows: Iterable[Sequence[Any] | Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A header of ``columns`` and one line per row (a sequence in column order, or a
    mapping by column name), every cell through :func:`csv_cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([neutralise(name) for name in columns])
    for row in rows:
        values = [row.get(name) for name in columns] if isinstance(row, Mapping) else list(row)
        if len(values) != len(columns):
            raise ValueError(f"a CSV row has {len(values)} cells for {len(columns)} columns")
        writer.writerow([csv_cell(value) for value in values])
    return out.getvalue()
