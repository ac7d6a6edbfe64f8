"""The patient timeline: one row per clinical happening, in the order it was recorded.

Doses, adverse events with their grades, grade changes and resolutions, skin assessments,
recommendations, holds and resumptions, reductions, discontinuation, baseline exams, the DLT
window (its opening on the first dose, with its last day, and its outcome) and DLT candidates.

Rows carry the clinical date and who recorded the happening; when it was recorded, and why, is
in the audit trail (same position). A row is keyed by (position, seq): the event's place in the
log and a sequence number within the event, so that one event can give several rows (the first
dose opens the DLT window too).
A reminder a scheduler tick issued for the patient is a row of kind ``reminder`` at the
position of its ``Reminder.Issued`` event; ``kind`` is open text and ``detail`` holds
kind-specific JSON.

Doses given, three events in five, are rows of their own table (:class:`TimelineDoses`,
``timeline_doses``), merged into the timeline when it is read. They need nothing but the
patient → trial map of the audit trail (:class:`projections.models.audit_trail.AuditPatients`) and a
few fields of the stored event, so a parallel rebuild writes them in the audit trail's process,
which reads events as stored, and the other process never decodes a dose event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from domain.errors import NotFound
from domain.patient import Patient
from domain.reminder_schedule import Reminder
from domain.site_time import plus_days
from projections.models.audit_trail import AuditPatients
from projections.models.base import Handler, ReadModel, UndecodedHandler, dumps, iso, loads
from projections.models.directory import PatientDirectory, PatientInfo, patient_row
from projections.store import Store, Table, Transaction
from projections.undecoded import UndecodedEvent, id_text

TIMELINE = Table(
    "timeline",
    (
        ("position", "int"),
        ("seq", "int"),
        ("patient_id", "text"),
        ("clinical_date", "text"),
        ("kind", "text"),
        ("ae_id", "text"),
        ("term", "text"),
        ("grade", "int"),
        ("summary", "text"),
        ("detail", "text"),
        ("user_id", "text"),
    ),
    key=("position", "seq"),
    indexes=(("patient_id", "position", "seq"),),
    without_rowid=True,
)
COLUMNS = TIMELINE.column_names
TIMELINE_DOSES = Table(
    "timeline_doses",
    (
        ("position", "int"),
        ("patient_id", "text"),
        ("clinical_date", "text"),
        ("summary", "text"),
        ("user_id", "text"),
    ),
    key=("position",),
    indexes=(("patient_id", "position"),),
)
# What one event contributes: a (kind, clinical date, summary, ae_id, term, grade, detail) row,
# or a list of them.
Entry = tuple[str, dt.date | None, str, UUID | None, str | None, int | None, Any]
Entries = Entry | list[Entry]


def _dose(d: dict[str, Any]) -> str:
    return f"{d['agent']} {d['amount']:g} {d['unit']} {d['frequency']}"


def _doses(doses: list[dict[str, Any]]) -> str:
    return " + ".join(_dose(d) for d in doses)


class PatientTimeline(ReadModel):
    """Every clinical happening of every patient."""

    name = "patient_timeline"
    tables = (TIMELINE,)

    def __init__(self, store: Store, directory: PatientDirectory) -> None:
        super().__init__(store)
        self.directory = directory
        self.rows: list[tuple[Any, ...]] = []

    def handlers(self) -> Mapping[type, Handler]:
        entries: dict[type, Callable[[Any, PatientInfo], Entries]] = {
            Patient.Enrolled: _enrolled,
            Patient.BaselineEyeExamRecorded: _eye_exam,
            Patient.EyeExamRecorded: _on_treatment_eye_exam,
            Patient.BaselineSkinExamRecorded: _skin_exam,
            Patient.DosingStarted: _dosing_started,
            Patient.AERecorded: _ae_recorded,
            Patient.AEGraded: self._ae_graded,
            Patient.AEResolved: self._ae_resolved,
            Patient.SkinAssessed: _skin_assessed,
            Patient.DoseRecommended: _recommended,
            Patient.DoseHeld: _held,
            Patient.DoseReduced: _reduced,
            Patient.DoseResumed: _resumed,
            Patient.TreatmentDiscontinued: _discontinued,
            Patient.DLTCandidateRaised: _candidate,
            Patient.DLTCandidateRejected: _candidate_rejected,
            Patient.DLTWindowClosed: _window_closed,
            Patient.DLTAssessed: _dlt_assessed,
            Patient.DoseMissed: _dose_missed,
            Patient.DoseDeviationRecorded: _deviation,
            Patient.FactCorrected: _corrected,
            Patient.FactEnteredInError: _in_error,
            Patient.DLTOutcomeRevised: _outcome_revised,
        }
        handlers = {cls: self._handler(make) for cls, make in entries.items()}
        handlers[Reminder.Issued] = self._reminder_issued
        return handlers

    def _reminder_issued(self, position: int, event: Any) -> None:
        # A reminder a scheduler tick issued, on its patient's timeline (not the SRC's ones).
        info = None if event.patient_id is None else self.directory.patient(event.patient_id)
        if info is None:
            return
        kind = event.kind.replace("_", " ")
        text = f"reminder issued: {kind}, due {event.due_at.astimezone(dt.UTC).isoformat()}"
        detail = {"reminder_id": str(event.originator_id), "kind": event.kind}
        row = (position, 0, info.patient_id, None, "reminder", None, None, None, text)
        self.rows.append((*row, dumps(detail), None))

    def _handler(self, make: Callable[[Any, PatientInfo], Entries]) -> Handler:
        # Runs once per patient event (most of the log): look-ups bound once, and the common
        # case (one row per event) without the loop.
        rows = self.rows
        append = rows.append
        patient = self.directory.patient

        def handle(position: int, event: Any) -> None:
            info = patient(event.originator_id)
            if info is None:
                return  # a patient event without its enrolment: nothing to attach it to
            made = make(event, info)
            actor = event.actor
            user = actor.get("user_id") if actor else None
            if type(made) is tuple:
                kind, when, summary, ae_id, term, grade, detail = made
                append(
                    (
                        position,
                        0,
                        info.patient_id,
                        None if when is None else when.isoformat(),
                        kind,
                        None if ae_id is None else id_text(ae_id),
                        term,
                        grade,
                        summary,
                        None if detail is None else dumps(detail),
                        user,
                    )
                )
                return
            entries: Sequence[Entry] = made if isinstance(made, list) else (made,)
            for seq, (kind, when, summary, ae_id, term, grade, detail) in enumerate(entries):
                append(
                    (
                        position,
                        seq,
                        info.patient_id,
                        None if when is None else when.isoformat(),
                        kind,
                        None if ae_id is None else id_text(ae_id),
                        term,
                        grade,
                        summary,
                        None if detail is None else dumps(detail),
                        user,
                    )
                )

        return handle

    def _ae_graded(self, event: Any, info: PatientInfo) -> Entries:
        term = self.directory.ae_term(event.ae_id)
        text = f"{term} grade {event.old_grade} → {event.new_grade}"
        if event.reason:
            text += f" ({event.reason})"
        detail = {"old_grade": event.old_grade, "measurement": event.measurement}
        return (
            "ae_grade_changed",
            event.clinical_date,
            text,
            event.ae_id,
            term,
            event.new_grade,
            detail,
        )

    def _ae_resolved(self, event: Any, info: PatientInfo) -> Entries:
        term = self.directory.ae_term(event.ae_id)
        text = f"{term} resolved (was grade {event.old_grade})"
        return (
            "ae_resolved",
            event.clinical_date,
            text,
            event.ae_id,
            term,
            0,
            {"old_grade": event.old_grade},
        )

    def flush(self, tx: Transaction) -> None:
        self.append(tx, TIMELINE, self.rows)
        self.rows.clear()

    def reset(self) -> None:
        self.rows.clear()


class TimelineDoses(ReadModel):
    """Every dose given to an enrolled patient: the timeline's rows of kind ``dose``."""

    name = "timeline_doses"
    tables = (TIMELINE_DOSES,)

    def __init__(self, store: Store, patients: AuditPatients) -> None:
        super().__init__(store)
        self.patients = patients
        self.rows: list[tuple[Any, ...]] = []

    def stored_handlers(self) -> Mapping[type, UndecodedHandler]:
        return {Patient.DoseAdministered: self._dose_given}

    def _dose_given(self, position: int, stored: UndecodedEvent) -> None:
        if self.patients.trial_of(stored.originator_id) is None:
            return  # a patient event without its enrolment: nothing to attach it to
        get = stored.get
        actor = get("actor")
        self.rows.append(
            (
                position,
                stored.originator_id,
                stored.date_text("clinical_date"),
                "dose given: " + ", ".join(get("agents")),
                actor.get("user_id") if actor else None,
            )
        )

    def flush(self, tx: Transaction) -> None:
        self.append(tx, TIMELINE_DOSES, self.rows)
        self.rows.clear()

    def reset(self) -> None:
        self.rows.clear()


