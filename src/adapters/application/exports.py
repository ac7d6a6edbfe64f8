"""Exports of a trial: its audit trail (rows, csv, jsonl, html) and SDTM-style datasets."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from adapters.application.queries import Queries
from domain.errors import InvalidInput
from domain.patient import Patient
from domain.trial import Trial
from projections import audit_report, sdtm
from projections.audit_rows import audit_row

PAGE = 500


class Exports(Queries):
    """What a trial's records are exported as (for inspectors and the sponsor's datasets)."""

    def audit_rows(
        self, trial_id: UUID, *, as_of: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        """The trial's audit trail, one row per event of the trial and its patients, in order."""
        trial = self.load(Trial, trial_id)
        wanted = {trial_id, *trial.patient_cohort}
        rows = []
        start: int | None = None
        while True:
            page = self.recorder.select_notifications(start, PAGE, inclusive_of_start=start is None)
            for notification in page:
                if notification.originator_id in wanted:
                    domain_event = self.mapper.to_domain_event(notification)
                    if as_of is None or domain_event.timestamp <= as_of:
                        rows.append(audit_row(notification.id, domain_event))
            if len(page) < PAGE:
                return rows
            start = page[-1].id

    def audit_export(self, trial_id: UUID, fmt: str) -> str:
        """The audit trail as csv, jsonl or a self-contained html report."""
        if fmt not in audit_report.FORMATS:
            raise InvalidInput(
                f"unknown format '{fmt}'; formats: {', '.join(audit_report.FORMATS)}",
                field="format",
            )
        rows = self.audit_rows(trial_id)
        if fmt == "csv":
            return audit_report.to_csv(rows)
        if fmt == "jsonl":
            return audit_report.to_jsonl(rows)
        return audit_report.to_html(self.trial(trial_id), rows)

    def sdtm(self, trial_id: UUID, domain: str) -> str:
        """A CDISC SDTM-style dataset (AE or EX) of the trial, as CSV."""
        if domain not in sdtm.DOMAINS:
            raise InvalidInput(
                f"unknown SDTM domain '{domain}'; domains: {', '.join(sdtm.DOMAINS)}",
                field="domain",
            )
        trial = self.load(Trial, trial_id)
        study = trial.protocol.id.upper()
        subjects = []
        for patient_id in trial.patient_cohort:
            patient = self.load(Patient, patient_id)
            subjects.append(
                sdtm.SubjectHistory(patient.subject_id, list(self.events.get(patient_id)))
            )
        if domain == "AE":
            socs = {t.term: t.soc for t in self.catalogue}
            return sdtm.to_csv(sdtm.ae_rows(study, subjects, socs), sdtm.AE_VARIABLES)
        routes = {a.name: a.route for a in trial.protocol.agents}
        return sdtm.to_csv(sdtm.ex_rows(study, subjects, routes), sdtm.EX_VARIABLES)
