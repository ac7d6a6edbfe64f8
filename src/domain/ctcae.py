"""The NCI CTCAE v5.0 term catalogue: 837 terms with MedDRA code, system organ class and grades.

The catalogue ships as package data (``domain/data/ctcae_v5_terms.json``), derived from the
project's reference copy with one correction recorded in the file's ``_corrections`` note:
"Conjunctivitis" (10010741) moved from "Infections and infestations" to "Eye disorders", where
CTCAE v5.0 lists it ("Conjunctivitis infective" stays an infection). The other terms the product
grades or acts on were checked against CTCAE v5.0 and are unchanged (listed in
``_checked_unchanged``).
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

from domain.errors import InvalidInput

CTCAE_VERSION = "5.0"

_DATA_FILE = "ctcae_v5_terms.json"
_BLOOD_SOC = "Blood and lymphatic system disorders"
# Haematology lab terms sit under "Investigations" in CTCAE, yet the dose-modification rules treat
# them as haematological (no automatic action; reviewed toward DLTs), so they are listed by name.
_HAEMATOLOGY_LAB_TERMS = frozenset(
    {
        "Neutrophil count decreased",
        "Platelet count decreased",
        "White blood cell decreased",
        "Lymphocyte count decreased",
        "Anemia",
    }
)


@dataclass(frozen=True)
class CtcaeTerm:
    """One CTCAE v5.0 term and the grades it defines."""

    term: str
    meddra_code: str
    soc: str
    grades: tuple[int, ...]

    @property
    def is_haematological(self) -> bool:
        """True for blood and lymphatic system disorders and the haematology lab terms."""
        return self.soc == _BLOOD_SOC or self.term in _HAEMATOLOGY_LAB_TERMS


class CtcaeCatalogue:
    """Look-up and grade validation over the CTCAE v5.0 terms."""

    def __init__(self, terms: Iterable[CtcaeTerm]) -> None:
        self._terms: tuple[CtcaeTerm, ...] = tuple(terms)
        self._by_name: dict[str, CtcaeTerm] = {}
        self._by_code: dict[str, CtcaeTerm] = {}
        for term in self._terms:
            key = term.term.casefold()
            if key in self._by_name:
                raise ValueError(f"duplicate CTCAE term {term.term!r}")
            if term.meddra_code in self._by_code:
                raise ValueError(f"duplicate MedDRA code {term.meddra_code!r}")
            self._by_name[key] = term
            self._by_code[term.meddra_code] = term

    @classmethod
    def load(cls) -> CtcaeCatalogue:
        """Return the catalogue shipped as package data (read once, then cached)."""
        return _packaged_catalogue()

    def lookup(self, term_or_code: str) -> CtcaeTerm:
        """Find a term by name (any case, surrounding blanks ignored) or by MedDRA code."""
        if not isinstance(term_or_code, str):
            raise InvalidInput(
                f"CTCAE term must be text, not {type(term_or_code).__name__}", field="term"
            )
        query = term_or_code.strip()
        found = self._by_code.get(query) or self._by_name.get(query.casefold())
        if found is None:
            raise InvalidInput(self._unknown_message(query), field="term")
        return found

    def validate_grade(self, term: str, grade: int) -> CtcaeTerm:
        """Return the term if it defines ``grade``; refuse unknown terms and undefined grades."""
        found = self.lookup(term)
        # bool is an int subclass; a True/False grade is a caller bug, not grade 1/0.
        if isinstance(grade, bool) or not isinstance(grade, int):
            raise InvalidInput(f"CTCAE grade must be a whole number, not {grade!r}", field="grade")
        if grade not in found.grades:
            allowed = ", ".join(str(g) for g in found.grades)
            raise InvalidInput(
                f"{found.term} has no grade {grade} in CTCAE v{CTCAE_VERSION}; "
                f"allowed grades: {allowed}",
                field="grade",
            )
        return found

    def __len__(self) -> int:
        return len(self._terms)

    def __iter__(self) -> Iterator[CtcaeTerm]:
        return iter(self._terms)

    def _unknown_message(self, query: str) -> str:
        message = f"{query!r} is not a CTCAE v{CTCAE_VERSION} term or MedDRA code"
        # Match case-insensitively, then report the catalogue's own spelling.
        close = difflib.get_close_matches(query.casefold(), list(self._by_name), n=3)
        if close:
            names = ", ".join(repr(self._by_name[key].term) for key in close)
            message += f"; did you mean {names}?"
        return message


@functools.cache
def _packaged_catalogue() -> CtcaeCatalogue:
    text = resources.files("domain").joinpath("data").joinpath(_DATA_FILE).read_text("utf-8")
    document: Any = json.loads(text)
    return CtcaeCatalogue(_parse_term(entry) for entry in document["terms"])


def _parse_term(entry: Any) -> CtcaeTerm:
    # The file is package data, but a bad edit should fail loudly at load, not grade wrongly later.
    term, code, soc, grades = entry["term"], entry["meddra_code"], entry["soc"], entry["grades"]
    if not (isinstance(term, str) and isinstance(code, str) and isinstance(soc, str)):
        raise ValueError(f"malformed CTCAE entry {entry!r}")
    if not (isinstance(grades, list) and grades and all(type(g) is int for g in grades)):
        raise ValueError(f"malformed grades in CTCAE entry {entry!r}")
    return CtcaeTerm(term=term, meddra_code=code, soc=soc, grades=tuple(sorted(grades)))
