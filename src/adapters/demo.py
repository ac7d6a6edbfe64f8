"""The demo trial: a complete defactinib + avutometinib 3+3 escalation, recorded like any client."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from uuid import UUID

from adapters.application import DoseLedger
from domain.actors import Actor
from domain.ae_report import AdverseEventReport, SkinAssessment
from domain.protocol import template
from projections.queries import ReadModelQueries

DEMO_NAME = "Demo: defactinib + avutometinib dose escalation"
INVESTIGATORS = {
    "S01": Actor(user_id="inv-s01", role="investigator", name="Dr A. Okafor", client="demo"),
    "S02": Actor(user_id="inv-s02", role="investigator", name="Dr M. Lindqvist", client="demo"),
}
SRC_CHAIR = Actor(
    user_id="src-chair", role="src_member", name="Dr R. Iyer (SRC chair)", client="demo"
)
REGISTRAR = Actor(user_id="sponsor-dm", role="admin", name="Sponsor data manager", client="demo")

# Each cohort: the SRC's decision after it, and each patient's story:
# ("no_dlt", None) | ("cpk", None) | ("rash", None) | ("not_evaluable", reason), or a DLT-free
# window followed in cycle 2 by ("no_dlt", "cpk") | ("no_dlt", "vision").
# The DLTs come from graded adverse events, as a site records them. The demo leaves follow-ups
# open (domain.md §7), so `doseledger reminders due` has something to show: the grade 4 CPK hold
# of cohort 2 and the grade 3 one of cohort 4 (recovery window, unresolved hold), the rash hold,
# and the visual AE of cohort 4 (ophthalmology referral).
COHORTS: list[tuple[str, list[tuple[str, str | None]]]] = [
    ("escalate", [("no_dlt", None)] * 3),
    ("expand", [("no_dlt", None), ("cpk", None), ("no_dlt", None)]),
    (
        "de-escalate",
        [
            ("not_evaluable", "withdrew consent on day 9, before completing the DLT window"),
            ("no_dlt", None),
            ("rash", None),
            ("no_dlt", None),
        ],
    ),
    ("declare_mtd", [("no_dlt", "cpk"), ("no_dlt", "vision"), ("no_dlt", None)]),
]


def _sites() -> Iterator[str]:
    while True:
        yield from INVESTIGATORS


DEMO_SPAN_DAYS = 240
"""The demo's first baseline exams are this many days before the ledger's today: its whole
history (four cohorts and cycle-2 events) lies in the past, and its follow-ups are due."""


def record_demo_trial(ledger: DoseLedger, start: dt.date | None = None) -> UUID:
    """Record the whole demo escalation through the application service; returns the trial id."""
    if start is None:
        start = ledger.clock().astimezone(dt.UTC).date() - dt.timedelta(days=DEMO_SPAN_DAYS)
    trial_id = ledger.register_trial(template("defactinib-avutometinib"), REGISTRAR, name=DEMO_NAME)
    sites = _sites()
    day = start
    for number, (decision, patients) in enumerate(COHORTS, start=1):
        for outcome, detail in patients:
            site = next(sites)
            investigator = INVESTIGATORS[site]
            # Enrolled on the day of the baseline exams, as a site would have entered it.
            patient_id = ledger.enrol_patient(trial_id, site, investigator, enrolment_date=day)
            ledger.record_baseline_eye_exam(
                patient_id,
                day,
                "20/20",
                "20/25",
                investigator,
                slit_lamp_findings="no abnormality",
            )
            ledger.record_baseline_skin_exam(
                patient_id, day, "no pre-existing dermatologic conditions", investigator
            )
            ledger.start_dosing(patient_id, day + dt.timedelta(days=2), investigator)
            first_dose = day + dt.timedelta(days=2)
            _dlt_window(ledger, patient_id, outcome, detail, first_dose, investigator)
            day += dt.timedelta(days=3)
        mtd = ledger.trial(trial_id)["recommendation"]["mtd"] if decision == "declare_mtd" else None
        ledger.sign_decision(
            trial_id, number, decision, SRC_CHAIR, meaning="approval", mtd_level=mtd
        )
        day += dt.timedelta(days=28)
    return trial_id


def _dlt_window(
    ledger: DoseLedger,
    patient_id: UUID,
    outcome: str,
    detail: str | None,
    first_dose: dt.date,
    investigator: Actor,
) -> None:
    """Close one patient's DLT window the way a site would record it."""
    if outcome == "no_dlt":
        ledger.record_dlt_window_outcome(
            patient_id,
            "no_dlt",
            first_dose + dt.timedelta(days=27),
            investigator,
        )
        if detail is not None:
            _cycle_two(ledger, patient_id, detail, first_dose, investigator)
    elif outcome == "cpk":
        # 12.4 x ULN: grade 4, a DLT
        _cpk_hold(ledger, patient_id, first_dose + dt.timedelta(days=14), 2480, investigator)
    elif outcome == "rash":
        visit = SkinAssessment(
            first_dose + dt.timedelta(days=11), "face, chest and back", 35, "moderate"
        )  # grade 3 under CTCAE v5.0: a DLT
        ledger.record_skin_assessment(patient_id, visit, investigator)
        ledger.record_dose_action(patient_id, "hold", visit.clinical_date, investigator)
    else:
        ledger.record_dlt_window_outcome(
            patient_id,
            "not_evaluable",
            first_dose + dt.timedelta(days=8),
            investigator,
            reason=detail or "",
        )


def _cycle_two(
    ledger: DoseLedger, patient_id: UUID, event: str, first_dose: dt.date, investigator: Actor
) -> None:
    """After a DLT-free window: a grade 3 CPK increase and its hold, or a visual AE."""
    if event == "cpk":
        # 7 x ULN: grade 3
        _cpk_hold(ledger, patient_id, first_dose + dt.timedelta(days=35), 1400, investigator)
    else:
        report = AdverseEventReport(
            term="Blurred vision",
            grade=1,
            onset=first_dose + dt.timedelta(days=31),
            attribution="possible",
            eye="left",
            bcva="20/25",  # as at baseline: dosing continues; the referral is due in 7 days
        )
        ledger.record_adverse_event(patient_id, report, investigator)


def _cpk_hold(
    ledger: DoseLedger, patient_id: UUID, onset: dt.date, cpk: int, investigator: Actor
) -> None:
    """A CPK increased AE (ULN 200 U/L) and the dose held for it the same day."""
    report = AdverseEventReport(
        term="CPK increased",
        onset=onset,
        attribution="probable",
        measurement={"value": cpk, "uln": 200},
    )
    ae = ledger.record_adverse_event(patient_id, report, investigator)
    ledger.record_dose_action(patient_id, "hold", onset, investigator, ae_id=UUID(ae["ae_id"]))


def find_demo_trial(queries: ReadModelQueries) -> UUID | None:
    """The most recent demo trial in the (caught-up) read models, if any."""
    found = None
    for trial in queries.trial_overviews():
        if trial["name"] == DEMO_NAME:
            found = UUID(trial["trial_id"])
    return found