# ----------------------------------------------------------------- rows per event


def _enrolled(event: Any, info: PatientInfo) -> Entries:
    text = (
        f"subject {event.subject_id} enrolled at site {event.site_id}, cohort {event.cohort}, "
        f"DL{event.level}: {_doses(event.doses)}; site time zone {event.site_time_zone}"
    )
    detail = {"site_time_zone": event.site_time_zone}
    return ("enrolled", event.enrolment_date, text, None, None, None, detail)


def _on_treatment_eye_exam(event: Any, info: PatientInfo) -> Entries:
    purpose = event.purpose.replace("_", "-")
    text = f"{purpose} eye exam: BCVA right {event.bcva_right}, left {event.bcva_left}"
    if event.slit_lamp_findings:
        text += f"; slit lamp: {event.slit_lamp_findings}"
    return ("eye_exam", event.clinical_date, text, None, None, None, {"purpose": event.purpose})


def _eye_exam(event: Any, info: PatientInfo) -> Entries:
    text = f"baseline eye exam: BCVA right {event.bcva_right}, left {event.bcva_left}"
    if event.slit_lamp_findings:
        text += f"; slit lamp: {event.slit_lamp_findings}"
    return ("baseline_eye_exam", event.clinical_date, text, None, None, None, None)


def _skin_exam(event: Any, info: PatientInfo) -> Entries:
    text = f"baseline skin exam: {event.findings}"
    return ("baseline_skin_exam", event.clinical_date, text, None, None, None, None)


