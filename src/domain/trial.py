"""The Trial aggregate: cohorts at dose levels, DLT counting, 3+3 recommendations, SRC decisions."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, get_args
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
from domain.site_time import check_time_zone

Decision = Literal["escalate", "expand", "de-escalate", "declare_mtd", "stop_no_mtd"]
DECISIONS: tuple[str, ...] = get_args(Decision)
TrialStatus = Literal["escalating", "mtd_declared", "stopped"]
SIGNING_ROLES = ("src_member",)
REVIEW_OUTCOMES = ("decision_stands", "decision_revised")
"""What the SRC concludes when it re-reviews a decision that corrected facts flagged."""


class Trial(Aggregate):
    """A dose-escalation trial, rebuilt from its events."""

    TOPIC = "doseledger:trial"
    class_version = 2  # of the state: a snapshot of another one is not used (2: site_time_zones)

    class Created(Aggregate.Created):
        TOPIC = "doseledger:trial.Created"

    class Registered(Created):
        TOPIC = "doseledger:trial.Registered"
        class_version = 1
        protocol: dict[str, Any]
        name: str
        actor: dict[str, Any]

    class Event(Aggregate.Event):
        TOPIC = "doseledger:trial.Event"

    class PatientEnrolled(Event):
        TOPIC = "doseledger:trial.PatientEnrolled"
        class_version = 1
        patient_id: UUID
        subject_id: str
        site_id: str
        cohort: int
        level: int
        replaces: UUID | None
        actor: dict[str, Any]

    class SiteTimeZoneRecorded(Event):
        """A site's IANA time zone, recorded when the site is first used (domain.md §7a)."""

        TOPIC = "doseledger:trial.SiteTimeZoneRecorded"
        class_version = 1
        site_id: str
        time_zone: str
        source: str  # "enrolment" (given with it) or "protocol_default"
        actor: dict[str, Any]

    class DLTObserved(Event):
        TOPIC = "doseledger:trial.DLTObserved"
        class_version = 1
        patient_id: UUID
        cohort: int
        level: int
        clinical_date: dt.date
        description: str
        actor: dict[str, Any]

    class DLTWindowCompleted(Event):
        TOPIC = "doseledger:trial.DLTWindowCompleted"
        class_version = 1
        patient_id: UUID
        cohort: int
        level: int
        clinical_date: dt.date
        actor: dict[str, Any]

    class PatientNotEvaluable(Event):
        TOPIC = "doseledger:trial.PatientNotEvaluable"
        class_version = 1
        patient_id: UUID
        cohort: int
        level: int
        clinical_date: dt.date
        reason: str
        actor: dict[str, Any]

    class DLTCandidateRaised(Event):
        TOPIC = "doseledger:trial.DLTCandidateRaised"
        class_version = 1
        patient_id: UUID
        ae_id: UUID
        cohort: int
        level: int
        clinical_date: dt.date
        description: str
        criterion: str
        actor: dict[str, Any]

    class DLTCandidateAdjudicated(Event):
        TOPIC = "doseledger:trial.DLTCandidateAdjudicated"
        class_version = 1
        patient_id: UUID
        ae_id: UUID
        confirmed: bool
        meaning: str
        reason: str
        actor: dict[str, Any]

    class SRCDecisionSigned(Event):
        TOPIC = "doseledger:trial.SRCDecisionSigned"
        class_version = 1
        cohort: int
        level: int
        outcomes: str
        recommendation: dict[str, Any] | None
        decision: str
        mtd_level: int | None
        meaning: str
        reason: str | None
        actor: dict[str, Any]

    class CohortOpened(Event):
        TOPIC = "doseledger:trial.CohortOpened"
        class_version = 1
        cohort: int
        level: int
        origin: str
        actor: dict[str, Any]

    class CohortExpanded(Event):
        TOPIC = "doseledger:trial.CohortExpanded"
        class_version = 1
        cohort: int
        level: int
        actor: dict[str, Any]

    class MTDDeclared(Event):
        TOPIC = "doseledger:trial.MTDDeclared"
        class_version = 1
        level: int
        dose_label: str
        actor: dict[str, Any]

    class StoppedWithoutMTD(Event):
        TOPIC = "doseledger:trial.StoppedWithoutMTD"
        class_version = 1
        reason: str
        actor: dict[str, Any]

    class OutcomeRevised(Event):
        """Corrected facts changed a patient's DLT-window outcome (None: awaited again)."""

        TOPIC = "doseledger:trial.OutcomeRevised"
        class_version = 1
        patient_id: UUID
        cohort: int
        level: int
        old_outcome: str | None
        new_outcome: str | None
        clinical_date: dt.date | None
        reason: str
        actor: dict[str, Any]

    class DecisionReviewed(Event):
        """The SRC re-reviewed a flagged decision: it stands, or it is revised (what follows
        is recorded as decisions on the open cohort)."""

        TOPIC = "doseledger:trial.DecisionReviewed"
        class_version = 1
        cohort: int
        outcome: str
        meaning: str
        reason: str
        actor: dict[str, Any]

    class DecisionFlaggedForReview(Event):
        """A decided cohort's DLT count changed: the SRC decision on it needs re-review."""

        TOPIC = "doseledger:trial.DecisionFlaggedForReview"
        class_version = 1
        cohort: int
        level: int
        old_dlts: int
        new_dlts: int
        reason: str
        actor: dict[str, Any]

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

    def site_time_zone(self, site_id: str) -> str:
        """The site's IANA time zone: as recorded at its first use, else the protocol's default."""
        return self.site_time_zones.get(site_id, self.protocol.default_site_time_zone)

    def check_site_time_zone(self, site_id: str, time_zone: str | None) -> str:
        """The zone an enrolment at the site is under; refuses an unknown zone, or another
        zone than the one already recorded for the site (that would be a correction)."""
        if time_zone is None:
            return self.site_time_zone(site_id)
        check_time_zone(time_zone, field="site_time_zone")
        recorded = self.site_time_zones.get(site_id)
        if recorded is not None and recorded != time_zone:
            raise CommandRefused(
                f"site {site_id} is already recorded in time zone {recorded}, not {time_zone}",
                rule="site_time_zone_differs",
                field="site_time_zone",
            )
        return time_zone

    def patients_at(self, level: int) -> int:
        """Active patients treated at a dose level, over all cohorts."""
        return sum(len(c.active) for c in self.cohorts if c.level == level)

    def dlts_at(self, level: int) -> int:
        """DLTs observed at a dose level, over all cohorts."""
        return sum(c.dlts for c in self.cohorts if c.level == level)

    @property
    def lowest_exceeded_level(self) -> int | None:
        """The lowest dose level where the MTD was exceeded (2 DLTs or more), if any."""
        levels = sorted({c.level for c in self.cohorts})
        return next((level for level in levels if self.dlts_at(level) >= 2), None)

    def path(self) -> list[PatientOutcome]:
        """Every evaluated patient so far, cohort by cohort, for the 3+3 engine."""
        return [outcome for cohort in self.cohorts for outcome in cohort.path()]

    def outcome_string(self) -> str:
        """The trial path in the field's notation, one token per cohort: '1NNN 2NTN 2NNN'."""
        return " ".join(format_outcomes(c.path()) for c in self.cohorts if c.path())

    def recommendation(self) -> Recommendation | None:
        """The 3+3 recommendation for the open cohort once it is fully evaluated, else None.

        None also when earlier decisions departed from 3+3 so far that the path is no longer
        a 3+3 path; the SRC then decides without a recommendation and must give a reason.
        """
        if self.status != "escalating" or not self.open_cohort.fully_evaluated:
            return None
        try:
            return recommend(
                self.path(), self.protocol.num_levels, deescalate=self.protocol.design.deescalate
            )
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

    # ----------------------------------------------------------------- commands

    def enrol(
        self,
        patient_id: UUID,
        subject_id: str,
        site_id: str,
        actor: Actor,
        *,
        site_time_zone: str | None = None,
    ) -> int:
        """Assign a patient to the open cohort; returns the dose level they receive.

        A site's first enrolment records its time zone: ``site_time_zone``, else the protocol's
        default.
        """
        self._check_escalating()
        time_zone = self.check_site_time_zone(site_id, site_time_zone)
        cohort = self.open_cohort
        if cohort.open_places <= 0:
            state = "awaiting outcomes" if cohort.awaiting_outcome else "awaiting the SRC decision"
            raise CommandRefused(
                f"cohort {cohort.number} at dose level {cohort.level} is full "
                f"({len(cohort.active)} of {cohort.size}, {state})",
                rule="cohort_full",
            )
        if subject_id in self.subjects:
            raise CommandRefused(
                f"subject id {subject_id} is already used in this trial",
                rule="subject_id_taken",
                field="subject_id",
            )
        if site_id not in self.site_time_zones:
            self._site_time_zone_recorded(
                site_id=site_id,
                time_zone=time_zone,
                source="protocol_default" if site_time_zone is None else "enrolment",
                actor=actor.as_record(),
            )
        self._enrolled(
            patient_id=patient_id,
            subject_id=subject_id,
            site_id=site_id,
            cohort=cohort.number,
            level=cohort.level,
            replaces=cohort.unreplaced_non_evaluable(),
            actor=actor.as_record(),
        )
        return cohort.level

    def record_outcome(
        self,
        patient_id: UUID,
        outcome: Outcome,
        clinical_date: dt.date,
        actor: Actor,
        *,
        description: str = "",
        reason: str = "",
    ) -> None:
        """Record one patient's DLT-window outcome on the cohort (DLT, no DLT, not evaluable)."""
        self._check_escalating()
        cohort = self._check_patient(patient_id)
        dlts_before = cohort.dlts
        common: dict[str, Any] = {
            "patient_id": patient_id,
            "cohort": cohort.number,
            "level": cohort.level,
            "clinical_date": clinical_date,
            "actor": actor.as_record(),
        }
        if outcome == "dlt":
            if not description.strip():
                raise CommandRefused(
                    "a DLT needs a description (the adverse event and its grade)",
                    rule="dlt_description_required",
                    field="description",
                )
            self._dlt_observed(description=description, **common)
        elif outcome == "no_dlt":
            if patient_id in cohort.candidates:
                raise CommandRefused(
                    f"patient {patient_id} has a DLT candidate awaiting SRC adjudication",
                    rule="dlt_candidate_pending",
                    field="patient_id",
                )
            self._window_completed(**common)
        else:
            if not reason.strip():
                raise CommandRefused(
                    "a non-evaluable patient needs a reason (why the window was not completed)",
                    rule="reason_required",
                    field="reason",
                )
            self._not_evaluable(reason=reason, **common)
        if self.decided(cohort.number) and cohort.dlts != dlts_before:
            # An outcome reached a cohort already decided (a window reopened for a late DLT
            # candidate, then confirmed): the decision was made on other counts.
            self._flagged(
                cohort=cohort.number,
                level=cohort.level,
                old_dlts=dlts_before,
                new_dlts=cohort.dlts,
                reason=f"outcome of patient {patient_id} recorded after the decision",
                actor=actor.as_record(),
            )

    def raise_dlt_candidate(
        self,
        patient_id: UUID,
        ae_id: UUID,
        clinical_date: dt.date,
        actor: Actor,
        *,
        description: str,
        criterion: str,
    ) -> None:
        """Put an exception-class AE before the SRC as a possible DLT."""
        self._check_escalating()
        cohort = self._check_patient(patient_id)
        self._candidate_raised(
            patient_id=patient_id,
            ae_id=ae_id,
            cohort=cohort.number,
            level=cohort.level,
            clinical_date=clinical_date,
            description=description,
            criterion=criterion,
            actor=actor.as_record(),
        )

    def adjudicate_dlt_candidate(
        self,
        patient_id: UUID,
        ae_id: UUID,
        confirmed: bool,
        signer: Actor,
        *,
        reason: str,
        clinical_date: dt.date | None = None,
        description: str = "",
        meaning: str = "approval",
    ) -> None:
        """An SRC member confirms (a DLT on the cohort) or rejects a DLT candidate."""
        self._check_escalating()
        if patient_id not in self.patient_cohort or ae_id not in self._cohort_of(
            patient_id
        ).candidates.get(patient_id, []):
            raise CommandRefused(
                f"AE {ae_id} of patient {patient_id} is not a DLT candidate awaiting adjudication",
                rule="no_such_candidate",
                field="ae_id",
            )
        self._check_signed(signer, "a DLT adjudication", reason)
        self._candidate_adjudicated(
            patient_id=patient_id,
            ae_id=ae_id,
            confirmed=confirmed,
            meaning=meaning,
            reason=reason,
            actor=signer.as_record(),
        )
        if confirmed:
            if clinical_date is None:
                raise InvalidInput("a confirmed DLT needs its clinical date", field="clinical_date")
            self.record_outcome(patient_id, "dlt", clinical_date, signer, description=description)

    def _check_signed(self, signer: Actor, what: str, reason: str) -> None:
        """Signed by an SRC member, with the reason for it."""
        self._check_signer(signer, what)
        if not reason.strip():
            raise CommandRefused(f"{what} needs a reason", rule="reason_required", field="reason")

    def _check_signer(self, signer: Actor, what: str) -> None:
        if signer.role not in SIGNING_ROLES:
            raise CommandRefused(
                f"{what} is signed by a safety review committee member "
                f"(role src_member), not by role {signer.role}",
                rule="signer_role",
                field="signer",
            )

    def sign_decision(
        self,
        cohort: int,
        decision: str,
        signer: Actor,
        *,
        meaning: str,
        mtd_level: int | None = None,
        reason: str | None = None,
    ) -> None:
        """Record the SRC's signed decision on a fully evaluated cohort, and act on it."""
        self._check_escalating()
        open_cohort = self.open_cohort
        if cohort != open_cohort.number:
            raise CommandRefused(
                f"cohort {cohort} is not the open cohort (cohort {open_cohort.number} is)",
                rule="not_open_cohort",
                field="cohort",
            )
        if not open_cohort.fully_evaluated:
            raise CommandRefused(
                f"cohort {cohort} is not fully evaluated: "
                f"{open_cohort.open_places} place(s) to fill, "
                f"{len(open_cohort.awaiting_outcome)} outcome(s) awaited, "
                f"{open_cohort.pending_candidates} DLT candidate(s) to adjudicate",
                rule="cohort_not_evaluated",
                field="cohort",
            )
        self._check_signer(signer, "an escalation decision")
        if not meaning.strip():
            raise CommandRefused(
                "a signature needs its meaning (e.g. 'approval')",
                rule="meaning_required",
                field="meaning",
            )
        target = self._check_decision(decision, mtd_level)
        rec = self.recommendation()
        departs = rec is None or self._recommended(rec) != (decision, target)
        if departs and not (reason and reason.strip()):
            expected = "none (the path is no longer 3+3)" if rec is None else rec.action
            raise CommandRefused(
                f"decision '{decision}' departs from the recommendation ({expected}); "
                "a reason is required",
                rule="reason_required",
                field="reason",
            )
        actor_record = signer.as_record()
        self._decision_signed(
            cohort=cohort,
            level=open_cohort.level,
            outcomes=self.outcome_string(),
            recommendation=None if rec is None else {**rec.as_json(), "action": rec.action},
            decision=decision,
            mtd_level=mtd_level,
            meaning=meaning,
            reason=reason,
            actor=actor_record,
        )
        self._act_on(decision, target, actor_record, reason)

    def _recommended(self, rec: Recommendation) -> tuple[str, int | None]:
        if rec.action == "declare_mtd":
            return ("declare_mtd", rec.mtd)
        if rec.action == "stop_no_mtd":
            return ("stop_no_mtd", None)
        return (rec.action, rec.next_dose)

    def _check_decision(self, decision: str, mtd_level: int | None) -> int | None:
        """Validate a decision; returns its target level (None for stopping without MTD)."""
        if decision not in DECISIONS:
            raise InvalidInput(
                f"unknown decision '{decision}'; decisions: {', '.join(DECISIONS)}",
                field="decision",
            )
        if (mtd_level is not None) != (decision == "declare_mtd"):
            raise CommandRefused(
                "mtd_level is given with declare_mtd, and only with it",
                rule="mtd_level_with_declare_mtd",
                field="mtd_level",
            )
        level = self.current_level
        top = self.protocol.num_levels
        per_level = self.protocol.design.max_patients_per_level
        size = self.protocol.design.cohort_size
        if decision == "declare_mtd":
            assert mtd_level is not None
            if not 1 <= mtd_level <= top or self.patients_at(mtd_level) == 0:
                raise CommandRefused(
                    f"dose level {mtd_level} was never given; the MTD is a level patients "
                    "were treated at",
                    rule="mtd_untested",
                    field="mtd_level",
                )
            if self.dlts_at(mtd_level) >= 2:
                raise CommandRefused(
                    f"dose level {mtd_level} had {self.dlts_at(mtd_level)} DLTs; "
                    "an MTD has at most 1",
                    rule="mtd_not_tolerated",
                    field="mtd_level",
                )
            exceeded = self.lowest_exceeded_level
            if exceeded is not None and mtd_level > exceeded:
                raise CommandRefused(
                    f"dose level {mtd_level} is above dose level {exceeded}, where the MTD was "
                    f"exceeded ({self.dlts_at(exceeded)} DLTs); the MTD is below it",
                    rule="mtd_above_exceeded_level",
                    field="mtd_level",
                )
            return mtd_level
        if decision == "stop_no_mtd":
            return None
        target = {"escalate": level + 1, "expand": level, "de-escalate": level - 1}[decision]
        exceeded = self.lowest_exceeded_level
        if decision == "escalate" and exceeded is not None and exceeded <= target:
            # Departures go the conservative way only (domain.md §8): never up from, into or
            # past a level where the MTD was exceeded.
            where = "this level" if exceeded == level else f"dose level {exceeded}"
            raise CommandRefused(
                f"cannot escalate from dose level {level} to {target}: the MTD was exceeded at "
                f"{where} ({self.dlts_at(exceeded)} DLTs)",
                rule="escalation_after_mtd_exceeded",
                field="decision",
            )
        if not 1 <= target <= top:
            raise CommandRefused(
                f"cannot {decision} from dose level {level}: levels are 1-{top}",
                rule="no_such_level",
                field="decision",
            )
        if self.patients_at(target) + size > per_level:
            raise CommandRefused(
                f"dose level {target} already has {self.patients_at(target)} patients; "
                f"a level takes at most {per_level}",
                rule="level_full",
                field="decision",
            )
        return target

    def _act_on(
        self, decision: str, target: int | None, actor: dict[str, Any], reason: str | None
    ) -> None:
        number = len(self.cohorts) + 1
        if decision == "declare_mtd":
            assert target is not None
            label = self.protocol.dose_level(target).label
            self._mtd_declared(level=target, dose_label=label, actor=actor)
        elif decision == "stop_no_mtd":
            self._stopped(reason=reason or "no tolerable dose level", actor=actor)
        elif decision == "expand":
            assert target is not None
            self._cohort_expanded(cohort=number, level=target, actor=actor)
        else:
            assert target is not None
            origin: CohortOrigin = "escalation" if decision == "escalate" else "de-escalation"
            self._cohort_opened(cohort=number, level=target, origin=origin, actor=actor)

    # ----------------------------------------------------------------- corrections

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

    def review_decision(
        self, cohort: int, outcome: str, signer: Actor, *, reason: str, meaning: str = "review"
    ) -> None:
        """The SRC's signed re-review of a decision that corrected facts flagged."""
        if outcome not in REVIEW_OUTCOMES:
            raise InvalidInput(
                f"unknown review outcome '{outcome}'; outcomes: {', '.join(REVIEW_OUTCOMES)}",
                field="outcome",
            )
        if cohort not in self.flagged_for_review:
            raise CommandRefused(
                f"the decision on cohort {cohort} is not flagged for re-review",
                rule="not_flagged_for_review",
                field="cohort",
            )
        self._check_signed(signer, "a re-review", reason)
        self._reviewed(
            cohort=cohort,
            outcome=outcome,
            meaning=meaning,
            reason=reason.strip(),
            actor=signer.as_record(),
        )

    def decided(self, cohort: int) -> bool:
        """True when the SRC has signed a decision on the cohort."""
        return any(d["cohort"] == cohort for d in self.decisions)

    def revise_outcome(
        self,
        patient_id: UUID,
        new_outcome: Outcome | None,
        actor: Actor,
        *,
        reason: str,
        clinical_date: dt.date | None = None,
    ) -> bool:
        """Corrected facts changed a patient's outcome: the cohort follows, and a decision
        already signed on it is flagged for re-review. Returns True when one was flagged."""
        if patient_id not in self.patient_cohort:
            raise CommandRefused(
                f"patient {patient_id} is not enrolled in trial {self.id}",
                rule="patient_not_in_trial",
                field="patient_id",
            )
        cohort = self._cohort_of(patient_id)
        old = cohort.outcomes.get(patient_id)
        if old == new_outcome:
            return False
        old_dlts = cohort.dlts
        self._outcome_revised(
            patient_id=patient_id,
            cohort=cohort.number,
            level=cohort.level,
            old_outcome=old,
            new_outcome=new_outcome,
            clinical_date=clinical_date,
            reason=reason,
            actor=actor.as_record(),
        )
        if self.decided(cohort.number) and cohort.dlts != old_dlts:
            self._flagged(
                cohort=cohort.number,
                level=cohort.level,
                old_dlts=old_dlts,
                new_dlts=cohort.dlts,
                reason=reason,
                actor=actor.as_record(),
            )
            return True
        return False
