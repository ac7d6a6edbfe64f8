"""CDISC SDTM-style AE and EX datasets (CSV, standard variable names) built from patient events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.site_time import plus_days
from projections.csv_cells import write_csv

AE_VARIABLES = (
    "STUDYID",
    "DOMAIN",
    "USUBJID",
    "AESEQ",
    "AESPID",
    "AETERM",
    "AEDECOD",
    "AEBODSYS",
    "AETOXGR",
    "AESER",
    "AEREL",
    "AEACN",
    "AESTDTC",
    "AEENDTC",
    "AEOUT",
)
EX_VARIABLES = (
    "STUDYID",
    "DOMAIN",
    "USUBJID",
    "EXSEQ",
    "EXTRT",
    "EXDOSE",
    "EXDOSU",
    "EXDOSFRQ",
    "EXROUTE",
    "EXSTDTC",
    "EXENDTC",
)
DOMAINS = ("AE", "EX")
_RELATIONSHIP = {
    "unrelated": "NOT RELATED",
    "unlikely": "UNLIKELY RELATED",
    "possible": "POSSIBLY RELATED",
    "probable": "PROBABLY RELATED",
    "definite": "RELATED",
}
# Action taken with study treatment, most severe wins (CDISC ACN codelist).
_ACTIONS = ("DOSE NOT CHANGED", "DOSE REDUCED", "DRUG INTERRUPTED", "DRUG WITHDRAWN")
_ACTION_OF = {
    "DoseReduced": "DOSE REDUCED",
    "DoseHeld": "DRUG INTERRUPTED",
    "TreatmentDiscontinued": "DRUG WITHDRAWN",
}
_FREQUENCY = {
    "BID": "BID",
    "QD": "QD",
    "twice weekly": "2 TIMES PER WEEK",
    "day 1 every 3 weeks": "Q3W",
    "days 1 and 8": "2 TIMES PER CYCLE",
    "days 1, 8 and 15": "QW",
}
_ROUTE = {"oral": "ORAL", "intravenous": "INTRAVENOUS", "subcutaneous": "SUBCUTANEOUS"}


@dataclass(frozen=True)
class SubjectHistory:
    """What the datasets need of one patient: ids and its events in order."""

    subject_id: str
    events: Sequence[Any]


def _usubjid(study: str, subject: str) -> str:
    return f"{study}-{subject}"


def _iso(value: dt.date | None) -> str:
    return "" if value is None else value.isoformat()


def ae_rows(
    study: str, subjects: Iterable[SubjectHistory], soc_of: dict[str, str]
) -> list[dict[str, Any]]:
    """The AE dataset: one record per adverse event, with its worst grade and action taken."""
    rows: list[dict[str, Any]] = []
    for subject in subjects:
        seq = 0
        records: dict[Any, dict[str, Any]] = {}
        for event in subject.events:
            name = type(event).__name__
            if name == "AERecorded":
                seq += 1
                records[event.ae_id] = {
                    "STUDYID": study,
                    "DOMAIN": "AE",
                    "USUBJID": _usubjid(study, subject.subject_id),
                    "AESEQ": seq,
                    "AESPID": str(event.ae_id),
                    "AETERM": event.term,
                    "AEDECOD": event.term,
                    "AEBODSYS": soc_of.get(event.term, ""),
                    "AETOXGR": event.grade,
                    "AESER": "Y" if event.serious else "N",
                    "AEREL": _RELATIONSHIP.get(event.attribution, ""),
                    "AEACN": _ACTIONS[0],
                    "AESTDTC": event.clinical_date.isoformat(),
                    "AEENDTC": "",
                    "AEOUT": "NOT RECOVERED/NOT RESOLVED",
                }
            elif name == "AEGraded" and event.ae_id in records:
                record = records[event.ae_id]
                record["AETOXGR"] = max(record["AETOXGR"], event.new_grade)
            elif name == "FactCorrected" and event.fact == "adverse_event":
                _correct(records.get(UUID(event.ref)), event.changes)
            elif name == "FactEnteredInError" and event.fact == "adverse_event":
                records.pop(UUID(event.ref), None)  # never happened: not in the dataset
            elif name == "AEResolved" and event.ae_id in records:
                records[event.ae_id]["AEENDTC"] = event.clinical_date.isoformat()
                records[event.ae_id]["AEOUT"] = "RECOVERED/RESOLVED"
            elif name in _ACTION_OF and getattr(event, "ae_id", None) in records:
                record = records[event.ae_id]
                action = _ACTION_OF[name]
                if _ACTIONS.index(action) > _ACTIONS.index(record["AEACN"]):
                    record["AEACN"] = action
        rows.extend(records.values())
    return rows


def _correct(record: dict[str, Any] | None, changes: dict[str, list[Any]]) -> None:
    """A corrected AE's record: its worst grade, onset, relationship and seriousness."""
    if record is None:
        return
    for name, (_, new) in changes.items():
        if name == "worst_grade":
            record["AETOXGR"] = int(new)
        elif name == "onset":
            record["AESTDTC"] = str(new)
        elif name == "attribution":
            record["AEREL"] = _RELATIONSHIP.get(str(new), "")
        elif name == "serious":
            record["AESER"] = "Y" if new else "N"


