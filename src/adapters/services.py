"""The application service layer: load aggregates, call their commands, save atomically."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar, TypeVar
from uuid import UUID, uuid4

import structlog
from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Recording, Transcoder

from adapters.clock import Clock, utc_now
from adapters.persistence.caching import CachingApplication
from adapters.persistence.claim_fence import KWARG as CLAIM
from adapters.persistence.claim_fence import ClaimFence
from adapters.persistence.transcodings import DateAsISO
from domain.actors import SYSTEM, Actor
from domain.ae_report import AdverseEventReport, SkinAssessment, graded
from domain.ctcae import CtcaeCatalogue
from domain.errors import ConcurrencyConflict, InvalidInput, NotFound, VersionMismatch
from domain.patient import Patient
from domain.policies import apply_dlt_verdict, apply_outcome_change
from domain.protocol import Protocol
from domain.rules import DoseRecommendation
from domain.site_time import check_enrolment_date, local_date
from domain.trial import Trial
from projections import audit_report, sdtm
from projections.audit_rows import audit_row
from projections.patient_state import patient_summary
from projections.trial_state import trial_summary

A = TypeVar("A", bound=Aggregate)
SITE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
SUBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
PAGE = 500
# Versions a caller expects the aggregates it changes to have (HTTP If-Match), per request.
_expected_versions: ContextVar[dict[UUID, int] | None] = ContextVar(
    "expected_versions", default=None
)
# Aggregates loaded in the current unit of work (see DoseLedger.unit_of_work), by id.
_loaded: ContextVar[dict[UUID, Aggregate] | None] = ContextVar("loaded", default=None)
# Events saved in the current context, counted once watch_commits() starts (per HTTP request).
_commits: ContextVar[Commits | None] = ContextVar("commits", default=None)
log = structlog.get_logger("doseledger.services")


class DoseLedger(CachingApplication):
    """doseledger's application: every client (CLI, HTTP, demo, tests) goes through it."""

    name = "doseledger"
    # Loaded aggregates are cached and fast-forwarded with any newer stored events before use,
    # so several service instances on one store still see each other's writes.
    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "5000",
        "AGGREGATE_CACHE_FASTFORWARD": "y",
    }
    # Snapshots: after every Nth event of a trial or patient its state at that version is stored
    # (persistence.snapshots), so a load reads the latest snapshot and fewer than N later events,
    # however long the history. A patient's tail of at most 19 events keeps any load within 2x
    # of loading a 10-event patient; trial snapshots carry the whole protocol, and trials have
    # short histories. Taken with our projector (`_replay` is defined below the class, hence
    # the lambdas).
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Trial: 50, Patient: 20}
    snapshotting_projectors: ClassVar[dict[type[Any], Any]] = {
        Trial: lambda aggregate, events: _replay(aggregate, events),
        Patient: lambda aggregate, events: _replay(aggregate, events),
    }

    def __init__(self, env: Mapping[str, str] | None = None, *, clock: Clock = utc_now) -> None:
        # The store also holds the records of API keys, reminders, webhook subscriptions and
        # (older stores only) idempotent requests: import their aggregates so that any process
        # (a projections worker too) can decode every topic it reads. Imported here, not at the
        # top, because they import this module.
        import adapters.http.idempotency
        import adapters.http.keys
        import adapters.reminders
        import adapters.webhooks.subscriptions  # noqa: F401

        super().__init__(env=env)
        self.catalogue = CtcaeCatalogue.load()
        # What time it is for scheduled work (reminder ticks): one injectable clock per ledger.
        self.clock = clock
        # Domain events this instance appended (read by the HTTP /metrics counter).
        self.events_appended = 0
        self._appended_lock = threading.Lock()
        # Called after each commit of this instance: wakes the process's read-model runner.
        self.after_commit: list[Callable[[], None]] = []

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's save, collecting our aggregates' events with a nominal type check.

        The library checks each object against two runtime protocols, which costs about 50 µs
        per aggregate on Python 3.11 (more than the rest of a command's Python work); the
        rest is the library's own sequence: record, snapshot, notify.
        """
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            else:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        committed = _commits.get()
        if committed is not None and committed.fence is not None:
            processing_event.saved_kwargs.setdefault(CLAIM, committed.fence)
        recordings = self._record(processing_event)
        if committed is not None:
            committed.append(len(recordings))
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        for listener in list(self.after_commit):
            listener()

    def register_transcodings(self, transcoder: Transcoder) -> None:
        """Add the clinical-date transcoding to the library's defaults."""
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # ----------------------------------------------------------------- commands

    def register_trial(self, protocol: Protocol, actor: Actor, *, name: str = "") -> UUID:
        """Register a trial from a protocol; its first cohort opens at the starting level."""
        trial = Trial.register(uuid4(), protocol, name.strip() or protocol.title, actor)
        self._save(trial)
        return trial.id

    def enrol_patient(
        self,
        trial_id: UUID,
        site_id: str,
        actor: Actor,
        *,
        subject_id: str | None = None,
        site_time_zone: str | None = None,
        enrolment_date: dt.date | None = None,
    ) -> UUID:
        """Enrol a patient into the trial's open cohort; trial and patient are saved together.

        ``site_time_zone`` is recorded at the site's first enrolment (else the protocol's
        default); ``enrolment_date`` defaults to the site's today and is never after it.
        """
        if not SITE_ID.match(site_id):
            raise InvalidInput(
                f"site id '{site_id}' must be 1-32 letters, digits, '-' or '_'", field="site_id"
            )
        trial = self._get(Trial, trial_id)
        time_zone = trial.check_site_time_zone(site_id, site_time_zone)
        today = local_date(self.clock(), time_zone)
        if enrolment_date is None:
            enrolment_date = today
        check_enrolment_date(enrolment_date, today, time_zone)
        subject_id = subject_id or f"{site_id}-{len(trial.subjects) + 1:03d}"
        if not SUBJECT_ID.match(subject_id):
            raise InvalidInput(
                f"subject id '{subject_id}' must be 1-40 letters, digits, '-' or '_' "
                "(pseudonymous; never a name)",
                field="subject_id",
            )
        patient_id = uuid4()
        level = trial.enrol(patient_id, subject_id, site_id, actor, site_time_zone=site_time_zone)
        patient = Patient(
            id=patient_id,
            trial_id=trial_id,
            subject_id=subject_id,
            site_id=site_id,
            cohort=trial.open_cohort.number,
            level=level,
            doses=[d.model_dump(mode="json") for d in trial.protocol.dose_level(level).doses],
            dlt_window_days=trial.protocol.dlt_window_days,
            actor=actor.as_record(),
            enrolment_date=enrolment_date,
            site_time_zone=time_zone,
        )
        self._save(trial, patient)
        return patient_id

    def site_today(self, trial: UUID | Trial, site_id: str) -> dt.date:
        """The site's calendar date now (``self.clock``), in its recorded or default zone."""
        if not isinstance(trial, Trial):
            trial = self._get(Trial, trial)
        return local_date(self.clock(), trial.site_time_zone(site_id))

    def _today(self, patient: Patient) -> dt.date:
        """The patient's site's calendar date now: no clinical date it records is later."""
        return local_date(self.clock(), patient.site_time_zone)

    def record_eye_exam(
        self,
        patient_id: UUID,
        clinical_date: dt.date,
        purpose: str,
        bcva_right: str,
        bcva_left: str,
        actor: Actor,
        *,
        slit_lamp_findings: str = "",
    ) -> None:
        """Record an eye exam: ``baseline`` (before dosing), ``follow_up`` or ``referral``."""
        patient = self._get(Patient, patient_id)
        patient.record_eye_exam(
            clinical_date,
            purpose,
            bcva_right,
            bcva_left,
            actor,
            today=self._today(patient),
            slit_lamp_findings=slit_lamp_findings,
        )
        self._save(patient)

    def record_baseline_eye_exam(
        self,
        patient_id: UUID,
        clinical_date: dt.date,
        bcva_right: str,
        bcva_left: str,
        actor: Actor,
        *,
        slit_lamp_findings: str = "",
    ) -> None:
        """Record a patient's baseline eye exam (BCVA per eye, slit lamp)."""
        self.record_eye_exam(
            patient_id,
            clinical_date,
            "baseline",
            bcva_right,
            bcva_left,
            actor,
            slit_lamp_findings=slit_lamp_findings,
        )

    def start_dosing(self, patient_id: UUID, clinical_date: dt.date, actor: Actor) -> None:
        """Record a patient's first dose."""
        patient = self._get(Patient, patient_id)
        patient.start_dosing(clinical_date, actor, today=self._today(patient))
        self._save(patient)

    def record_dlt_window_outcome(
        self,
        patient_id: UUID,
        outcome: str,
        clinical_date: dt.date,
        actor: Actor,
        *,
        description: str = "",
        reason: str = "",
        doses_taken_fraction: float | None = None,
    ) -> None:
        """Record a patient's DLT-window outcome on the patient and its cohort, atomically."""
        patient = self._get(Patient, patient_id)
        trial = self._get(Trial, patient.trial_id)
        patient.close_dlt_window(
            outcome,
            clinical_date,
            actor,
            today=self._today(patient),
            schedule=trial.protocol.schedule,
            min_dose_fraction=trial.protocol.evaluability_min_dose_fraction,
            description=description,
            reason=reason,
            doses_taken_fraction=doses_taken_fraction,
        )
        trial.record_outcome(
            patient_id,
            patient.dlt_outcome or "not_evaluable",
            clinical_date,
            actor,
            description=description,
            reason=reason,
        )
        self._save(trial, patient)

    def sign_decision(
        self,
        trial_id: UUID,
        cohort: int,
        decision: str,
        signer: Actor,
        *,
        meaning: str = "approval",
        mtd_level: int | None = None,
        reason: str | None = None,
    ) -> None:
        """Record the safety review committee's signed escalation decision."""
        trial = self._get(Trial, trial_id)
        trial.sign_decision(
            cohort, decision, signer, meaning=meaning, mtd_level=mtd_level, reason=reason
        )
        self._save(trial)

    def review_decision(
        self,
        trial_id: UUID,
        cohort: int,
        outcome: str,
        signer: Actor,
        *,
        reason: str,
        meaning: str = "review",
    ) -> None:
        """Record the SRC's signed re-review of a decision a correction flagged."""
        trial = self._get(Trial, trial_id)
        trial.review_decision(cohort, outcome, signer, reason=reason, meaning=meaning)
        self._save(trial)

    def record_baseline_skin_exam(
        self, patient_id: UUID, clinical_date: dt.date, findings: str, actor: Actor
    ) -> None:
        """Record a patient's baseline skin examination."""
        patient = self._get(Patient, patient_id)
        patient.record_baseline_skin_exam(
            clinical_date, findings, actor, today=self._today(patient)
        )
        self._save(patient)

    def administer_dose(
        self, patient_id: UUID, clinical_date: dt.date, actor: Actor, *, deviation_reason: str = ""
    ) -> bool:
        """Record a dose given; against an open requirement only as a deviation with a reason
        (returns True when it was recorded as one)."""
        patient = self._get(Patient, patient_id)
        deviation = patient.administer_dose(
            clinical_date,
            actor,
            today=self._today(patient),
            deviation_reason=deviation_reason,
        )
        self._save(patient)
        return deviation

    def record_missed_dose(
        self, patient_id: UUID, clinical_date: dt.date, actor: Actor, *, reason: str = ""
    ) -> None:
        """Record a planned dose that was not taken."""
        patient = self._get(Patient, patient_id)
        patient.record_missed_dose(clinical_date, actor, today=self._today(patient), reason=reason)
        self._save(patient)

    def record_adverse_event(
        self, patient_id: UUID, report: AdverseEventReport, actor: Actor
    ) -> dict[str, Any]:
        """Record an AE; returns its id, the dose recommendation and the DLT verdict."""
        patient = self._get(Patient, patient_id)
        trial = self._get(Trial, patient.trial_id)
        term = self.catalogue.lookup(report.term)
        grade = graded(term, report.grade, report.measurement)
        ae_id = uuid4()
        recommendation, assessment = patient.record_adverse_event(
            ae_id,
            term,
            grade,
            report.onset,
            actor,
            today=self._today(patient),
            protocol=trial.protocol,
            attribution=report.attribution,
            serious=report.serious,
            ctcae_version=report.ctcae_version,
            ctcae_version_reason=report.ctcae_version_reason,
            measurement=report.measurement,
            intolerable=report.intolerable,
            eye=report.eye,
            bcva=report.bcva,
            clinically_significant=report.clinically_significant,
            with_bleeding=report.with_bleeding,
            duration_days=report.duration_days,
        )
        grade = patient.adverse_events[ae_id].grade
        apply_dlt_verdict(trial, patient, ae_id, actor)
        self._save(trial, patient)
        return {
            "ae_id": str(ae_id),
            "term": term.term,
            "grade": grade,
            "recommendation": recommendation.as_record(),
            "dlt": {"verdict": assessment.verdict, "criterion": assessment.criterion},
        }

    def change_ae_grade(
        self,
        patient_id: UUID,
        ae_id: UUID,
        grade: int | None,
        clinical_date: dt.date,
        actor: Actor,
        *,
        reason: str = "",
        measurement: dict[str, Any] | None = None,
        bcva: str | None = None,
        intolerable: bool = False,
    ) -> dict[str, Any] | None:
        """Record a new grade (0 = resolved) for an AE; returns the new recommendation, if any."""
        patient = self._get(Patient, patient_id)
        trial = self._get(Trial, patient.trial_id)
        ae = patient.adverse_event(ae_id)
        term = self.catalogue.lookup(ae.term)
        if bcva is None:
            # A measured value at or below the ULN (grade 0) resolves a lab AE.
            grade = graded(term, grade, measurement, recovery=True)
        change = patient.change_ae_grade(
            ae_id,
            grade or 0,
            clinical_date,
            actor,
            today=self._today(patient),
            protocol=trial.protocol,
            term=term,
            reason=reason,
            measurement=measurement,
            bcva=bcva,
            intolerable=intolerable,
        )
        if change.dlt is not None:
            apply_dlt_verdict(trial, patient, ae_id, actor)
        self._save(trial, patient)
        return _record(change.recommendation)

    def record_skin_assessment(
        self, patient_id: UUID, assessment: SkinAssessment, actor: Actor
    ) -> dict[str, Any]:
        """Record a visit's skin assessment (grade, location, % BSA); feeds the rash rules."""
        patient = self._get(Patient, patient_id)
        trial = self._get(Trial, patient.trial_id)
        result = patient.record_skin_assessment(
            assessment.clinical_date,
            actor,
            today=self._today(patient),
            location=assessment.location,
            bsa_percent=assessment.bsa_percent,
            symptoms=assessment.symptoms,
            ctcae_version=assessment.ctcae_version,
            ctcae_version_reason=assessment.ctcae_version_reason,
            life_threatening=assessment.life_threatening,
            new_ae_id=uuid4(),
            protocol=trial.protocol,
            term=self.catalogue.lookup("Rash acneiform"),
            attribution=assessment.attribution,
            intolerable=assessment.intolerable,
        )
        if result.dlt is not None and result.ae_id is not None:
            apply_dlt_verdict(trial, patient, result.ae_id, actor)
        self._save(trial, patient)
        return {"grade": result.grade, "recommendation": _record(result.recommendation)}

    def record_dose_action(
        self,
        patient_id: UUID,
        action: str,
        clinical_date: dt.date,
        actor: Actor,
        *,
        ae_id: UUID | None = None,
        reason: str = "",
        at: str | None = None,
    ) -> dict[str, Any]:
        """Hold, reduce, resume or discontinue; departing from the recommendation needs a reason."""
        patient = self._get(Patient, patient_id)
        protocol = self._get(Trial, patient.trial_id).protocol
        today = self._today(patient)
        if action == "hold":
            patient.hold_dose(clinical_date, actor, today=today, ae_id=ae_id, reason=reason)
        elif action == "reduce":
            patient.reduce_dose(
                clinical_date, actor, today=today, protocol=protocol, ae_id=ae_id, reason=reason
            )
        elif action == "resume":
            if at not in (None, "same", "reduced"):
                raise InvalidInput(f"resume at '{at}': use same or reduced", field="at")
            patient.resume_dose(
                clinical_date,
                actor,
                today=today,
                protocol=protocol,
                at=at,  # type: ignore[arg-type]
                reason=reason,
            )
        elif action == "discontinue":
            patient.discontinue(
                clinical_date, actor, today=today, protocol=protocol, ae_id=ae_id, reason=reason
            )
        else:
            raise InvalidInput(
                f"unknown dose action '{action}'; actions: hold, reduce, resume, discontinue",
                field="action",
            )
        self._save(patient)
        return patient_summary(patient)

    def review_hold(
        self, patient_id: UUID, as_of: dt.date, actor: Actor = SYSTEM
    ) -> dict[str, Any] | None:
        """Recommend discontinuation for each hold whose deadline passed without recovery;
        returns the first such recommendation (None when nothing is late)."""
        patient = self._get(Patient, patient_id)
        protocol = self._get(Trial, patient.trial_id).protocol
        recommendations = patient.review_hold(as_of, protocol, actor=actor)
        if recommendations:
            self._save(patient)
        return recommendations[0].as_record() if recommendations else None

    def correct_adverse_event(
        self,
        patient_id: UUID,
        ae_id: UUID,
        actor: Actor,
        *,
        reason: str,
        grade: int | None = None,
        onset: dt.date | None = None,
        attribution: str | None = None,
        serious: bool | None = None,
    ) -> dict[str, Any]:
        """Correct a recorded AE; recommendation, DLT outcome and cohort follow the new facts."""
        patient = self._get(Patient, patient_id)
        trial = self._get(Trial, patient.trial_id)
        ae = patient.adverse_event(ae_id)
        correction = patient.correct_adverse_event(
            ae_id,
            actor,
            today=self._today(patient),
            protocol=trial.protocol,
            term=self.catalogue.lookup(ae.term),
            reason=reason,
            grade=grade,
            onset=onset,
            attribution=attribution,
            serious=serious,
        )
        apply_outcome_change(trial, patient, correction.outcome, actor, reason.strip())
        self._save(trial, patient)
        return {
            "recommendation": _record(correction.recommendation),
            "patient": patient_summary(patient),
        }

    def mark_in_error(
        self, patient_id: UUID, fact: str, ref: str, actor: Actor, *, reason: str
    ) -> dict[str, Any]:
        """Mark a recorded AE, dose or missed dose entered in error; derived state follows."""
        patient = self._get(Patient, patient_id)
        trial = self._get(Trial, patient.trial_id)
        correction = patient.mark_in_error(fact, ref, actor, reason=reason, protocol=trial.protocol)
        apply_outcome_change(trial, patient, correction.outcome, actor, reason.strip())
        self._save(trial, patient)
        return {
            "recommendation": _record(correction.recommendation),
            "patient": patient_summary(patient),
        }

    def correct_dose_date(
        self, patient_id: UUID, old: dt.date, new: dt.date, actor: Actor, *, reason: str
    ) -> dict[str, Any]:
        """Correct the date of a recorded dose."""
        patient = self._get(Patient, patient_id)
        patient.correct_dose_date(old, new, actor, today=self._today(patient), reason=reason)
        self._save(patient)
        return patient_summary(patient)

    def adjudicate_dlt(
        self,
        trial_id: UUID,
        patient_id: UUID,
        ae_id: UUID,
        confirmed: bool,
        signer: Actor,
        *,
        reason: str,
    ) -> None:
        """An SRC member confirms or rejects a DLT candidate; trial and patient change together."""
        trial = self._get(Trial, trial_id)
        patient = self._get(Patient, patient_id)
        if patient.trial_id != trial_id:
            raise NotFound(
                f"no patient {patient_id} in trial {trial_id}",
                kind="patient",
                ident=str(patient_id),
            )
        if confirmed:
            description = patient.confirm_dlt_candidate(ae_id, signer)
            onset = patient.adverse_events[ae_id].onset
            trial.adjudicate_dlt_candidate(
                patient_id,
                ae_id,
                True,
                signer,
                reason=reason,
                clinical_date=onset,
                description=description,
            )
        else:
            trial.adjudicate_dlt_candidate(patient_id, ae_id, False, signer, reason=reason)
            patient.reject_dlt_candidate(ae_id, reason, signer)
        self._save(trial, patient)

    # ----------------------------------------------------------------- queries

    def patient(self, patient_id: UUID, *, version: int | None = None) -> dict[str, Any]:
        """A patient's current (or past, by version) state as plain data."""
        return patient_summary(self._get(Patient, patient_id, version=version))

    def trial(self, trial_id: UUID, *, version: int | None = None) -> dict[str, Any]:
        """A trial's current (or past, by version) state as plain data."""
        return trial_summary(self._get(Trial, trial_id, version=version))

    def replay(self, trial_id: UUID, as_of: dt.datetime | None = None) -> dict[str, Any]:
        """The trial and its patients as recorded at ``as_of`` (UTC), rebuilt from events."""
        trial = self._as_of(Trial, trial_id, as_of)
        if trial is None:
            raise NotFound(
                f"trial {trial_id} was not yet registered at {as_of}",
                kind="trial",
                ident=str(trial_id),
            )
        patients = []
        for patient_id in trial.patient_cohort:
            patient = self._as_of(Patient, patient_id, as_of)
            if patient is not None:
                patients.append(patient_summary(patient))
        return {
            "as_of": None if as_of is None else as_of.isoformat(),
            "trial": trial_summary(trial),
            "patients": patients,
        }

    def _as_of(self, cls: type[A], ident: UUID, as_of: dt.datetime | None) -> A | None:
        """Replay an aggregate's events recorded at or before ``as_of``."""
        if as_of is None:
            return self._get(cls, ident)
        aggregate = None
        for domain_event in self.events.get(ident):
            if domain_event.timestamp > as_of:
                break
            aggregate = domain_event.mutate(aggregate)  # type: ignore[attr-defined]
        if aggregate is None and not self.recorder.select_events(ident, limit=1):
            raise NotFound(
                f"no {cls.__name__.lower()} {ident}", kind=cls.__name__.lower(), ident=str(ident)
            )
        if aggregate is not None and not isinstance(aggregate, cls):
            raise NotFound(
                f"no {cls.__name__.lower()} {ident}", kind=cls.__name__.lower(), ident=str(ident)
            )
        return aggregate

    def audit_rows(
        self, trial_id: UUID, *, as_of: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        """The trial's audit trail, one row per event of the trial and its patients, in order."""
        trial = self._get(Trial, trial_id)
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
        trial = self._get(Trial, trial_id)
        study = trial.protocol.id.upper()
        subjects = []
        for patient_id in trial.patient_cohort:
            patient = self._get(Patient, patient_id)
            subjects.append(
                sdtm.SubjectHistory(patient.subject_id, list(self.events.get(patient_id)))
            )
        if domain == "AE":
            socs = {t.term: t.soc for t in self.catalogue}
            return sdtm.to_csv(sdtm.ae_rows(study, subjects, socs), sdtm.AE_VARIABLES)
        routes = {a.name: a.route for a in trial.protocol.agents}
        return sdtm.to_csv(sdtm.ex_rows(study, subjects, routes), sdtm.EX_VARIABLES)

    def trial_aggregate(self, trial_id: UUID, *, version: int | None = None) -> Trial:
        """The Trial aggregate itself, for read-only use by projections and reports."""
        return self._get(Trial, trial_id, version=version)

    def patient_aggregate(self, patient_id: UUID, *, version: int | None = None) -> Patient:
        """The Patient aggregate itself, for read-only use by projections and reports."""
        return self._get(Patient, patient_id, version=version)

    def trial_ids(self) -> Iterator[UUID]:
        """Ids of every trial in the store, in registration order."""
        topics = [Trial.Registered.TOPIC]
        start: int | None = None
        while True:
            page = self.recorder.select_notifications(
                start, PAGE, topics=topics, inclusive_of_start=start is None
            )
            yield from (n.originator_id for n in page)
            if len(page) < PAGE:
                return
            start = page[-1].id

    def trials(self) -> list[dict[str, Any]]:
        """Every trial: id, protocol, status, current level, MTD."""
        return [self._trial_row(trial_id) for trial_id in self.trial_ids()]

    def trial_page(self, after: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        """Up to ``limit`` trials registered after store position ``after``, in registration
        order, and the position to pass as ``after`` for the next page (None: no more)."""
        page = self.recorder.select_notifications(
            after, limit + 1, topics=[Trial.Registered.TOPIC], inclusive_of_start=False
        )
        rows = [self._trial_row(n.originator_id) for n in page[:limit]]
        return rows, page[limit - 1].id if len(page) > limit else None

    def _trial_row(self, trial_id: UUID) -> dict[str, Any]:
        trial = self._get(Trial, trial_id)
        return {
            "id": str(trial.id),
            "name": trial.name,
            "protocol": trial.protocol.id,
            "status": trial.status,
            "current_level": trial.current_level,
            "mtd": trial.mtd,
        }

    # ----------------------------------------------------------------- plumbing

    @staticmethod
    @contextmanager
    def unit_of_work() -> Iterator[None]:
        """Within it, each aggregate is loaded once: a later load gets the same object, with
        what the commands did to it (HTTP routes check, change and answer from one load)."""
        token = _loaded.set({})
        try:
            yield
        finally:
            _loaded.reset(token)

    @staticmethod
    def expect_version(aggregate_id: UUID, version: int) -> None:
        """Refuse (VersionMismatch) to change the aggregate unless it is still at ``version``."""
        expected = dict(_expected_versions.get() or {})
        expected[aggregate_id] = version
        _expected_versions.set(expected)

    def _get(self, cls: type[A], ident: UUID, *, version: int | None = None) -> A:
        kind = cls.__name__.lower()
        loaded = _loaded.get() if version is None else None
        aggregate = None if loaded is None else loaded.get(ident)
        if aggregate is None:
            try:
                aggregate = self.repository.get(ident, version=version, projector_func=_replay)
            except AggregateNotFoundError:
                raise NotFound(f"no {kind} {ident}", kind=kind, ident=str(ident)) from None
            if loaded is not None:
                loaded[ident] = aggregate
        if not isinstance(aggregate, cls):
            raise NotFound(f"no {kind} {ident}", kind=kind, ident=str(ident))
        expectations = _expected_versions.get() or {}
        if version is None and ident in expectations:
            # Checked once, by the command's own load; later reads in the request are free.
            _expected_versions.set({k: v for k, v in expectations.items() if k != ident})
            if aggregate.version != expectations[ident]:
                raise VersionMismatch(
                    f"{kind} {ident} changed: it is at version {aggregate.version}, "
                    f"not {expectations[ident]}",
                    current=aggregate.version,
                )
        return aggregate

    def _save(self, *aggregates: Aggregate) -> None:
        events = [type(e).__name__ for a in aggregates for e in a.pending_events]
        with translate_conflicts():
            recordings = self.save(*aggregates)
        with self._appended_lock:
            self.events_appended += len(recordings)
        log.info(
            "events recorded",
            events=events,
            aggregate_ids=[str(a.id) for a in aggregates],
            position=recordings[-1].notification.id if recordings else None,
        )


class Commits(list[int]):
    """Events saved per commit in a context (one entry per commit), and the Idempotency-Key
    claim each commit checks and marks in its transaction (``adapters.persistence.claim_fence``)."""

    def __init__(self, fence: ClaimFence | None) -> None:
        super().__init__()
        self.fence = fence


def watch_commits(fence: ClaimFence | None = None) -> Commits:
    """Count what the current context saves from now on: one entry (events saved) per commit.

    The Idempotency-Key middleware starts it per request, with its claim: a request that
    committed anything keeps its key's claim whatever its response (a retry must not record
    it twice), and each commit marks the claim in its own transaction.
    """
    committed = Commits(fence)
    _commits.set(committed)
    return committed


def _record(recommendation: DoseRecommendation | None) -> dict[str, Any] | None:
    """A recommendation as the API and the CLI show it (every field, as stored)."""
    return None if recommendation is None else recommendation.as_record()


def _replay(aggregate: Any, domain_events: Iterable[Any]) -> Any:
    """Apply stored events in order (the library's projector, without its per-event
    runtime protocol check, which costs more than the mutation itself on Python 3.11)."""
    for domain_event in domain_events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


@contextmanager
def translate_conflicts() -> Iterator[None]:
    """Turn the library's IntegrityError (a lost race) into the domain's ConcurrencyConflict."""
    try:
        yield
    except IntegrityError as exc:
        raise ConcurrencyConflict(
            "another change was recorded first; reload and try again"
        ) from exc
