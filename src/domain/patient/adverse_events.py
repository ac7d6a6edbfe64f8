# mypy: disable-error-code="misc"
# Why: the methods below are the aggregate's own and annotate ``self: Patient``; mypy reports a
# self type that is a subclass of the mixin as [misc] ("not a supertype of its class") though it
# checks the bodies and every call against Patient. That report is the only [misc] in the module.
"""The Patient's adverse-event commands: record, regrade, and what the rule set recommends.

A mixin of :class:`~domain.patient.aggregate.Patient` (the events and the ``@event`` methods that
apply them live there: the aggregate's metaclass needs them on the class itself).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.actors import SYSTEM, Actor
from domain.adverse_event import AdverseEvent
from domain.ctcae import CtcaeTerm
from domain.dlt_policy import ATTRIBUTIONS, DltAssessment, assess_dlt
from domain.dose_ladder import can_reduce
from domain.errors import CommandRefused, InvalidInput
from domain.grading import grade_blurred_vision
from domain.patient.requirements import resume_rung
from domain.patient.results import GradeChange
from domain.patient.terms import BLURRED_VISION, EYES
from domain.protocol import Protocol
from domain.rules import (
    AdverseEventFacts,
    DoseRecommendation,
    recommend_dose,
    recommend_not_recovered,
    rule_set_for,
)
from domain.vision import VisualAcuity, parse_bcva

if TYPE_CHECKING:
    from domain.patient.aggregate import Patient


def ctcae_version_for(protocol: Protocol, term: str, given: str | None, reason: str) -> str:
    """The CTCAE version that grades ``term``: the protocol's, or another one with a reason."""
    pinned = protocol.ctcae_version(term)
    if given is None or given == pinned:
        return pinned
    if not reason.strip():
        raise CommandRefused(
            f"the protocol grades {term} under CTCAE v{pinned}; grading it under v{given} needs "
            "a reason (ctcae_version_reason)",
            rule="ctcae_version_differs",
            field="ctcae_version",
        )
    return given


