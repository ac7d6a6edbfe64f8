"""The Trial aggregate: cohorts at dose levels, DLT counting, 3+3 recommendations, SRC decisions.

This module holds what the event-sourcing library needs on the class itself: the events named
on it and the ``@event`` methods that apply them (the metaclass looks for both in the class's
own namespace), with the queries over the state they build. The commands live in mixins by
concern (``enrolment``, ``outcomes``, ``decisions``); the pure rules they apply in
``decision_rules`` and ``levels``; the event classes in ``events``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.actors import Actor
from domain.cohort import Cohort, CohortOrigin, Outcome
from domain.designs.three_plus_three import (
    PatientOutcome,
    Recommendation,
    format_outcomes,
    recommend,
)
from domain.errors import CommandRefused, InvalidInput
from domain.protocol import Protocol
from domain.protocol_design import ThreePlusThree
from domain.trial import events, levels
from domain.trial.decisions import DecisionCommands
from domain.trial.enrolment import EnrolmentCommands
from domain.trial.interval_rules import IntervalRecommendation, interval_recommendation
from domain.trial.outcomes import OutcomeCommands

TrialStatus = Literal["escalating", "mtd_declared", "stopped"]


class Trial(EnrolmentCommands, OutcomeCommands, DecisionCommands, Aggregate):
    """A dose-escalation trial, rebuilt from its events."""

    TOPIC = "doseledger:trial"
    class_version = 2  # of the state: a snapshot of another one is not used (2: site_time_zones)

    # The events (trial/events.py), named here for the metaclass: keep this order.
    Created = events.Created
    Registered = events.Registered
    Event = events.Event
    PatientEnrolled = events.PatientEnrolled
    SiteTimeZoneRecorded = events.SiteTimeZoneRecorded
    DLTObserved = events.DLTObserved
    DLTWindowCompleted = events.DLTWindowCompleted
    PatientNotEvaluable = events.PatientNotEvaluable
    DLTCandidateRaised = events.DLTCandidateRaised
    DLTCandidateAdjudicated = events.DLTCandidateAdjudicated
    SRCDecisionSigned = events.SRCDecisionSigned
    CohortOpened = events.CohortOpened
    CohortExpanded = events.CohortExpanded
    MTDDeclared = events.MTDDeclared
    StoppedWithoutMTD = events.StoppedWithoutMTD
    OutcomeRevised = events.OutcomeRevised
    DecisionReviewed = events.DecisionReviewed
    DecisionFlaggedForReview = events.DecisionFlaggedForReview

    # ----------------------------------------------------------------- state (applied)

    @event(Registered)
    def __init__(self, id: UUID, protocol: dict[str, Any], name: str, actor: dict[str, Any]):
        self.protocol = Protocol.model_validate(protocol)
        self.name = name
        self.status: TrialStatus = "escalating"
        self.mtd: int | None = None
        self.cohorts: list[Cohort] = []
        self.subjects: dict[str, UUID] = {}
        self.patient_cohort: dict[UUID, int] = {}
        self.decisions: list[dict[str, Any]] = []
        self.flagged_for_review: list[int] = []
        self.site_time_zones: dict[str, str] = {}
        self._add_cohort(self.protocol.design.starting_level, "start")

    @classmethod
    def register(cls, trial_id: UUID, protocol: Protocol, name: str, actor: Actor) -> Trial:
        """Register a trial on a protocol whose dose levels and ladders are ordered.

        The ordering is checked here, before the event, and not when the event replays: a
        protocol stored before the check existed still loads.
        """
        protocol.check_ordered()
        return cls(
            id=trial_id,
            protocol=protocol.model_dump(mode="json"),
            name=name,
            actor=actor.as_record(),
        )

    def _add_cohort(self, level: int, origin: CohortOrigin) -> None:
        size = self.protocol.design.cohort_size
        self.cohorts.append(Cohort(len(self.cohorts) + 1, level, size, origin))

    @event(PatientEnrolled)
    def _enrolled(
        self,
        patient_id: UUID,
        subject_id: str,
        site_id: str,
        cohort: int,
        level: int,
        replaces: UUID | None,
        actor: dict[str, Any],
    ) -> None:
        self.cohorts[cohort - 1].patients.append(patient_id)
        self.subjects[subject_id] = patient_id
        self.patient_cohort[patient_id] = cohort

    @event(SiteTimeZoneRecorded)
    def _site_time_zone_recorded(
        self, site_id: str, time_zone: str, source: str, actor: dict[str, Any]
    ) -> None:
        self.site_time_zones[site_id] = time_zone

    def _cohort_of(self, patient_id: UUID) -> Cohort:
        return self.cohorts[self.patient_cohort[patient_id] - 1]

    def _set_outcome(self, patient_id: UUID, outcome: Outcome) -> None:
        cohort = self._cohort_of(patient_id)
        cohort.outcomes[patient_id] = outcome
        if outcome == "dlt":
            cohort.candidates.pop(patient_id, None)

    @event(DLTCandidateRaised)
    def _candidate_raised(
        self,
        patient_id: UUID,
        ae_id: UUID,
        cohort: int,
        level: int,
        clinical_date: dt.date,
        description: str,
        criterion: str,
        actor: dict[str, Any],
    ) -> None:
        self._cohort_of(patient_id).candidates.setdefault(patient_id, []).append(ae_id)

    @event(DLTCandidateAdjudicated)
    def _candidate_adjudicated(
        self,
        patient_id: UUID,
        ae_id: UUID,
        confirmed: bool,
        meaning: str,
        reason: str,
        actor: dict[str, Any],
    ) -> None:
        candidates = self._cohort_of(patient_id).candidates
        candidates[patient_id].remove(ae_id)
        if not candidates[patient_id]:
            del candidates[patient_id]

    @event(DLTObserved)
    def _dlt_observed(
        self,
        patient_id: UUID,
        cohort: int,
        level: int,
        clinical_date: dt.date,
        description: str,
        actor: dict[str, Any],
    ) -> None:
        self._set_outcome(patient_id, "dlt")

    @event(DLTWindowCompleted)
    def _window_completed(
        self,
        patient_id: UUID,
        cohort: int,
        level: int,
        clinical_date: dt.date,
        actor: dict[str, Any],
    ) -> None:
        self._set_outcome(patient_id, "no_dlt")

    @event(PatientNotEvaluable)
    def _not_evaluable(
        self,
        patient_id: UUID,
        cohort: int,
        level: int,
        clinical_date: dt.date,
        reason: str,
        actor: dict[str, Any],
    ) -> None:
        self._set_outcome(patient_id, "not_evaluable")

    @event(SRCDecisionSigned)
    def _decision_signed(
        self,
        cohort: int,
        level: int,
        outcomes: str,
        recommendation: dict[str, Any] | None,
        decision: str,
        mtd_level: int | None,
        meaning: str,
        reason: str | None,
        actor: dict[str, Any],
        packet_sha256: str | None = None,
    ) -> None:
        self.decisions.append(
            {
                "cohort": cohort,
                "level": level,
                "recommendation": recommendation,
                "decision": decision,
                "mtd_level": mtd_level,
                "meaning": meaning,
                "reason": reason,
                "signer": actor,
            }
        )

    @event(CohortOpened)
    def _cohort_opened(self, cohort: int, level: int, origin: CohortOrigin, actor: Any) -> None:
        self._add_cohort(level, origin)

    @event(CohortExpanded)
    def _cohort_expanded(self, cohort: int, level: int, actor: dict[str, Any]) -> None:
        self._add_cohort(level, "expansion")

    @event(MTDDeclared)
    def _mtd_declared(self, level: int, dose_label: str, actor: dict[str, Any]) -> None:
        self.mtd = level
        self.status = "mtd_declared"

    @event(StoppedWithoutMTD)
    def _stopped(self, reason: str, actor: dict[str, Any]) -> None:
        self.status = "stopped"

    # ----------------------------------------------------------------- queries

    @property
    def open_cohort(self) -> Cohort:
        """The latest cohort (the only one that can take patients or outcomes)."""
        return self.cohorts[-1]

    @property
    def current_level(self) -> int:
        """The dose level of the open cohort."""
        return self.open_cohort.level

    def patients_at(self, level: int) -> int:
        """Active patients treated at a dose level, over all cohorts."""
        return levels.patients_at(self.cohorts, level)

    def dlts_at(self, level: int) -> int:
        """DLTs observed at a dose level, over all cohorts."""
        return levels.dlts_at(self.cohorts, level)

    @property
    def lowest_exceeded_level(self) -> int | None:
        """The lowest dose level where the MTD was exceeded (2 DLTs or more), if any."""
        return levels.lowest_exceeded_level(self.cohorts)

    def path(self) -> list[PatientOutcome]:
        """Every evaluated patient so far, cohort by cohort, for the 3+3 engine."""
        return [outcome for cohort in self.cohorts for outcome in cohort.path()]

    def outcome_string(self) -> str:
        """The trial path in the field's notation, one token per cohort: '1NNN 2NTN 2NNN'."""
        return " ".join(format_outcomes(c.path()) for c in self.cohorts if c.path())

    def recommendation(self) -> Recommendation | IntervalRecommendation | None:
        """The design's recommendation for the open cohort once it is fully evaluated, else None.

        An interval design (BOIN, i3+3, mTPI-2) recommends from the evaluated patients and DLTs
        per level (``interval_rules``). Under 3+3, None also when earlier decisions departed
        from 3+3 so far that the path is no longer a 3+3 path; the SRC then decides without
        a recommendation and must give a reason.
        """
        if self.status != "escalating" or not self.open_cohort.fully_evaluated:
            return None
        design = self.protocol.design
        if not isinstance(design, ThreePlusThree):
            return interval_recommendation(design, self.cohorts, self.protocol.num_levels)
        try:
            return recommend(self.path(), self.protocol.num_levels, deescalate=design.deescalate)
        except InvalidInput:
            return None

    # ----------------------------------------------------------------- guards

    def _check_escalating(self) -> None:
        if self.status != "escalating":
            raise CommandRefused(
                f"trial {self.id} has stopped ({self.status.replace('_', ' ')}); "
                "nothing more can be recorded on its escalation",
                rule="trial_stopped",
            )

    def _check_patient(self, patient_id: UUID) -> Cohort:
        if patient_id not in self.patient_cohort:
            raise CommandRefused(
                f"patient {patient_id} is not enrolled in trial {self.id}",
                rule="patient_not_in_trial",
                field="patient_id",
            )
        cohort = self.cohorts[self.patient_cohort[patient_id] - 1]
        if patient_id in cohort.outcomes:
            raise CommandRefused(
                f"patient {patient_id} already has a DLT-window outcome "
                f"({cohort.outcomes[patient_id].replace('_', ' ')})",
                rule="outcome_already_recorded",
                field="patient_id",
            )
        return cohort

    # ----------------------------------------------------------------- corrections (applied)

    @event(OutcomeRevised)
    def _outcome_revised(
        self,
        patient_id: UUID,
        cohort: int,
        level: int,
        old_outcome: str | None,
        new_outcome: Outcome | None,
        clinical_date: dt.date | None,
        reason: str,
        actor: dict[str, Any],
    ) -> None:
        outcomes = self.cohorts[cohort - 1].outcomes
        if new_outcome is None:
            outcomes.pop(patient_id, None)
        else:
            self._set_outcome(patient_id, new_outcome)

    @event(DecisionFlaggedForReview)
    def _flagged(
        self,
        cohort: int,
        level: int,
        old_dlts: int,
        new_dlts: int,
        reason: str,
        actor: dict[str, Any],
    ) -> None:
        self.flagged_for_review = [*self.flagged_for_review, cohort]

    @event(DecisionReviewed)
    def _reviewed(
        self, cohort: int, outcome: str, meaning: str, reason: str, actor: dict[str, Any]
    ) -> None:
        self.flagged_for_review = [c for c in self.flagged_for_review if c != cohort]

    def decided(self, cohort: int) -> bool:
        """True when the SRC has signed a decision on the cohort."""
        return any(d["cohort"] == cohort for d in self.decisions)