def _dosing_started(event: Any, info: PatientInfo) -> Entries:
    first: dt.date = event.clinical_date
    last = plus_days(first, info.dlt_window_days - 1)  # never overflows on a stored date
    window = f"DLT window opens: day 1 {first} to day {info.dlt_window_days} {last}"
    detail = {"first_day": first.isoformat(), "last_day": last.isoformat()}
    return [
        ("dosing_started", first, "first dose", None, None, None, None),
        ("dlt_window_opened", first, window, None, None, None, detail),
    ]


def _ae_recorded(event: Any, info: PatientInfo) -> Entries:
    text = f"{event.term} grade {event.grade} (CTCAE v{event.ctcae_version}), {event.attribution}"
    if event.serious:
        text += ", serious"
    verdict = event.dlt_assessment.get("verdict")
    if verdict and verdict != "not_dlt":
        text += f"; DLT assessment: {verdict}"
    detail = {
        "meddra_code": event.meddra_code,
        "attribution": event.attribution,
        "serious": event.serious,
        "occurrence": event.occurrence,
        "measurement": event.measurement,
        "dlt_assessment": event.dlt_assessment,
    }
    return (
        "adverse_event",
        event.clinical_date,
        text,
        event.ae_id,
        event.term,
        event.grade,
        detail,
    )


def _skin_assessed(event: Any, info: PatientInfo) -> Entries:
    text = f"skin assessment: rash grade {event.grade}, {event.bsa_percent:g}% BSA"
    if event.location:
        text += f" ({event.location})"
    detail = {"bsa_percent": event.bsa_percent, "symptoms": event.symptoms}
    return ("skin_assessment", event.clinical_date, text, event.ae_id, None, event.grade, detail)


def _recommended(event: Any, info: PatientInfo) -> Entries:
    rec = event.recommendation
    text = f"recommended: {rec.get('action')} (rule {rec.get('rule')})"
    if rec.get("note"):
        text += f"; {rec['note']}"
    return ("recommendation", event.clinical_date, text, event.ae_id, None, None, rec)


def _held(event: Any, info: PatientInfo) -> Entries:
    text = "dose withheld"
    if event.resume_when_bcva_at_baseline:
        text += "; resume when BCVA is back to baseline"
    elif event.resume_when_grade_at_most is not None:
        text += f"; resume at grade {event.resume_when_grade_at_most} or less"
    if event.deadline is not None:
        text += f" by {event.deadline}"
    if event.reason:
        text += f" ({event.reason})"
    detail = {"resume": event.resume, "deadline": iso(event.deadline), "rule": event.rule}
    return ("dose_held", event.clinical_date, text, event.ae_id, None, None, detail)


def _reduced(event: Any, info: PatientInfo) -> Entries:
    text = f"dose reduced: {_doses(event.from_doses)} → {_doses(event.to_doses)}"
    if event.reason:
        text += f" ({event.reason})"
    return ("dose_reduced", event.clinical_date, text, event.ae_id, None, None, None)


def _resumed(event: Any, info: PatientInfo) -> Entries:
    text = f"dosing resumed at the {event.at} dose: {_doses(event.to_doses)}"
    if event.reason:
        text += f" ({event.reason})"
    return ("dose_resumed", event.clinical_date, text, None, None, None, None)


def _discontinued(event: Any, info: PatientInfo) -> Entries:
    text = "treatment discontinued: " + ", ".join(event.agents)
    if event.reason:
        text += f" ({event.reason})"
    return ("discontinued", event.clinical_date, text, event.ae_id, None, None, None)


