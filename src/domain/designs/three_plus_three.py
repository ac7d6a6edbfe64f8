"""The 3+3 dose-escalation rule as a pure function of the trial path.

The decisions reproduce ``three_plus_three()`` of the R package ``escalation`` (strict mode),
with and without Korn et al.'s (1994) de-escalation; see docs/domain.md §3. A path may start
above level 1 (a protocol's ``design.starting_level``): two DLTs at a level whose lower neighbour
no patient received de-escalate to it in both variants, never declaring an MTD at an untried level
(domain.md §6); with de-escalation the level reached is expanded to 6 before it is the MTD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from domain.errors import InvalidInput

__all__ = [
    "Action",
    "LevelCount",
    "PatientOutcome",
    "Recommendation",
    "format_outcomes",
    "level_counts",
    "parse_outcomes",
    "recommend",
    "recommend_text",
]

Action = Literal["enrol", "escalate", "expand", "de-escalate", "declare_mtd", "stop_no_mtd"]

COHORT_SIZE = 3
MAX_AT_LEVEL = 6
_DLT_LETTERS = {"N": False, "T": True}


@dataclass(frozen=True, slots=True)
class PatientOutcome:
    """One evaluable patient: the 1-based dose level given and whether a DLT occurred."""

    level: int
    dlt: bool

    def __post_init__(self) -> None:
        if self.level < 1:
            raise InvalidInput(
                f"patient outcome: level {self.level} is not a dose level; levels start at 1",
                field="level",
            )


@dataclass(frozen=True, slots=True)
class LevelCount:
    """Patients treated and DLTs seen at one dose level."""

    level: int
    patients: int
    dlts: int


@dataclass(frozen=True, slots=True)
class Recommendation:
    """What the 3+3 rule says after the path so far."""

    next_dose: int | None
    continue_trial: bool
    mtd: int | None
    action: Action

    def as_json(self) -> dict[str, object]:
        """Return the wire form: next_dose, continue and mtd."""
        return {"next_dose": self.next_dose, "continue": self.continue_trial, "mtd": self.mtd}


def _parse_cohort(token: str) -> list[PatientOutcome]:
    digits_end = 0
    while digits_end < len(token) and token[digits_end] in "0123456789":
        digits_end += 1
    digits, letters = token[:digits_end], token[digits_end:]
    if not digits:
        raise InvalidInput(
            f"outcome string: cohort '{token}' does not start with a dose level; "
            "write the level then one N or T per patient, e.g. '1NNT'",
            field="outcomes",
        )
    level = int(digits)
    if level == 0:
        raise InvalidInput(
            f"outcome string: cohort '{token}' has level 0; dose levels start at 1",
            field="outcomes",
        )
    if not letters:
        raise InvalidInput(
            f"outcome string: cohort '{token}' has no patients; "
            "write one N (no DLT) or T (DLT) per patient after the level",
            field="outcomes",
        )
    patients: list[PatientOutcome] = []
    for char in letters:
        dlt = _DLT_LETTERS.get(char.upper())
        if dlt is None:
            if char in "0123456789":
                # "1NN2NN": the likeliest cause is a missing space between two cohorts.
                hint = "separate cohorts with a space"
                kind = "digit"
            else:
                hint = "use N (no DLT) or T (DLT)"
                kind = "letter" if char.isalpha() else "character"
            raise InvalidInput(
                f"outcome string: cohort '{token}' has {kind} '{char}'; {hint}",
                field="outcomes",
            )
        patients.append(PatientOutcome(level=level, dlt=dlt))
    return patients


def parse_outcomes(text: str) -> tuple[PatientOutcome, ...]:
    """Parse an outcome string such as ``"1NNN 2NTN"`` into patients in order."""
    patients: list[PatientOutcome] = []
    for token in text.split():
        patients.extend(_parse_cohort(token))
    return tuple(patients)


def format_outcomes(path: Sequence[PatientOutcome]) -> str:
    """Write a path as an outcome string, one token per run of patients at the same level."""
    tokens: list[str] = []
    current_level: int | None = None
    letters: list[str] = []
    for patient in path:
        if patient.level != current_level:
            if current_level is not None:
                tokens.append(f"{current_level}{''.join(letters)}")
            current_level, letters = patient.level, []
        letters.append("T" if patient.dlt else "N")
    if current_level is not None:
        tokens.append(f"{current_level}{''.join(letters)}")
    return " ".join(tokens)


def _check_num_doses(num_doses: int) -> None:
    if num_doses < 1:
        raise InvalidInput(
            f"num_doses is {num_doses}; a design needs at least one dose level",
            field="num_doses",
        )


def _counts(path: Sequence[PatientOutcome], num_doses: int) -> tuple[list[int], list[int]]:
    # Index 0 is unused so that list positions are dose levels; the extra slot at
    # num_doses + 1 lets "the level above" be read at the top level without a branch.
    n = [0] * (num_doses + 2)
    tox = [0] * (num_doses + 2)
    for patient in path:
        if patient.level > num_doses:
            raise InvalidInput(
                f"outcomes: level {patient.level} is above the highest dose level {num_doses}",
                field="outcomes",
            )
        n[patient.level] += 1
        tox[patient.level] += patient.dlt
    return n, tox


def level_counts(path: Sequence[PatientOutcome], num_doses: int) -> tuple[LevelCount, ...]:
    """Count patients and DLTs at every dose level 1..num_doses."""
    _check_num_doses(num_doses)
    n, tox = _counts(path, num_doses)
    return tuple(LevelCount(level, n[level], tox[level]) for level in range(1, num_doses + 1))


def _enforce_three_plus_three(
    n: list[int], tox: list[int], last: int, num_doses: int, *, deescalate: bool
) -> None:
    levels = range(1, num_doses + 1)
    for level in levels:
        if n[level] > MAX_AT_LEVEL:
            raise InvalidInput(
                f"outcomes: level {level} has {n[level]} patients; "
                f"the 3+3 design treats at most {MAX_AT_LEVEL} at a level",
                field="outcomes",
            )
    given = [level for level in levels if n[level] > 0]
    if given:
        for level in range(given[0], given[-1] + 1):
            if n[level] == 0:
                raise InvalidInput(
                    f"outcomes: some doses have been skipped: level {level} has no patients "
                    f"but levels {given[0]} and {given[-1]} do",
                    field="outcomes",
                )
    in_progress = [level for level in levels if n[level] % COHORT_SIZE != 0]
    if len(in_progress) > 1:
        listed = ", ".join(str(level) for level in in_progress)
        raise InvalidInput(
            f"outcomes: several cohorts in progress: levels {listed} each have a patient count "
            f"that is not a multiple of {COHORT_SIZE}",
            field="outcomes",
        )
    for level in in_progress:
        if level != last:
            raise InvalidInput(
                f"outcomes: the cohort at level {level} is not complete ({n[level]} patients) "
                f"but the last patient was at level {last}",
                field="outcomes",
            )
    if not deescalate:
        for level in levels:
            if n[level] > COHORT_SIZE and tox[level] == 0:
                raise InvalidInput(
                    f"outcomes: level {level} has {n[level]} patients and no DLT; "
                    "without de-escalation the 3+3 design should have escalated after 3",
                    field="outcomes",
                )


def _stop(mtd: int | None) -> Recommendation:
    action: Action = "stop_no_mtd" if mtd is None else "declare_mtd"
    return Recommendation(next_dose=None, continue_trial=False, mtd=mtd, action=action)


def _go(next_dose: int, action: Action) -> Recommendation:
    return Recommendation(next_dose=next_dose, continue_trial=True, mtd=None, action=action)


def _tolerated(
    n: list[int], tox: list[int], last: int, num_doses: int, *, deescalate: bool
) -> Recommendation:
    # The level above may already be known to be too toxic (or fully explored) after a
    # de-escalation: escalating into it again would break the 6-patient cap.
    if last == num_doses or n[last + 1] >= MAX_AT_LEVEL or tox[last + 1] >= 2:
        if deescalate and tox[last + 1] >= 2 and n[last] < MAX_AT_LEVEL:
            # Korn: the level below a too-toxic one is expanded to 6 before it is the MTD.
            # Only a trial that started above level 1 comes down into an untried level and
            # sees 0/3 there (otherwise the level already had 3 before the de-escalation).
            return _go(last, "expand")
        return _stop(last)
    return _go(last + 1, "escalate")


def _too_toxic(
    n: list[int], tox: list[int], last: int, num_doses: int, *, deescalate: bool
) -> Recommendation:
    if last == 1:
        return _stop(None)
    if n[last - 1] == 0:
        # The trial started above level 1 (domain.md §6): never an MTD at a level no patient
        # received; in either variant, try the level below.
        return _go(last - 1, "de-escalate")
    if not deescalate:
        # Classic 3+3: the level below is the MTD however many patients it had.
        return _stop(last - 1)
    if n[last - 1] < MAX_AT_LEVEL:
        return _go(last - 1, "de-escalate")
    # Korn et al.: "the highest dose level in which 6 patients have been treated with <= 1 DLT".
    for level in range(num_doses, 0, -1):
        if n[level] >= MAX_AT_LEVEL and tox[level] <= 1:
            return _stop(level)
    return _stop(None)


def recommend(
    path: Sequence[PatientOutcome], num_doses: int, *, deescalate: bool
) -> Recommendation:
    """Recommend the next dose, or stop and name the MTD, after the patients in ``path``."""
    _check_num_doses(num_doses)
    n, tox = _counts(path, num_doses)
    if not path:
        return _go(1, "enrol")
    last = path[-1].level
    _enforce_three_plus_three(n, tox, last, num_doses, deescalate=deescalate)
    n_last, tox_last = n[last], tox[last]
    if n_last < COHORT_SIZE or COHORT_SIZE < n_last < MAX_AT_LEVEL:
        return _go(last, "enrol")
    if n_last == COHORT_SIZE:
        if tox_last == 0:
            return _tolerated(n, tox, last, num_doses, deescalate=deescalate)
        if tox_last == 1:
            return _go(last, "expand")
        return _too_toxic(n, tox, last, num_doses, deescalate=deescalate)
    # n_last == MAX_AT_LEVEL: larger counts were refused by the enforcement above.
    if tox_last <= 1:
        return _tolerated(n, tox, last, num_doses, deescalate=deescalate)
    return _too_toxic(n, tox, last, num_doses, deescalate=deescalate)


def recommend_text(text: str, num_doses: int, *, deescalate: bool) -> Recommendation:
    """Parse an outcome string and recommend, as :func:`recommend` does."""
    return recommend(parse_outcomes(text), num_doses, deescalate=deescalate)
