"""CSV cells that a spreadsheet will not run: OWASP's defence against formula injection.

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is taken as a
formula by Excel, LibreOffice or Google Sheets (``=HYPERLINK(...)`` from a reason, or a client
name ``=1+2``). Such a cell is written with a single quote before it, which the spreadsheet shows
as text. Numbers are written as they are; only text is neutralised.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """The cell as written: text starting like a formula gets a leading single quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A header line, then one line per row (only ``columns``), every text cell neutralised.

    Lines end with CR LF (RFC 4180), so that a cell holding a CR or an LF is always quoted.
    """
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\r\n"
    )
    writer.writeheader()
    writer.writerows({c: neutralise(row.get(c)) for c in columns} for row in rows)
    return out.getvalue()