def _candidate(event: Any, info: PatientInfo) -> Entries:
    text = f"DLT candidate for the SRC: {event.criterion}"
    return ("dlt_candidate", None, text, event.ae_id, None, None, None)


def _candidate_rejected(event: Any, info: PatientInfo) -> Entries:
    text = f"DLT candidate rejected by the SRC: {event.reason}"
    return ("dlt_candidate_rejected", None, text, event.ae_id, None, None, None)


def _window_closed(event: Any, info: PatientInfo) -> Entries:
    text = "DLT window closed: " + event.outcome.replace("_", " ")
    if event.description:
        text += f" ({event.description})"
    if event.reason:
        text += f" ({event.reason})"
    fraction = event.doses_taken_fraction
    detail = None if fraction is None else {"doses_taken_fraction": fraction}
    return ("dlt_window_closed", event.clinical_date, text, None, None, None, detail)


def _dlt_assessed(event: Any, info: PatientInfo) -> Entries:
    verdict = "a DLT" if event.verdict == "dlt" else "a DLT candidate"
    text = f"worsened to grade {event.grade} inside the DLT window: {verdict} ({event.criterion})"
    detail = {"verdict": event.verdict}
    return ("dlt_assessed", event.clinical_date, text, event.ae_id, None, event.grade, detail)


def _dose_missed(event: Any, info: PatientInfo) -> Entries:
    text = "planned dose missed" + (f" ({event.reason})" if event.reason else "")
    return ("dose_missed", event.clinical_date, text, None, None, None, None)


def _deviation(event: Any, info: PatientInfo) -> Entries:
    text = (
        "dose given against an open requirement (protocol deviation): "
        + ", ".join(event.agents)
        + f" ({event.reason})"
    )
    detail = {"requirements": event.requirements}
    return ("dose_deviation", event.clinical_date, text, None, None, None, detail)


def _corrected(event: Any, info: PatientInfo) -> Entries:
    changes = "; ".join(f"{name} {old} → {new}" for name, (old, new) in event.changes.items())
    text = f"{event.fact.replace('_', ' ')} {event.ref} corrected: {changes} ({event.reason})"
    ae_id = UUID(event.ref) if event.fact == "adverse_event" else None
    detail = {"fact": event.fact, "ref": event.ref, "changes": event.changes}
    return ("correction", event.clinical_date, text, ae_id, None, None, detail)


def _in_error(event: Any, info: PatientInfo) -> Entries:
    text = f"{event.fact.replace('_', ' ')} {event.ref} entered in error ({event.reason})"
    ae_id = UUID(event.ref) if event.fact == "adverse_event" else None
    detail = {"fact": event.fact, "ref": event.ref}
    return ("entered_in_error", event.clinical_date, text, ae_id, None, None, detail)


def _outcome_revised(event: Any, info: PatientInfo) -> Entries:
    new = "open again" if event.new_outcome is None else event.new_outcome.replace("_", " ")
    text = f"DLT window outcome revised: {event.old_outcome.replace('_', ' ')} → {new}"
    return ("dlt_outcome_revised", None, f"{text} ({event.reason})", None, None, None, None)


# ----------------------------------------------------------------- query


def patient_timeline(
    tx: Transaction,
    store: Store,
    patient_id: UUID,
    *,
    after: tuple[int, int] | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """The patient's timeline, in the order the happenings were recorded, or NotFound; its
    ``entries`` a page: at most ``limit`` after the key (position, seq) ``after``."""
    info = patient_row(tx, store, patient_id)
    if info is None:
        raise NotFound(f"no patient {patient_id}", kind="patient", ident=str(patient_id))
    sql = (
        f"SELECT {', '.join(COLUMNS)} FROM {store.qualified('timeline')} WHERE patient_id = ? "
        "UNION ALL SELECT position, 0, patient_id, clinical_date, 'dose', NULL, NULL, NULL, "
        f"summary, NULL, user_id FROM {store.qualified('timeline_doses')} WHERE patient_id = ?"
    )
    params: list[Any] = [str(patient_id), str(patient_id)]
    if after is not None:
        sql = f"SELECT * FROM ({sql}) t WHERE position > ? OR (position = ? AND seq > ?)"
        params += [after[0], after[0], after[1]]
    sql += " ORDER BY position, seq"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    rows = tx.fetchall(sql, params)
    entries = []
    for found in rows:
        row = dict(zip(COLUMNS, found, strict=True))
        del row["patient_id"]
        row["detail"] = loads(row["detail"])
        entries.append(row)
    return {
        "patient_id": info.patient_id,
        "trial_id": info.trial_id,
        "subject_id": info.subject_id,
        "site_id": info.site_id,
        "cohort": info.cohort,
        "level": info.level,
        "entries": entries,
    }
