# mypy: disable-error-code="misc"
# Why: the methods below are the aggregate's own and annotate ``self: Patient``; mypy reports a
# self type that is a subclass of the mixin as [misc] ("not a supertype of its class") though it
# checks the bodies and every call against Patient. That report is the only [misc] in the module.
"""The Patient's guards: the checks every command runs before it records anything.

A mixin of :class:`~domain.patient.aggregate.Patient` (the events and the ``@event`` methods that
apply them live there: the aggregate's metaclass needs them on the class itself).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from domain.errors import CommandRefused
from domain.patient.clinical_dates import check_clinical_date, check_not_before

if TYPE_CHECKING:
    from domain.patient.aggregate import Patient


class PatientGuards:
    """Dates, dosing started, still in study, not discontinued: refused with the rule's name."""

    def _check_date(
        self: Patient,
        day: dt.date,
        today: dt.date,
        *,
        field: str = "clinical_date",
        screening: bool = False,
    ) -> None:
        check_clinical_date(day, today, self.enrolment_date, field=field, screening=screening)

    def _check_dosing_started(self: Patient) -> dt.date:
        if self.first_dose_date is None:
            raise CommandRefused(
                f"subject {self.subject_id} has not started dosing", rule="dosing_not_started"
            )
        return self.first_dose_date

    def _check_treated_on(self: Patient, day: dt.date, today: dt.date) -> None:
        """A date of an on-treatment record: from the first dose to the site's today."""
        first = self._check_dosing_started()
        self._check_date(day, today)
        check_not_before(day, first, "the first dose", rule="date_before_first_dose")

    def _check_in_study(self: Patient, day: dt.date | None = None) -> None:
        if self.left_study:
            raise CommandRefused(
                f"subject {self.subject_id} left the study (not evaluable)",
                rule="patient_withdrawn",
            )
        died = self.died_on
        if died is not None and (day is None or day > died):
            raise CommandRefused(
                f"subject {self.subject_id} died on {died} (grade 5 adverse event)",
                rule="patient_died",
            )

    def _check_death_after_doses(self: Patient, grade: int, day: dt.date) -> None:
        """A grade 5 (death) is not dated before a dose already recorded."""
        last = self.last_dose_date
        if grade == 5 and last is not None and day < last:
            raise CommandRefused(
                f"a dose is recorded on {last}: a grade 5 (death) cannot be dated before it "
                "(correct that dose or mark it entered in error first)",
                rule="date_before_last_dose",
                field="clinical_date",
            )

    def _check_not_discontinued(self: Patient) -> None:
        if self.all_discontinued:
            raise CommandRefused(
                f"treatment of subject {self.subject_id} was discontinued on "
                f"{self.discontinued_on}; a discontinuation is permanent",
                rule="treatment_discontinued",
            )
