"""What each open adverse event requires of dosing, and the dosing status they add up to.

domain.md §5a: every open AE carries its own requirement (continue, reduce, withhold until a
condition, discontinue). The patient's dosing status is the most restrictive of them: a
discontinuation is permanent, a hold ends only when every withhold condition is met, and the
dose on resumption is the lowest rung that any of them requires. Pure values and functions:
the Patient aggregate keeps one ``Requirement`` per AE and asks this module what they mean.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from domain.adverse_event import AdverseEvent, ResumeAt

RequiredAction = Literal["reduce", "withhold", "discontinue"]
REQUIRED_ACTIONS: tuple[RequiredAction, ...] = ("reduce", "withhold", "discontinue")
"""Recommendations that ask something of the investigator (continue and resume ask nothing)."""


@dataclass
class Requirement:
    """What one adverse event requires, from the recommendation recorded for it."""

    ae_id: UUID
    action: RequiredAction
    rule: str
    since: dt.date
    resume: ResumeAt | None = None
    resume_when_grade_at_most: int | None = None
    resume_when_bcva_at_baseline: bool = False
    within_days: int | None = None
    discontinue_all_agents: bool = False
    held_since: dt.date | None = None
    """Withhold: the day dosing stopped for this AE (day 0 of its recovery window)."""
    met_on: dt.date | None = None
    """Withhold: the day its resume condition was first met (None while it is not)."""

    @property
    def deadline(self) -> dt.date | None:
        """The last day recovery counts as in time (hold day + within_days), once held."""
        if self.held_since is None or self.within_days is None:
            return None
        return self.held_since + dt.timedelta(days=self.within_days)

    @property
    def met_in_time(self) -> bool:
        """True when the resume condition was met by the deadline (or there is none)."""
        if self.met_on is None:
            return False
        return self.deadline is None or self.met_on <= self.deadline

    def condition(self) -> str:
        """The resume condition in words."""
        if self.resume_when_bcva_at_baseline:
            text = "BCVA back to baseline"
        elif self.resume_when_grade_at_most is not None:
            text = (
                "AE resolved"
                if self.resume_when_grade_at_most == 0
                else f"AE at grade {self.resume_when_grade_at_most} or less"
            )
        else:
            text = "investigator's decision"
        if self.deadline is not None:
            text += f" by {self.deadline}"
        return text

    def is_met_by(self, ae: AdverseEvent | None, baseline_logmar: float | None) -> bool:
        """True when the AE's current state meets this withhold's resume condition."""
        if ae is None or not ae.is_open:
            return True
        if self.resume_when_bcva_at_baseline:
            return (
                ae.bcva_logmar is not None
                and baseline_logmar is not None
                and ae.bcva_logmar <= baseline_logmar
            )
        if self.resume_when_grade_at_most is not None:
            return ae.grade <= self.resume_when_grade_at_most
        return False

    def as_record(self) -> dict[str, Any]:
        """The requirement as plain data (patient views)."""
        return {
            "ae_id": str(self.ae_id),
            "action": self.action,
            "rule": self.rule,
            "since": self.since.isoformat(),
            "resume": self.resume,
            "resume_condition": self.condition() if self.action == "withhold" else None,
            "held_since": None if self.held_since is None else self.held_since.isoformat(),
            "deadline": None if self.deadline is None else self.deadline.isoformat(),
            "met_on": None if self.met_on is None else self.met_on.isoformat(),
            "discontinue_all_agents": self.discontinue_all_agents,
        }


def requirement_from(
    ae_id: UUID, on: dt.date, recommendation: dict[str, Any]
) -> Requirement | None:
    """The requirement a recorded recommendation places on dosing (None for continue/resume)."""
    action = recommendation["action"]
    if action not in REQUIRED_ACTIONS:
        return None
    return Requirement(
        ae_id=ae_id,
        action=action,
        rule=str(recommendation.get("rule") or ""),
        since=on,
        resume=recommendation.get("resume"),
        resume_when_grade_at_most=recommendation.get("resume_when_grade_at_most"),
        resume_when_bcva_at_baseline=bool(recommendation.get("resume_when_bcva_at_baseline")),
        within_days=recommendation.get("within_days"),
        discontinue_all_agents=bool(recommendation.get("discontinue_all_agents")),
    )


def supersede(old: Requirement | None, new: Requirement | None) -> Requirement | None:
    """The AE's requirement after a new recommendation for it.

    A later recommendation for the same AE replaces the earlier one, except that a withhold in
    force keeps its hold day (its recovery window does not restart when the grade worsens) and a
    discontinuation is never weakened by a later recommendation for the same AE.
    """
    if old is None:
        return new
    if old.action == "discontinue" and (new is None or new.action != "discontinue"):
        return old
    if new is not None and new.action == "withhold" and old.action == "withhold":
        new.held_since = old.held_since
    return new


def withholds(requirements: Iterable[Requirement]) -> list[Requirement]:
    """The withhold requirements, in the order they arose."""
    return [r for r in requirements if r.action == "withhold"]


def discontinuations(requirements: Iterable[Requirement]) -> list[Requirement]:
    """The discontinue requirements (permanent)."""
    return [r for r in requirements if r.action == "discontinue"]


def resume_rung(requirements: Iterable[Requirement]) -> ResumeAt:
    """The dose on resumption: the lowest rung any withhold asks for."""
    return "reduced" if any(r.resume == "reduced" for r in withholds(requirements)) else "same"


@dataclass
class HoldPeriod:
    """Days on which dosing was withheld: from ``start`` to the day before ``end`` (resume)."""

    start: dt.date
    end: dt.date | None = None
    reason: str = ""

    def covers(self, day: dt.date) -> bool:
        """True when ``day`` is a withheld day of this period."""
        return self.start <= day and (self.end is None or day < self.end)

    def as_record(self) -> dict[str, Any]:
        """The period as plain data."""
        return {
            "start": self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
        }
