# mypy: disable-error-code="misc"
# Why: the methods below are the aggregate's own and annotate ``self: Patient``; mypy reports a
# self type that is a subclass of the mixin as [misc] ("not a supertype of its class") though it
# checks the bodies and every call against Patient. That report is the only [misc] in the module.
"""The Patient's exam commands: baseline eye and skin exams, follow-up eye exams, skin assessments.

A mixin of :class:`~domain.patient.aggregate.Patient` (the events and the ``@event`` methods that
apply them live there: the aggregate's metaclass needs them on the class itself).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from uuid import UUID

from domain.actors import Actor
from domain.ctcae import CtcaeTerm
from domain.errors import CommandRefused, InvalidInput
from domain.grading import grade_rash_acneiform
from domain.patient.results import SkinResult
from domain.patient.screening import check_before_dosing, exam_acuity
from domain.patient.terms import EYE_EXAM_PURPOSES, RASH
from domain.protocol import Protocol

if TYPE_CHECKING:
    from domain.patient.aggregate import Patient

from domain.patient.adverse_events import ctcae_version_for


class ExamCommands:
    """Screening and on-treatment exams; a skin assessment grades the rash, and that grade
    opens, changes or resolves the rash AE."""

    def record_baseline_eye_exam(
        self: Patient,
        clinical_date: dt.date,
        bcva_right: str,
        bcva_left: str,
        actor: Actor,
        *,
        today: dt.date,
        slit_lamp_findings: str = "",
    ) -> None:
        """Record the baseline ophthalmology exam (BCVA per eye, slit lamp) before dosing."""
        check_before_dosing(self.first_dose_date, "eye")
        self._check_date(clinical_date, today, screening=True)
        self._baseline_eye_exam(
            clinical_date=clinical_date,
            **exam_acuity(bcva_right, bcva_left),
            slit_lamp_findings=slit_lamp_findings,
            actor=actor.as_record(),
        )

    def record_eye_exam(
        self: Patient,
        clinical_date: dt.date,
        purpose: str,
        bcva_right: str,
        bcva_left: str,
        actor: Actor,
        *,
        today: dt.date,
        slit_lamp_findings: str = "",
    ) -> None:
        """Record an eye exam: ``baseline`` (before dosing), ``follow_up`` or ``referral``."""
        if purpose == "baseline":
            self.record_baseline_eye_exam(
                clinical_date,
                bcva_right,
                bcva_left,
                actor,
                today=today,
                slit_lamp_findings=slit_lamp_findings,
            )
            return
        if purpose not in EYE_EXAM_PURPOSES:
            raise InvalidInput(
                f"unknown eye exam purpose '{purpose}'; purposes: baseline, "
                f"{', '.join(EYE_EXAM_PURPOSES)}",
                field="purpose",
            )
        first = self._check_dosing_started()
        if clinical_date < first:
            raise CommandRefused(
                f"exam date {clinical_date} is before the first dose ({first}); record it as "
                "the baseline exam",
                rule="exam_before_first_dose",
                field="clinical_date",
            )
        self._check_date(clinical_date, today)
        self._eye_exam(
            clinical_date=clinical_date,
            purpose=purpose,
            **exam_acuity(bcva_right, bcva_left),
            slit_lamp_findings=slit_lamp_findings,
            actor=actor.as_record(),
        )

    def record_baseline_skin_exam(
        self: Patient, clinical_date: dt.date, findings: str, actor: Actor, *, today: dt.date
    ) -> None:
        """Record the baseline skin examination (pre-existing dermatologic conditions)."""
        check_before_dosing(self.first_dose_date, "skin")
        self._check_date(clinical_date, today, screening=True)
        if not findings.strip():
            raise CommandRefused(
                "a baseline skin examination records its findings (e.g. 'no pre-existing "
                "dermatologic conditions')",
                rule="findings_required",
                field="findings",
            )
        self._baseline_skin_exam(
            clinical_date=clinical_date, findings=findings.strip(), actor=actor.as_record()
        )

    def record_skin_assessment(
        self: Patient,
        clinical_date: dt.date,
        actor: Actor,
        *,
        today: dt.date,
        location: str,
        bsa_percent: float,
        symptoms: str,
        ctcae_version: str | None = None,
        ctcae_version_reason: str = "",
        life_threatening: bool = False,
        new_ae_id: UUID,
        protocol: Protocol,
        term: CtcaeTerm,
        attribution: str = "possible",
        intolerable: bool = False,
    ) -> SkinResult:
        """Record a visit's skin assessment; a rash grade opens, changes or resolves the rash AE."""
        self._check_treated_on(clinical_date, today)
        self._check_in_study(clinical_date)
        if not location.strip() and bsa_percent > 0:
            raise InvalidInput("a rash's location is required", field="location")
        version = ctcae_version_for(protocol, RASH, ctcae_version, ctcae_version_reason)
        grade = grade_rash_acneiform(
            bsa_percent,
            symptoms,  # type: ignore[arg-type]
            version=version,  # type: ignore[arg-type]
            life_threatening=life_threatening,
        )
        open_rash = next(
            (a for a in self.adverse_events.values() if a.term == RASH and a.is_open), None
        )
        if open_rash is not None and clinical_date < open_rash.onset:
            raise CommandRefused(
                f"{clinical_date} is before the open rash's onset ({open_rash.onset})",
                rule="date_before_onset",
                field="clinical_date",
            )
        self._skin_assessed(
            clinical_date=clinical_date,
            grade=grade,
            ctcae_version=version,
            location=location.strip(),
            bsa_percent=bsa_percent,
            symptoms=symptoms,
            ae_id=open_rash.id if open_rash else (new_ae_id if grade else None),
            actor=actor.as_record(),
            ctcae_version_reason=ctcae_version_reason.strip(),
        )
        if open_rash is not None and open_rash.grade != grade:
            change = self.change_ae_grade(
                open_rash.id,
                grade,
                clinical_date,
                actor,
                today=today,
                protocol=protocol,
                term=term,
                measurement={"bsa_percent": bsa_percent, "symptoms": symptoms},
                reason="skin assessment",
                intolerable=intolerable,
            )
            return SkinResult(grade, open_rash.id, change.recommendation, change.dlt)
        if open_rash is not None and grade > 0:
            # The same grade, perhaps on an earlier day than it was recorded before.
            dlt = self._reassess_dlt(open_rash, clinical_date, actor, protocol, term)
            return SkinResult(grade, open_rash.id, None, dlt)
        if open_rash is None and grade > 0:
            record, assessment = self.record_adverse_event(
                new_ae_id,
                term,
                grade,
                clinical_date,
                actor,
                today=today,
                protocol=protocol,
                attribution=attribution,
                ctcae_version=version,
                ctcae_version_reason=ctcae_version_reason,
                intolerable=intolerable,
                measurement={
                    "bsa_percent": bsa_percent,
                    "symptoms": symptoms,
                    "location": location.strip(),
                },
            )
            dlt = None if assessment.verdict == "not_dlt" else assessment
            return SkinResult(grade, new_ae_id, record, dlt)
        return SkinResult(grade, None if open_rash is None else open_rash.id, None, None)
