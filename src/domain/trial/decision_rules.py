"""What an SRC decision may be: pure rules over the cohorts, the protocol and the signer.

The Trial's commands call these before any event (a refused decision appends nothing). The
3+3 engine recommends; the SRC decides and may depart from it, with a reason, and only the
conservative way: never escalating from, into or past a level where the MTD was exceeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from domain.actors import Actor
from domain.cohort import Cohort
from domain.designs.three_plus_three import Recommendation
from domain.errors import CommandRefused, InvalidInput
from domain.protocol import Protocol
from domain.protocol_design import ThreePlusThree
from domain.trial.interval_rules import IntervalRecommendation, check_mtd_level_pairing
from domain.trial.levels import dlts_at, lowest_exceeded_level, patients_at

ThreePlusThreeDecision = Literal["escalate", "expand", "de-escalate", "declare_mtd", "stop_no_mtd"]
THREE_PLUS_THREE_DECISIONS: tuple[str, ...] = get_args(ThreePlusThreeDecision)
Decision = Literal[
    "escalate",
    "expand",
    "stay",
    "de-escalate",
    "eliminate-and-de-escalate",
    "declare_mtd",
    "stop_no_mtd",
]
DECISIONS: tuple[str, ...] = get_args(Decision)
"""Every decision the SRC can sign: the 3+3's, and the interval designs' ``stay`` (another
cohort at the same level) and ``eliminate-and-de-escalate`` (domain.trial.interval_rules)."""
SIGNING_ROLES = ("src_member",)
REVIEW_OUTCOMES = ("decision_stands", "decision_revised")
"""What the SRC concludes when it re-reviews a decision that corrected facts flagged."""


def check_signer(signer: Actor, what: str) -> None:
    """Signed by a safety review committee member: the SRC decides, no one else."""
    if signer.role not in SIGNING_ROLES:
        raise CommandRefused(
            f"{what} is signed by a safety review committee member "
            f"(role src_member), not by role {signer.role}",
            rule="signer_role",
            field="signer",
        )


def check_signed(signer: Actor, what: str, reason: str) -> None:
    """Signed by an SRC member, with the reason for it."""
    check_signer(signer, what)
    if not reason.strip():
        raise CommandRefused(f"{what} needs a reason", rule="reason_required", field="reason")


def recommended_decision(rec: Recommendation | IntervalRecommendation) -> tuple[str, int | None]:
    """The decision and target level a recommendation stands for (to tell a departure)."""
    if rec.action == "declare_mtd":
        return ("declare_mtd", rec.mtd)
    if rec.action == "stop_no_mtd":
        return ("stop_no_mtd", None)
    return (rec.action, rec.next_dose)


def check_decision(
    decision: str, mtd_level: int | None, cohorts: Sequence[Cohort], protocol: Protocol
) -> int | None:
    """Validate a decision on the open (last) cohort; returns its target level (None for stopping
    without MTD). Departures from 3+3 go the conservative way only (domain.md §8)."""
    if decision not in THREE_PLUS_THREE_DECISIONS:
        raise InvalidInput(
            f"unknown decision '{decision}'; decisions: {', '.join(THREE_PLUS_THREE_DECISIONS)}",
            field="decision",
        )
    check_mtd_level_pairing(decision, mtd_level)
    level = cohorts[-1].level
    top = protocol.num_levels
    assert isinstance(protocol.design, ThreePlusThree)
    per_level = protocol.design.max_patients_per_level
    size = protocol.design.cohort_size
    if decision == "declare_mtd":
        assert mtd_level is not None
        if not 1 <= mtd_level <= top or patients_at(cohorts, mtd_level) == 0:
            raise CommandRefused(
                f"dose level {mtd_level} was never given; the MTD is a level patients "
                "were treated at",
                rule="mtd_untested",
                field="mtd_level",
            )
        if dlts_at(cohorts, mtd_level) >= 2:
            raise CommandRefused(
                f"dose level {mtd_level} had {dlts_at(cohorts, mtd_level)} DLTs; "
                "an MTD has at most 1",
                rule="mtd_not_tolerated",
                field="mtd_level",
            )
        exceeded = lowest_exceeded_level(cohorts)
        if exceeded is not None and mtd_level > exceeded:
            raise CommandRefused(
                f"dose level {mtd_level} is above dose level {exceeded}, where the MTD was "
                f"exceeded ({dlts_at(cohorts, exceeded)} DLTs); the MTD is below it",
                rule="mtd_above_exceeded_level",
                field="mtd_level",
            )
        return mtd_level
    if decision == "stop_no_mtd":
        return None
    target = {"escalate": level + 1, "expand": level, "de-escalate": level - 1}[decision]
    exceeded = lowest_exceeded_level(cohorts)
    if decision == "escalate" and exceeded is not None and exceeded <= target:
        # Departures go the conservative way only (domain.md §8): never up from, into or
        # past a level where the MTD was exceeded.
        where = "this level" if exceeded == level else f"dose level {exceeded}"
        raise CommandRefused(
            f"cannot escalate from dose level {level} to {target}: the MTD was exceeded at "
            f"{where} ({dlts_at(cohorts, exceeded)} DLTs)",
            rule="escalation_after_mtd_exceeded",
            field="decision",
        )
    if not 1 <= target <= top:
        raise CommandRefused(
            f"cannot {decision} from dose level {level}: levels are 1-{top}",
            rule="no_such_level",
            field="decision",
        )
    if patients_at(cohorts, target) + size > per_level:
        raise CommandRefused(
            f"dose level {target} already has {patients_at(cohorts, target)} patients; "
            f"a level takes at most {per_level}",
            rule="level_full",
            field="decision",
        )
    return target
