"""What text the ledger accepts: no control characters (free text may hold line breaks).

C0 controls (U+0000-U+001F), DEL and C1 controls (U+007F-U+009F) are refused: a NUL is cut by
some tools and not others, a tab or carriage return at the start of a spreadsheet cell starts a
formula, and none of them belongs in a clinical record. Free text (findings, reasons,
descriptions) may hold line breaks (LF, or CR LF).
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINE_BREAKS = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r(?!\n)")


def _problem(value: str, pattern: re.Pattern[str], accepted: str) -> str | None:
    found = pattern.search(value)
    if found is None:
        return None
    return (
        f"control character U+{ord(found.group()[0]):04X} at position {found.start()}; {accepted}"
    )


def plain_text_problem(value: str) -> str | None:
    """Why ``value`` is not one line of plain text (None when it is)."""
    return _problem(value, _CONTROL, "plain text only, without control characters")


def free_text_problem(value: str) -> str | None:
    """Why ``value`` is not acceptable free text (None when it is)."""
    return _problem(
        value,
        _CONTROL_BUT_LINE_BREAKS,
        "text and line breaks (LF or CR LF) only, without other control characters",
    )