class _Exposure:
    """One subject's dosing intervals, agent by agent, built event by event."""

    def __init__(self, routes: dict[str, str]) -> None:
        self.routes = routes
        self.intervals: list[dict[str, Any]] = []
        self.open: dict[str, dict[str, Any]] = {}
        self.doses: list[dict[str, Any]] = []
        self.stopped: set[str] = set()
        self.last_dose: dt.date | None = None

    def close(self, agent: str, end: dt.date | None) -> None:
        interval = self.open.pop(agent, None)
        if interval is not None:
            start = dt.date.fromisoformat(interval["EXSTDTC"])
            interval["EXENDTC"] = _iso(None if end is None else max(start, end))

    def stop_before(self, agents: list[str], day: dt.date) -> None:
        """Dosing stopped on ``day``: the last dose was the recorded one or the day before."""
        before = plus_days(day, -1)
        end = max(self.last_dose, before) if self.last_dose else before
        for agent in agents:
            self.close(agent, min(end, day))

    def start(self, doses: list[dict[str, Any]], on: dt.date) -> None:
        self.doses = doses
        self.last_dose = on
        for dose in doses:
            if dose["agent"] in self.stopped:
                continue
            self.close(dose["agent"], plus_days(on, -1))
            interval = {
                "EXTRT": dose["agent"].upper(),
                "EXDOSE": f"{dose['amount']:g}",
                "EXDOSU": dose["unit"].upper(),
                "EXDOSFRQ": _FREQUENCY.get(dose["frequency"], dose["frequency"].upper()),
                "EXROUTE": _ROUTE.get(self.routes.get(dose["agent"], ""), ""),
                "EXSTDTC": on.isoformat(),
                "EXENDTC": "",
            }
            self.intervals.append(interval)
            self.open[dose["agent"]] = interval

    def apply(self, event: Any) -> None:
        name = type(event).__name__
        if name == "Enrolled":
            self.doses = list(event.doses)
        elif name == "DosingStarted":
            self.start(self.doses, event.clinical_date)
        elif name == "DoseAdministered":
            self.last_dose = event.clinical_date
        elif name == "DoseHeld":
            self.stop_before(list(self.open), event.clinical_date)
        elif name in ("DoseReduced", "DoseResumed"):
            self.start(list(event.to_doses), event.clinical_date)
        elif name == "TreatmentDiscontinued":
            self.stop_before(list(event.agents), event.clinical_date)
            self.stopped.update(event.agents)


def ex_rows(
    study: str, subjects: Iterable[SubjectHistory], routes: dict[str, str]
) -> list[dict[str, Any]]:
    """The EX dataset: one record per agent per interval of constant dose."""
    rows: list[dict[str, Any]] = []
    for subject in subjects:
        exposure = _Exposure(routes)
        for event in subject.events:
            exposure.apply(event)
        # Intervals still open are ongoing: no end date yet.
        for seq, interval in enumerate(exposure.intervals, start=1):
            rows.append(
                {
                    "STUDYID": study,
                    "DOMAIN": "EX",
                    "USUBJID": _usubjid(study, subject.subject_id),
                    "EXSEQ": seq,
                    **interval,
                }
            )
    return rows


def to_csv(rows: Sequence[dict[str, Any]], variables: Sequence[str]) -> str:
    """A dataset as CSV with its standard variable names as the header (text cells
    neutralised: csv_cells)."""
    return write_csv(rows, variables)
