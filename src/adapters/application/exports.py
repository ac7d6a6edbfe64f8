"""Exports of a trial: its audit trail (rows, csv, jsonl, html) and SDTM-style datasets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from adapters.application.queries import Queries
from domain.errors import InvalidInput
from domain.patient import Patient
from domain.trial import Trial
from projections import audit_report, sdtm
from projections.audit_rows import AUDIT_COLUMNS


class Exports(Queries):
    """What a trial's records are exported as (for inspectors and the sponsor's datasets)."""

    def audit_export(self, trial_id: UUID, fmt: str, trail: Sequence[Mapping[str, Any]]) -> str:
        """The trial's audit trail as csv, jsonl or a self-contained html report.

        ``trail``: the trail's rows as the audit-trail read model holds them, in log order
        (``ReadModelQueries.audit_trail``): an export reads no more of the log than a page does.
        """
        if fmt not in audit_report.FORMATS:
            raise InvalidInput(
                f"unknown format '{fmt}'; formats: {', '.join(audit_report.FORMATS)}",
                field="format",
            )
        rows = [{column: row[column] for column in AUDIT_COLUMNS} for row in trail]
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