class AdverseEventCommands:
    """AEs as graded; each new grade's recommendation and DLT verdict recorded with it."""

    def record_adverse_event(
        self: Patient,
        ae_id: UUID,
        term: CtcaeTerm,
        grade: int | None,
        onset: dt.date,
        actor: Actor,
        *,
        today: dt.date,
        protocol: Protocol,
        attribution: str,
        serious: bool = False,
        ctcae_version: str | None = None,
        ctcae_version_reason: str = "",
        measurement: dict[str, Any] | None = None,
        intolerable: bool = False,
        eye: str | None = None,
        bcva: str | None = None,
        clinically_significant: bool = True,
        with_bleeding: bool = False,
        duration_days: int | None = None,
    ) -> tuple[DoseRecommendation, DltAssessment]:
        """Record an AE; the rule set's recommendation (and DLT verdict) are recorded with it."""
        self._check_treated_on(onset, today)
        self._check_in_study(onset)
        if attribution not in ATTRIBUTIONS:
            raise InvalidInput(
                f"unknown attribution '{attribution}'; attributions: {', '.join(ATTRIBUTIONS)}",
                field="attribution",
            )
        if ae_id in self.adverse_events:
            raise CommandRefused(f"adverse event {ae_id} exists already", rule="ae_exists")
        open_same = [a for a in self.adverse_events.values() if a.term == term.term and a.is_open]
        if open_same:
            raise CommandRefused(
                f"{term.term} is already open for subject {self.subject_id} (AE {open_same[0].id}, "
                f"grade {open_same[0].grade}); record a grade change instead",
                rule="ae_already_open",
                field="term",
            )
        version = ctcae_version_for(protocol, term.term, ctcae_version, ctcae_version_reason)
        grade, acuity = self._vision(term.term, grade, eye, bcva)
        if grade not in term.grades:
            allowed = ", ".join(str(g) for g in term.grades)
            raise InvalidInput(
                f"{term.term} has no grade {grade} in CTCAE v5.0; allowed grades: {allowed}",
                field="grade",
            )
        self._check_death_after_doses(grade, onset)
        occurrence = self.occurrences(term.term) + (1 if grade >= 3 else 0) or 1
        facts = AdverseEventFacts(
            term=term.term,
            grade=grade,
            haematological=term.is_haematological,
            occurrence=occurrence,
            intolerable=intolerable,
            bcva=acuity,
            baseline_bcva=self._baseline_acuity(eye),
        )
        rec = recommend_dose(protocol, facts, can_reduce=can_reduce(protocol, self.doses))
        assessment = self._assess(
            term,
            grade,
            attribution,
            onset,
            protocol,
            clinically_significant=clinically_significant,
            with_bleeding=with_bleeding,
            duration_days=duration_days,
        )
        self._ae_recorded(
            ae_id=ae_id,
            term=term.term,
            meddra_code=term.meddra_code,
            grade=grade,
            ctcae_version=version,
            clinical_date=onset,
            attribution=attribution,
            serious=serious,
            occurrence=occurrence,
            measurement=measurement,
            eye=eye,
            bcva_logmar=None if acuity is None else acuity.logmar,
            dlt_assessment={"verdict": assessment.verdict, "criterion": assessment.criterion},
            actor=actor.as_record(),
            ctcae_version_reason=ctcae_version_reason.strip(),
        )
        self._recommend(ae_id, onset, rec, actor)
        if assessment.verdict == "candidate":
            self._dlt_candidate(
                ae_id=ae_id, criterion=assessment.criterion, actor=actor.as_record()
            )
        return rec, assessment

    def _assess(
        self: Patient,
        term: CtcaeTerm,
        grade: int,
        attribution: str,
        reached_on: dt.date,
        protocol: Protocol,
        *,
        clinically_significant: bool = True,
        with_bleeding: bool = False,
        duration_days: int | None = None,
    ) -> DltAssessment:
        """The DLT verdict for an AE at ``grade`` reached on ``reached_on`` (§6)."""
        first, last = self.first_dose_date, self.dlt_window_last_day
        window = None if first is None or last is None else (first, last)
        assessment = assess_dlt(
            term,
            grade,
            attribution=attribution,
            onset=reached_on,
            window=window,
            criteria=protocol.dlt_criteria,
            clinically_significant=clinically_significant,
            with_bleeding=with_bleeding,
            duration_days=duration_days,
        )
        if self.dlt_outcome == "dlt" and assessment.verdict != "not_dlt":
            return DltAssessment("not_dlt", "the DLT window already closed with a DLT")
        return assessment

    def _vision(
        self: Patient, term: str, grade: int | None, eye: str | None, bcva: str | None
    ) -> tuple[int, VisualAcuity | None]:
        if bcva is None:
            if grade is None:
                raise InvalidInput("an adverse event needs a grade", field="grade")
            return grade, None
        if term != BLURRED_VISION:
            raise InvalidInput("BCVA is recorded with blurred vision only", field="bcva")
        if eye not in EYES:
            raise InvalidInput("BCVA needs the eye: right or left", field="eye")
        baseline = self._baseline_acuity(eye)
        if baseline is None:
            raise CommandRefused("no baseline BCVA to compare with", rule="no_baseline_bcva")
        acuity = parse_bcva(bcva)
        graded = grade_blurred_vision(acuity, baseline) or 1
        if grade is not None and grade != graded:
            raise InvalidInput(
                f"grade {grade} does not match BCVA {bcva} against baseline "
                f"{baseline.snellen} (grade {graded})",
                field="grade",
            )
        return graded, acuity

    def _recommend(
        self: Patient,
        ae_id: UUID | None,
        clinical_date: dt.date,
        recommendation: DoseRecommendation,
        actor: Actor,
    ) -> DoseRecommendation:
        """Record what the system recommends (on behalf of the actor whose command it is)."""
        system = {**SYSTEM.as_record(), "on_behalf_of": actor.user_id}
        if actor.request_id:
            system["request_id"] = actor.request_id
        self._dose_recommended(
            ae_id=ae_id,
            clinical_date=clinical_date,
            recommendation=recommendation.as_record(),
            actor=system,
        )
        return recommendation

    def change_ae_grade(
        self: Patient,
        ae_id: UUID,
        new_grade: int,
        clinical_date: dt.date,
        actor: Actor,
        *,
        today: dt.date,
        protocol: Protocol,
        term: CtcaeTerm,
        reason: str = "",
        measurement: dict[str, Any] | None = None,
        bcva: str | None = None,
        intolerable: bool = False,
    ) -> GradeChange:
        """Record a new grade for an open AE (0 = resolved): its recommendation, if any, and
        its DLT verdict when a worsening reaches a DLT grade inside the window."""
        ae = self._open_ae(ae_id, clinical_date)
        self._check_treated_on(clinical_date, today)
        self._check_in_study(clinical_date)
        acuity = None
        if bcva is not None:
            new_grade, acuity = self._vision(ae.term, None, ae.eye, bcva)
        if new_grade != 0 and new_grade not in term.grades:
            allowed = ", ".join(str(g) for g in term.grades)
            raise InvalidInput(
                f"{ae.term} has no grade {new_grade} in CTCAE v5.0; allowed grades: 0 "
                f"(resolved), {allowed}",
                field="grade",
            )
        if new_grade == ae.grade and acuity is None:
            raise CommandRefused(
                f"AE {ae_id} is already grade {ae.grade}", rule="grade_unchanged", field="grade"
            )
        self._check_death_after_doses(new_grade, clinical_date)
        old = ae.grade
        if new_grade == 0:
            self._ae_resolved(
                ae_id=ae_id, old_grade=old, clinical_date=clinical_date, actor=actor.as_record()
            )
        else:
            self._ae_graded(
                ae_id=ae_id,
                old_grade=old,
                new_grade=new_grade,
                clinical_date=clinical_date,
                measurement=measurement,
                bcva_logmar=None if acuity is None else acuity.logmar,
                reason=reason,
                actor=actor.as_record(),
            )
        dlt = self._reassess_dlt(ae, clinical_date, actor, protocol, term)
        recommendation = self._after_grade_change(
            ae, old, clinical_date, actor, protocol, term, intolerable
        )
        return GradeChange(recommendation, dlt)

    def _reassess_dlt(
        self: Patient,
        ae: AdverseEvent,
        on: dt.date,
        actor: Actor,
        protocol: Protocol,
        term: CtcaeTerm,
    ) -> DltAssessment | None:
        """§6: an AE recorded at a DLT grade on a day inside the window counts as if reported
        at it: a worsening, or a late entry dated before a later grade change or assessment
        (the AE was at that grade then, even if it reached it again outside the window)."""
        if ae.grade == 0 or ae.dlt_verdict == "dlt":
            return None
        assessment = self._assess(term, ae.grade, ae.attribution, on, protocol)
        if assessment.verdict == "not_dlt" or assessment.verdict == ae.dlt_verdict:
            return None
        self._dlt_assessed(
            ae_id=ae.id,
            grade=ae.grade,
            clinical_date=on,
            verdict=assessment.verdict,
            criterion=assessment.criterion,
            actor=actor.as_record(),
        )
        if assessment.verdict == "candidate" and ae.id not in self.dlt_candidates:
            self._dlt_candidate(
                ae_id=ae.id, criterion=assessment.criterion, actor=actor.as_record()
            )
        return assessment

    def _open_ae(self: Patient, ae_id: UUID, clinical_date: dt.date) -> AdverseEvent:
        ae = self.adverse_event(ae_id)
        if not ae.is_open:
            raise CommandRefused(
                f"AE {ae_id} ({ae.term}) resolved on {ae.resolved_on}; record a new AE",
                rule="ae_resolved",
                field="ae_id",
            )
        if clinical_date < ae.onset:
            raise CommandRefused(
                f"{clinical_date} is before the AE's onset ({ae.onset})",
                rule="date_before_onset",
                field="clinical_date",
            )
        return ae

    def _after_grade_change(
        self: Patient,
        ae: AdverseEvent,
        old: int,
        clinical_date: dt.date,
        actor: Actor,
        protocol: Protocol,
        term: CtcaeTerm,
        intolerable: bool,
    ) -> DoseRecommendation | None:
        req = self.requirements.get(ae.id)
        if req is not None and req.action == "withhold" and ae.grade <= old:
            if req.deadline is not None and clinical_date > req.deadline and not req.met_in_time:
                late = self.review_hold(clinical_date, protocol, actor=actor)
                return late[0] if late else None
            if self.hold_resumable():
                resume = self._resume_recommendation(protocol)
                return self._recommend(ae.id, clinical_date, resume, actor)
            return None
        if ae.grade > old or (ae.grade == old and ae.bcva_logmar is not None):
            recommendation = self._evaluate(ae, protocol, term, intolerable)
            return self._recommend(ae.id, clinical_date, recommendation, actor)
        return None

    def _evaluate(
        self: Patient,
        ae: AdverseEvent,
        protocol: Protocol,
        term: CtcaeTerm,
        intolerable: bool = False,
    ) -> DoseRecommendation:
        """The rule set's recommendation for the AE as it stands now."""
        occurrence = self.occurrences(ae.term, excluding=ae.id) + (1 if ae.grade >= 3 else 0)
        facts = AdverseEventFacts(
            term=ae.term,
            grade=ae.grade,
            haematological=term.is_haematological,
            occurrence=occurrence or 1,
            intolerable=intolerable,
            bcva=None if ae.bcva_logmar is None else VisualAcuity(ae.bcva_logmar),
            baseline_bcva=self._baseline_acuity(ae.eye),
        )
        return recommend_dose(protocol, facts, can_reduce=can_reduce(protocol, self.doses))

    def _resume_recommendation(self: Patient, protocol: Protocol) -> DoseRecommendation:
        rule_set = rule_set_for(protocol)
        reqs = self.withholds
        conditions = "; ".join(r.condition() for r in reqs) or "investigator's decision"
        return DoseRecommendation(
            action="resume",
            resume=resume_rung(reqs),
            resume_when_grade_at_most=None,
            resume_when_bcva_at_baseline=False,
            within_days=None,
            discontinue_all_agents=False,
            rule_set=rule_set.id,
            rule_set_version=rule_set.version,
            rule=", ".join(sorted({r.rule for r in reqs})) or "investigator-hold",
            note=f"every resume condition met: {conditions}",
        )

    def review_hold(
        self: Patient, as_of: dt.date, protocol: Protocol, *, actor: Actor = SYSTEM
    ) -> list[DoseRecommendation]:
        """Recommend discontinuation for each held AE whose recovery deadline passed unmet."""
        recommended = []
        for req in list(self.withholds):
            deadline = req.deadline
            if deadline is None or as_of <= deadline or req.met_in_time or not req.rule:
                continue
            try:
                late = recommend_not_recovered(protocol, req.rule)
            except InvalidInput:
                continue  # the rule sets no recovery deadline
            note = f"not recovered by {deadline} ({req.condition()})"
            recommended.append(self._recommend(req.ae_id, as_of, replace(late, note=note), actor))
        return recommended
