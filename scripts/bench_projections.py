"""Benchmark the read models over a big store: a full rebuild against bare read + decode.

1. Builds (or, with ``--keep``, reuses) a store of ``--events`` events (1,000,000 by default):
   about 80 trials and 900 patients are recorded through ``DoseLedger`` (16 trials under way at
   a time, so their events interleave: enrolments, baseline exams, dosing, doses, adverse events
   and grade changes, recommendations, holds, resumptions, reductions, discontinuations, skin
   assessments, DLT candidates and their adjudication, DLT-window outcomes, SRC decisions; about
   70,000 events at some 1,000 events/s), then their stored events are cloned under fresh ids
   (every id in every payload remapped, recording times shifted) and written through the
   application's recorder in large batches (so the audit chain stays consistent) until the store
   holds the requested number; last, the patients whose load times are measured.
2. Times ``ReadModels.rebuild()`` (every read model, from zero) against reading and decoding
   the same notifications with the bare library (``recorder.select_notifications`` pages and
   ``mapper.to_domain_event``), each in a fresh process, at two history sizes, and prints both
   rates, their ratio and the peak RSS of the rebuild's processes.
3. Times loading one patient with 10 and with 10,000 events in a fresh DoseLedger without the
   aggregate cache, with snapshots (the default) and without.

Figures are printed as ratios against baselines measured in the same run; progress goes to
stderr when it is a terminal; the last line of stdout is JSON. Nothing is asserted about
timings: the verdicts are printed, never raised.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import random
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from tqdm import tqdm

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger, build_read_models
from adapters.logging import configure_logging
from adapters.persistence.environment import persistence_env
from bench_common import (
    DEFAULT_POSTGRES_URL,
    conninfo,
    each_backend,
    ratio,
    store,
)
from domain.actors import Actor
from domain.ae_report import AdverseEventReport, SkinAssessment
from domain.errors import CommandRefused, InvalidInput
from domain.protocol import TEMPLATE_IDS, Protocol, template

DEFAULT_EVENTS = 1_000_000
DEFAULT_SMALL = 200_000
# Events recorded through DoseLedger before cloning: no trial starts after this many (those
# under way are completed: about 70,000 events, 900 patients in 80 trials).
TEMPLATE_EVENTS = 60_000
MIN_EVENTS = 40_000
ACTIVE_TRIALS = 16  # trials recorded side by side: their events interleave in the log
LONG_PATIENT = 10_000
SHORT_PATIENT = 10
# The load-test patients' trial: registration, 3 enrolments, 2 completed DLT windows.
LOAD_EVENTS = 1 + 3 + SHORT_PATIENT + 2 * LONG_PATIENT + 2
TARGET_RATIO = 0.5
MEMORY_LIMIT_MB = 500
LOAD_TARGET = 2.0
META_TABLE = "bench_meta"
STORE_FORMAT = 4  # bumped when the way the store is built changes (older kept stores: refused)
# (2: snapshots of class_version 2; 3: enrolment dates, a data cut-off, load-test patients dosed
# once a day instead of twice; 4: snapshots of the one layout, adapters.persistence.snapshots: a
# store of an earlier format holds snapshots that loads set aside, so they would time replays)

SITES = ("S01", "S02", "S03", "S04", "S05")
CLIENT = "site-edc"
REGISTRAR = Actor(user_id="sponsor-dm", role="admin", name="Sponsor data manager", client=CLIENT)
SRC_CHAIR = Actor(
    user_id="src-chair", role="src_member", name="Dr R. Iyer (SRC chair)", client=CLIENT
)
INVESTIGATORS = {
    site: Actor(
        user_id=f"inv-{site.lower()}",
        role="investigator",
        name=f"Investigator {site}",
        client=CLIENT,
    )
    for site in SITES
}
START = dt.date(2024, 1, 8)
# The data cut-off: the site's today while the stories are recorded (sites use the protocols'
# default zone, UTC). Every enrolment is on or after START, so within the 730 days an
# enrolment date may lie before the site's today; follow-up visits end on this day.
CUT_OFF = START + dt.timedelta(days=729)
ATTRIBUTIONS = ("unrelated", "unlikely", "possible", "possible", "probable", "definite")
# Graded AEs: term, weight, grade weights (1, 2, 3, 4).
GRADED_TERMS: list[tuple[str, int, tuple[int, ...]]] = [
    ("Fatigue", 20, (60, 32, 8)),
    ("Nausea", 14, (62, 30, 8)),
    ("Diarrhea", 12, (60, 32, 7, 1)),
    ("Vomiting", 6, (65, 30, 5, 0)),
    ("Anorexia", 5, (70, 26, 4, 0)),
    ("Dysgeusia", 4, (80, 20)),
    ("Edema limbs", 4, (70, 27, 3)),
    ("Dry skin", 4, (75, 23, 2)),
    ("Pruritus", 4, (70, 27, 3)),
    ("Mucositis oral", 3, (65, 30, 5, 0)),
    ("Anemia", 4, (55, 35, 9, 1)),
    ("Neutrophil count decreased", 3, (40, 35, 18, 7)),
    ("Platelet count decreased", 2, (60, 28, 10, 2)),
    ("Hypertension", 3, (40, 45, 15, 0)),
]
MEASURED_WEIGHT = 8  # CPK and ALT with a lab value (graded from × ULN)
VISION_WEIGHT = 2  # blurred vision graded from BCVA against the baseline
NOT_EVALUABLE_REASONS = (
    "withdrew consent before completing the DLT window",
    "disease progression before completing the DLT window",
    "took under 75% of planned doses (hold)",
)


MEMORY_NOTE = (
    "main: VmHWM, this process's own peak; worker: ru_maxrss of the waited-for child, an upper "
    "bound that starts at the main process's RSS when it spawned the worker. Bounded by "
    "design: one batch of events and rows, LRU caches of fixed capacity (patients, AE terms, "
    "trials) that fill as the history grows, and SQLite's fixed page cache"
)


class SiteToday:
    """The ledger's clock: noon (UTC) of ``day``, the site's today, which a story may move."""

    def __init__(self, day: dt.date) -> None:
        self.day = day

    def __call__(self) -> dt.datetime:
        return dt.datetime.combine(self.day, dt.time(12), tzinfo=dt.UTC)


def bar(total: int | None, desc: str, unit: str = "event") -> tqdm[Any]:
    """A progress bar on stderr, silent when stderr is not a terminal."""
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=True,
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        leave=False,
        smoothing=0.1,
    )


# ----------------------------------------------------------------- stories (through DoseLedger)


@dataclass
class PatientRun:
    """A patient being followed in a story, and what the story knows of its state."""

    id: UUID
    site: str
    first_dose: dt.date
    window_last: dt.date
    outcome: str | None = None  # the DLT-window outcome once recorded
    held: bool = False
    hold_ae: UUID | None = None
    held_days: int = 0
    candidate: UUID | None = None
    stopped: bool = False  # every agent discontinued, or left the study
    open_aes: dict[UUID, tuple[str, int]] = field(default_factory=dict)
    vision_ae: UUID | None = None
    day: dt.date | None = None  # the last visit


class Stories:
    """Realistic trials recorded through DoseLedger, several at a time (interleaved)."""

    def __init__(self, ledger: DoseLedger, rng: random.Random) -> None:
        self.ledger = ledger
        self.rng = rng
        self.refused: dict[str, int] = {}
        self.trials = 0
        self.patients = 0
        terms = [(t, w, g) for t, w, g in GRADED_TERMS]
        self._terms = [t for t, _, _ in terms]
        self._weights = [w for _, w, _ in terms]
        self._grades = {t: g for t, _, g in terms}

    # ------------------------------------------------------------- plumbing

    def actor(self, base: Actor) -> Actor:
        """The actor of one request: its own request id, as the HTTP API records it."""
        return dataclasses.replace(base, request_id=uuid.UUID(int=self.rng.getrandbits(128)).hex)

    def attempt(self, command: Callable[[], Any]) -> Any:
        """Run a command: its result (True for none), or None when refused (counted, not raised)."""
        try:
            result = command()
        except (CommandRefused, InvalidInput) as exc:
            rule = getattr(exc, "rule", None) or type(exc).__name__
            self.refused[rule] = self.refused.get(rule, 0) + 1
            return None
        return True if result is None else result

    # ------------------------------------------------------------- one trial

    def trial(self, number: int) -> Iterator[None]:
        """One trial: 3+3 cohorts until an MTD or a stop (yields per command)."""
        rng, ledger = self.rng, self.ledger
        protocol = template(rng.choice(TEMPLATE_IDS))
        trial_id = ledger.register_trial(
            protocol, self.actor(REGISTRAR), name=f"Trial {number:05d}"
        )
        self.trials += 1
        yield
        courses: list[Iterator[None]] = []
        day = START + dt.timedelta(days=rng.randrange(0, 60))
        for _cohort in range(8):
            members: list[PatientRun] = []
            while True:
                active = [p for p in members if p.outcome != "not_evaluable"]
                if len(active) < protocol.design.cohort_size:
                    day += dt.timedelta(days=rng.choice((1, 2, 3, 5)))
                    patient = yield from self.enrol(trial_id, protocol, day)
                    if patient is None:
                        break
                    members.append(patient)
                    courses.append(self.course(trial_id, protocol, patient))
                    continue
                if all(p.outcome is not None and p.candidate is None for p in members):
                    break
                if not courses:
                    break
                yield from self.advance(courses)
            recommendation = ledger.trial(trial_id)["recommendation"]
            if recommendation is None:
                break
            action = recommendation["action"]
            cohort = ledger.trial_aggregate(trial_id).open_cohort.number
            done = self.attempt(
                lambda a=action, c=cohort, r=recommendation: ledger.sign_decision(
                    trial_id,
                    c,
                    a,
                    self.actor(SRC_CHAIR),
                    meaning="approval",
                    mtd_level=r["mtd"] if a == "declare_mtd" else None,
                )
            )
            yield
            if done is None and ledger.trial(trial_id)["status"] == "escalating":
                break
            if action in ("declare_mtd", "stop_no_mtd"):
                break
        while courses:  # follow-up of the patients still on treatment
            yield from self.advance(courses)

    def advance(self, courses: list[Iterator[None]]) -> Iterator[None]:
        """One step of one of the trial's patients (chosen at random)."""
        index = self.rng.randrange(len(courses))
        try:
            next(courses[index])
        except StopIteration:
            courses.pop(index)
        yield

    def enrol(self, trial_id: UUID, protocol: Protocol, day: dt.date) -> Iterator[Any]:
        """Enrolment, baseline eye and skin exams, first dose (4 commands)."""
        ledger, rng = self.ledger, self.rng
        site = rng.choice(SITES)
        inv = INVESTIGATORS[site]
        pid = self.attempt(
            lambda: ledger.enrol_patient(trial_id, site, self.actor(inv), enrolment_date=day)
        )
        yield
        if pid is None:
            return None
        self.patients += 1
        ledger.record_baseline_eye_exam(
            pid, day, "20/20", "20/25", self.actor(inv), slit_lamp_findings="no abnormality"
        )
        yield
        ledger.record_baseline_skin_exam(
            pid, day, "no pre-existing dermatologic conditions", self.actor(inv)
        )
        yield
        first = day + dt.timedelta(days=rng.choice((1, 2, 3)))
        ledger.start_dosing(pid, first, self.actor(inv))
        yield
        last = first + dt.timedelta(days=protocol.dlt_window_days - 1)
        return PatientRun(pid, site, first, last)

    # ------------------------------------------------------------- one patient

    def course(self, trial_id: UUID, protocol: Protocol, p: PatientRun) -> Iterator[None]:
        """A patient's visits: doses, AEs and their follow-up, the DLT window, then follow-up."""
        yield from self.visits(trial_id, protocol, p)
        # Treatment over (discontinued, or the story's follow-up ended): nothing left open.
        if p.candidate is not None:
            yield from self.adjudicate(trial_id, p)
        if p.outcome is None:
            yield from self.close_window(
                p,
                p.day or p.first_dose,
                "not_evaluable",
                "treatment discontinued before completing the DLT window",
            )

    def visits(self, trial_id: UUID, protocol: Protocol, p: PatientRun) -> Iterator[None]:
        """Visit after visit until the patient stops or the story's follow-up ends."""
        rng = self.rng
        day = p.first_dose
        follow_up = int(rng.expovariate(1 / 45))  # visits after the DLT window
        withdraw_on = rng.random() < 0.05
        while not p.stopped:
            day += dt.timedelta(
                days=rng.choice((1, 1, 2, 2, 3))
                if p.outcome is None
                else rng.choice((1, 2, 3, 4, 7))
            )
            if day > CUT_OFF:  # the data cut-off: no visit recorded yet
                return
            p.day = day
            if p.candidate is not None:
                yield from self.adjudicate(trial_id, p)
                continue
            if p.outcome is None and withdraw_on and day > p.first_dose + dt.timedelta(days=8):
                yield from self.close_window(p, day, "not_evaluable", NOT_EVALUABLE_REASONS[0])
                return
            if p.outcome is None and day > p.window_last:
                if p.held_days > 7:
                    outcome, reason = "not_evaluable", NOT_EVALUABLE_REASONS[2]
                elif rng.random() < 0.02:
                    outcome, reason = "not_evaluable", NOT_EVALUABLE_REASONS[1]
                else:
                    outcome, reason = "no_dlt", ""
                yield from self.close_window(p, p.window_last, outcome, reason)
                if p.outcome == "not_evaluable":
                    return
                continue
            if p.outcome is not None:
                follow_up -= 1
                if follow_up < 0:
                    return
            roll = rng.random()
            if p.open_aes and roll < 0.22:
                yield from self.grade_change(protocol, p, day)
            elif roll < 0.30:
                yield from self.adverse_event(protocol, p, day)
            elif roll < 0.32 and protocol.id == "defactinib-avutometinib":
                yield from self.skin_assessment(p, day)
            if p.held:
                p.held_days += 1
                if p.hold_ae is None or p.hold_ae not in p.open_aes:
                    yield from self.resume(
                        p, day, reason="" if p.hold_ae else "investigator review"
                    )
                continue
            if not p.stopped:
                self.attempt(
                    lambda d=day: self.ledger.administer_dose(
                        p.id, d, self.actor(INVESTIGATORS[p.site])
                    )
                )
                yield

    def pick_term(self) -> str:
        """A term for a new AE, by how often each is seen in these regimens."""
        weights = [*self._weights, MEASURED_WEIGHT, VISION_WEIGHT]
        return self.rng.choices([*self._terms, "measured", "vision"], weights)[0]

    def adverse_event(self, protocol: Protocol, p: PatientRun, day: dt.date) -> Iterator[None]:
        """A new AE (graded, from a lab value, or from BCVA) and what its recommendation asks."""
        rng = self.rng
        term = self.pick_term()
        open_terms = {t for t, _ in p.open_aes.values()}
        attribution = rng.choice(ATTRIBUTIONS)
        if term == "measured":
            term, uln = rng.choice(
                (("CPK increased", 200), ("Alanine aminotransferase increased", 40))
            )
            factor = rng.choice((1.5, 1.8, 2.2, 3.5, 4.0, 6.0, 12.0))
            report = AdverseEventReport(
                term=term,
                onset=day,
                attribution=attribution,
                measurement={"value": round(uln * factor), "uln": uln},
            )
        elif term == "vision":
            if p.vision_ae is not None:
                return
            term = "Blurred vision"
            report = AdverseEventReport(
                term=term,
                onset=day,
                attribution=attribution,
                eye="left",
                bcva=rng.choice(("20/40", "20/50", "20/100")),
            )
        else:
            grades = self._grades[term]
            grade = rng.choices(range(1, len(grades) + 1), grades)[0]
            report = AdverseEventReport(
                term=term,
                onset=day,
                attribution=attribution,
                grade=grade,
                serious=grade >= 3 and rng.random() < 0.5,
                duration_days=rng.choice((None, 3, 9)) if grade == 4 else None,
            )
        if term in open_terms:
            return
        inv = INVESTIGATORS[p.site]
        result = self.attempt(
            lambda: self.ledger.record_adverse_event(p.id, report, self.actor(inv))
        )
        yield
        if result is None:
            return
        ae_id = UUID(result["ae_id"])
        p.open_aes[ae_id] = (result["term"], result["grade"])
        if term == "Blurred vision":
            p.vision_ae = ae_id
        verdict = result["dlt"]["verdict"]
        if verdict == "dlt" and p.outcome is None:
            p.outcome = "dlt"
        elif verdict == "candidate":
            p.candidate = ae_id
        yield from self.act_on(p, day, result["recommendation"], ae_id)

    def act_on(
        self, p: PatientRun, day: dt.date, rec: dict[str, Any] | None, ae_id: UUID | None
    ) -> Iterator[None]:
        """Follow a recommendation: withhold, reduce, discontinue, resume (or continue)."""
        if not isinstance(rec, dict):  # none (or a refused command)
            return
        ledger, inv = self.ledger, INVESTIGATORS[p.site]
        action = rec["action"]
        if action == "withhold" and not p.held:
            done = self.attempt(
                lambda: ledger.record_dose_action(p.id, "hold", day, self.actor(inv), ae_id=ae_id)
            )
            if done is not None:
                p.held, p.hold_ae = True, ae_id
            yield
        elif action == "reduce":
            done = self.attempt(
                lambda: ledger.record_dose_action(p.id, "reduce", day, self.actor(inv), ae_id=ae_id)
            )
            yield
            if done is None:
                yield from self.discontinue(p, day, ae_id, reason="no reduction left")
        elif action == "discontinue":
            yield from self.discontinue(p, day, ae_id, reason="")
        elif action == "resume" and p.held:
            yield from self.resume(p, day, reason="")

    def discontinue(
        self, p: PatientRun, day: dt.date, ae_id: UUID | None, reason: str
    ) -> Iterator[None]:
        """Discontinue (all agents, or the investigational one only, as the protocol says)."""
        state = self.attempt(
            lambda: self.ledger.record_dose_action(
                p.id,
                "discontinue",
                day,
                self.actor(INVESTIGATORS[p.site]),
                ae_id=ae_id,
                reason=reason,
            )
        )
        yield
        if state is not None and state["dosing"] == "discontinued":
            p.stopped = True
        if state is not None and state["dosing"] != "withheld":
            p.held, p.hold_ae = False, None
        # Withheld still: the investigational agent alone was discontinued, and the hold goes
        # on for the others until it is resumed (a dose inside it would be refused).

    def resume(self, p: PatientRun, day: dt.date, reason: str) -> Iterator[None]:
        """Resume a withheld dose (at the dose the hold's rule says)."""
        inv = INVESTIGATORS[p.site]
        state = self.attempt(
            lambda: self.ledger.record_dose_action(
                p.id, "resume", day, self.actor(inv), reason=reason
            )
        )
        yield
        if state is None and not reason:  # the condition is not met (or too late): say why
            state = self.attempt(
                lambda: self.ledger.record_dose_action(
                    p.id, "resume", day, self.actor(inv), reason="investigator's review"
                )
            )
            yield
        if state is not None:
            p.held, p.hold_ae = False, None

    def grade_change(self, protocol: Protocol, p: PatientRun, day: dt.date) -> Iterator[None]:
        """An open AE gets better (most often), resolves, or gets worse."""
        rng = self.rng
        ae_id = rng.choice(list(p.open_aes))
        term, grade = p.open_aes[ae_id]
        inv = INVESTIGATORS[p.site]
        if ae_id == p.vision_ae:
            bcva = rng.choice(("20/25", "20/30"))
            rec = self.attempt(
                lambda: self.ledger.change_ae_grade(
                    p.id, ae_id, None, day, self.actor(inv), bcva=bcva
                )
            )
            new = 0 if bcva == "20/25" else 1
        else:
            roll = rng.random()
            new = 0 if roll < 0.45 else max(0, grade - 1) if roll < 0.85 else grade + 1
            if new == grade or (new > grade and new > 3):
                new = 0
            reason = "improved at the visit" if new < grade else "worse at the visit"
            rec = self.attempt(
                lambda: self.ledger.change_ae_grade(
                    p.id, ae_id, new, day, self.actor(inv), reason=reason
                )
            )
        yield
        if rec is not None and p.outcome is None and new > grade:
            # A worsening to a DLT grade in the window records a DLT (or a candidate).
            state = self.ledger.patient(p.id)
            if state["dlt_outcome"] is not None:
                p.outcome = state["dlt_outcome"]
            if state["dlt_candidates"] and p.candidate is None:
                p.candidate = UUID(state["dlt_candidates"][0])
        if new == 0:
            p.open_aes.pop(ae_id, None)
            if ae_id == p.vision_ae:
                p.vision_ae = None
        else:
            p.open_aes[ae_id] = (term, new)
        yield from self.act_on(p, day, rec, ae_id)

    def skin_assessment(self, p: PatientRun, day: dt.date) -> Iterator[None]:
        """A visit's rash assessment (feeds the rash rules; may open a rash AE)."""
        rng = self.rng
        bsa = rng.choice((0, 0, 5, 8, 12, 20, 35))
        symptoms = "none" if bsa == 0 else rng.choice(("mild", "moderate"))
        assessment = SkinAssessment(day, "face and chest" if bsa else "", bsa, symptoms)
        result = self.attempt(
            lambda: self.ledger.record_skin_assessment(
                p.id, assessment, self.actor(INVESTIGATORS[p.site])
            )
        )
        yield
        if result is None:
            return
        # The assessment may open or close a rash AE, and the DLT policy may act on it.
        state = self.ledger.patient(p.id)
        for ae_id in [a for a, (t, _) in p.open_aes.items() if t == "Rash acneiform"]:
            p.open_aes.pop(ae_id)
        for ae in state["adverse_events"]:
            if ae["term"] == "Rash acneiform" and ae["resolved_on"] is None:
                p.open_aes[UUID(ae["id"])] = ("Rash acneiform", ae["grade"])
        if p.outcome is None and state["dlt_outcome"] is not None:
            p.outcome = state["dlt_outcome"]
        if state["dlt_candidates"]:
            p.candidate = UUID(state["dlt_candidates"][0])
        rec = result["recommendation"]
        yield from self.act_on(p, day, rec, rec.get("ae_id") if rec else None)

    def adjudicate(self, trial_id: UUID, p: PatientRun) -> Iterator[None]:
        """The SRC confirms or rejects a DLT candidate."""
        ae_id = p.candidate
        assert ae_id is not None
        confirmed = self.rng.random() < 0.4
        reason = "not controlled within 72 h" if confirmed else "resolved within 48 h"
        self.attempt(
            lambda: self.ledger.adjudicate_dlt(
                trial_id, p.id, ae_id, confirmed, self.actor(SRC_CHAIR), reason=reason
            )
        )
        p.candidate = None
        if confirmed and p.outcome is None:
            p.outcome = "dlt"
        yield

    def close_window(
        self, p: PatientRun, day: dt.date, outcome: str, reason: str
    ) -> Iterator[None]:
        """Record the DLT-window outcome (not evaluable when completion is refused)."""
        inv = INVESTIGATORS[p.site]
        fraction = None  # the share of planned doses comes from the record
        done = self.attempt(
            lambda: self.ledger.record_dlt_window_outcome(
                p.id, outcome, day, self.actor(inv), reason=reason, doses_taken_fraction=fraction
            )
        )
        yield
        if done is None and outcome != "not_evaluable":
            done = self.attempt(
                lambda: self.ledger.record_dlt_window_outcome(
                    p.id, "not_evaluable", day, self.actor(inv), reason=NOT_EVALUABLE_REASONS[2]
                )
            )
            outcome = "not_evaluable"
            yield
        p.outcome = outcome if done is not None else "stuck"
        if p.outcome != "no_dlt" and p.outcome != "dlt":
            p.stopped = True


def record_stories(ledger: DoseLedger, rng: random.Random, target: int) -> Stories:
    """Record trials through DoseLedger, ACTIVE_TRIALS at a time, until ``target`` events."""
    stories = Stories(ledger, rng)
    active: list[Iterator[None]] = []
    started = 0
    with bar(target, "recording stories through DoseLedger") as progress:
        while True:
            while len(active) < ACTIVE_TRIALS and ledger.events_appended < target:
                started += 1
                active.append(stories.trial(started))
            if not active:
                break
            index = rng.randrange(len(active))
            try:
                next(active[index])
            except StopIteration:
                active.pop(index)
            progress.update(min(ledger.events_appended, target) - progress.n)
    return stories


def record_load_patients(ledger: DoseLedger, clock: SiteToday) -> dict[str, dict[str, Any]]:
    """The patients whose load times are measured, in one trial of their own.

    ``short``: 10 events (enrolment, two baseline exams, first dose, 6 doses). ``long``: 10,000
    events, mostly doses (one a day: a second on one day is refused) with a grade 1 fatigue
    recorded and resolved every 400 events (25 AEs and their recommendations stay in its
    state, hence in its snapshots). ``long_doses``: 10,000 events, doses only (the smallest
    state such a history can have). Some 10,000 dosing days take 27 years, ending by the
    cut-off: ``clock`` is moved to each day as it is recorded (the site records on the day),
    so that no date is in the future and the enrolment is on the site's today.
    """
    inv = INVESTIGATORS["S01"]
    trial_id = ledger.register_trial(
        template("defactinib-avutometinib"), REGISTRAR, name="Load-time patients"
    )
    patients = {}
    plans = (
        ("short", SHORT_PATIENT, False),
        ("long", LONG_PATIENT, True),
        ("long_doses", LONG_PATIENT, False),
    )
    with bar(LOAD_EVENTS, "recording the load-test patients") as progress:
        for name, size, with_aes in plans:
            enrolled = CUT_OFF - dt.timedelta(days=LONG_PATIENT + 1)
            clock.day = enrolled
            pid = ledger.enrol_patient(trial_id, "S01", inv, enrolment_date=enrolled)
            ledger.record_baseline_eye_exam(pid, enrolled, "20/20", "20/25", inv)
            ledger.record_baseline_skin_exam(pid, enrolled, "none", inv)
            first = clock.day = enrolled + dt.timedelta(days=1)
            ledger.start_dosing(pid, first, inv)
            version, n = 4, 0
            while version < size:
                n += 1
                day = clock.day = first + dt.timedelta(days=n)  # once a day
                if size == LONG_PATIENT and n == 60:
                    last = first + dt.timedelta(days=27)
                    # No claimed dose share: the record's (every planned dose) is used.
                    ledger.record_dlt_window_outcome(pid, "no_dlt", last, inv)
                elif with_aes and n % 400 == 200 and version < size - 20:
                    report = AdverseEventReport(
                        term="Fatigue", onset=day, attribution="possible", grade=1
                    )
                    ae = ledger.record_adverse_event(pid, report, inv)
                    ledger.change_ae_grade(pid, UUID(ae["ae_id"]), 0, day, inv)
                else:
                    ledger.administer_dose(pid, day, inv)
                new = ledger.patient_aggregate(pid).version
                progress.update(new - version)
                version = new
            patients[name] = {"id": str(pid), "events": version}
    return patients


# ----------------------------------------------------------------- cloning stored events

_IDS = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")
_STAMPS = re.compile(rb'"_type_":"datetime_iso","_data_":"([^"]+)"')


class Clone:
    """One copy of the recorded stories: every id (in any payload) mapped to a fresh one.

    Ids appear as ``uuid_hex`` values (trial_id, patient_id, ae_id, the request ids) and as text
    (``"... (AE 6f69fdd4-...)"`` in DLT descriptions); both forms of one id map to the same new
    id, so references between aggregates stay consistent. Recording times (every
    ``datetime_iso``) are shifted by a whole number of story spans, so they keep rising.
    """

    def __init__(self, rng: random.Random, shift: dt.timedelta) -> None:
        self.rng = rng
        self.shift = shift
        self.ids: dict[bytes, UUID] = {}

    def new_id(self, old_hex: bytes) -> UUID:
        """The copy's id for a recorded id."""
        new = self.ids.get(old_hex)
        if new is None:
            new = self.ids[old_hex] = uuid.UUID(int=self.rng.getrandbits(128), version=4)
        return new

    def _id(self, match: re.Match[bytes]) -> bytes:
        token = match.group(0)
        if len(token) == 36:
            return str(self.new_id(token.replace(b"-", b""))).encode()
        return self.new_id(token).hex.encode()

    def _stamp(self, match: re.Match[bytes]) -> bytes:
        stamp = dt.datetime.fromisoformat(match.group(1).decode()) + self.shift
        return b'"_type_":"datetime_iso","_data_":"' + stamp.isoformat().encode() + b'"'

    def event(self, stored: StoredEvent) -> StoredEvent:
        """The stored event, as the copy's."""
        state = _STAMPS.sub(self._stamp, _IDS.sub(self._id, stored.state))
        return StoredEvent(
            originator_id=self.new_id(UUID(str(stored.originator_id)).hex.encode()),
            originator_version=stored.originator_version,
            topic=stored.topic,
            state=state,
        )


def clone_stories(ledger: DoseLedger, template_head: int, wanted: int, seed: int) -> int:
    """Append copies of the first ``template_head`` notifications until ``wanted`` more events.

    Written through the application's recorder in batches, so that every copy is chained into
    the audit chain in its insert transaction like any event (the store passes ``audit
    verify``); the recorded stories' snapshots are copied too.
    """
    recorder = ledger.recorder
    template: list[StoredEvent] = []
    after = 0
    while after < template_head:
        page = recorder.select_notifications(
            after, 5000, stop=template_head, inclusive_of_start=False
        )
        if not page:
            break
        template.extend(page)
        after = page[-1].id
    snapshots: list[StoredEvent] = []
    if ledger.snapshots is not None:
        for oid in dict.fromkeys(n.originator_id for n in template):
            snapshots.extend(ledger.snapshots.recorder.select_events(oid))
    first = ledger.mapper.to_domain_event(template[0]).timestamp
    last = ledger.mapper.to_domain_event(template[-1]).timestamp
    span = (last - first) + dt.timedelta(seconds=1)
    rng = random.Random(seed + 1)
    written = 0
    copy = 0
    with bar(wanted, "cloning stored events (through the recorder)") as progress:
        while written < wanted:
            copy += 1
            clone = Clone(rng, span * copy)
            take = template[: wanted - written]
            versions: dict[UUID, int] = {}
            for lo in range(0, len(take), 5000):
                batch = [clone.event(n) for n in take[lo : lo + 5000]]
                recorder.insert_events(batch)
                for n in take[lo : lo + 5000]:
                    versions[n.originator_id] = n.originator_version
                progress.update(len(batch))
            copied = [
                clone.event(s)
                for s in snapshots
                if s.originator_version <= versions.get(s.originator_id, 0)
            ]
            if copied and ledger.snapshots is not None:
                ledger.snapshots.recorder.insert_events(copied)
            written += len(take)
    return copy


# ----------------------------------------------------------------- stores and their metadata


@contextmanager
def _meta_connection(url: str) -> Iterator[tuple[Any, str]]:
    """A connection to the store's database and the qualified name of the metadata table."""
    env = persistence_env(url)
    if "SQLITE_DBNAME" in env:
        connection = sqlite3.connect(env["SQLITE_DBNAME"])
        try:
            yield connection, META_TABLE
            connection.commit()
        finally:
            connection.close()
    else:
        schema = env.get("POSTGRES_SCHEMA") or "public"
        with psycopg.connect(**conninfo(url), autocommit=True) as connection:
            yield connection, f'"{schema}"."doseledger_{META_TABLE}"'


def read_meta(url: str) -> dict[str, Any] | None:
    """What the benchmark recorded about a store it built (None: not one of ours)."""
    with _meta_connection(url) as (connection, table):
        try:
            row = connection.execute(f"SELECT value FROM {table} WHERE key = 'store'").fetchone()
        except (sqlite3.Error, psycopg.Error):
            return None
    return None if row is None else dict(json.loads(row[0]))


def write_meta(url: str, meta: dict[str, Any]) -> None:
    """Record what the store holds (written last: a half-built store has none)."""
    with _meta_connection(url) as (connection, table):
        connection.execute(f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, value TEXT)")
        connection.execute(f"DELETE FROM {table} WHERE key = 'store'")
        placeholder = "?" if isinstance(connection, sqlite3.Connection) else "%s"
        connection.execute(
            f"INSERT INTO {table} VALUES ('store', {placeholder})", (json.dumps(meta),)
        )


def build_store(url: str, events: int, seed: int) -> dict[str, Any]:
    """Record stories, clone them up to ``events`` minus the load-test patients, record those."""
    started = time.perf_counter()
    clock = SiteToday(CUT_OFF)
    ledger = build_ledger(env=persistence_env(url), clock=clock)
    try:
        rng = random.Random(seed)
        load_events = LOAD_EVENTS
        target = min(TEMPLATE_EVENTS, events - load_events)
        t0 = time.perf_counter()
        stories = record_stories(ledger, rng, target)
        recorded = ledger.recorder.max_notification_id() or 0
        story_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        copies = clone_stories(ledger, recorded, max(0, events - load_events - recorded), seed)
        clone_seconds = time.perf_counter() - t0
        patients = record_load_patients(ledger, clock)
        total = _count_events(ledger)
    finally:
        ledger.close()
    meta = {
        "format": STORE_FORMAT,
        "events": total,
        "requested": events,
        "seed": seed,
        "recorded_events": recorded,
        "recorded_trials": stories.trials,
        "recorded_patients": stories.patients,
        "refused_commands": stories.refused,
        "recorded_events_per_second": round(recorded / story_seconds),
        "cloned_copies": copies,
        "cloned_events_per_second": round((total - recorded - load_events) / clone_seconds)
        if clone_seconds > 0
        else None,
        "load_patients": patients,
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    write_meta(url, meta)
    return meta


def _count_events(ledger: DoseLedger) -> int:
    count = 0
    after = 0
    while page := ledger.recorder.select_notifications(after, 10_000, inclusive_of_start=False):
        count += len(page)
        after = page[-1].id
    return count


def store_url(args: argparse.Namespace) -> AbstractContextManager[str]:
    """The store's URL: kept (``--keep``) or made for this run and removed afterwards."""
    return store(args.backend, "projections", args.postgres_url, keep=args.keep)


def ready_store(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """The store's metadata, building it first unless a kept store of that size exists."""
    meta = read_meta(url)
    if (
        meta is not None
        and meta.get("format") == STORE_FORMAT
        and (meta.get("requested") == args.events)
    ):
        print(f"reusing the store at {_redacted(url)}: {meta['events']} events")
        return meta
    if meta is not None or _has_events(url):
        raise SystemExit(
            f"bench_projections: {_redacted(url)} already holds another store; "
            "remove it or name another --keep"
        )
    print(f"building a store of {args.events} events at {_redacted(url)} ...", flush=True)
    # In a child process too: this one stays small, and Linux counts a child's peak RSS from
    # its parent's at spawn time (see _children_peak_rss_mb).
    return child(args, "build", url, events=args.events, seed=args.seed)


def _has_events(url: str) -> bool:
    env = persistence_env(url)
    if "SQLITE_DBNAME" in env:
        if not Path(env["SQLITE_DBNAME"]).exists():
            return False
        with sqlite3.connect(env["SQLITE_DBNAME"]) as connection:
            found = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'stored_events'"
            ).fetchone()
        return found is not None
    with _meta_connection(url) as (connection, _):
        schema = env.get("POSTGRES_SCHEMA") or "public"
        found = connection.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
            "AND table_name = 'doseledger_events'",
            (schema,),
        ).fetchone()
    return found is not None


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    return url.replace(f":{parts.password}@", ":***@") if parts.password else url


# ----------------------------------------------------------------- phases (fresh processes)


def _children_peak_rss_mb() -> float:
    """The largest peak RSS of the waited-for child processes (the rebuild's worker).

    An upper bound: Linux starts a child's count at its parent's peak when it is spawned (the
    phase process's, about 60 MB then), since ``exec`` inherits the old address space's peak.
    """
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)  # KiB


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, in MB.

    The peak of this process's own address space since it started: unlike ``ru_maxrss``,
    not raised to the parent's peak by the ``exec`` that started it.
    """
    with suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def phase_bare(url: str, until: int, page: int) -> dict[str, Any]:
    """Read and decode ``until`` notifications with the bare library (pages, then the mapper)."""
    ledger = build_ledger(env=persistence_env(url))
    recorder, to_domain_event = ledger.recorder, ledger.mapper.to_domain_event
    count = 0
    with bar(until, "bare read + decode") as progress:
        started = time.perf_counter()
        after = 0
        while True:
            notifications = recorder.select_notifications(
                after, page, stop=until, inclusive_of_start=False
            )
            for notification in notifications:
                to_domain_event(notification)
            count += len(notifications)
            if len(notifications) < page:
                break
            after = notifications[-1].id
            progress.update(len(notifications))
        seconds = time.perf_counter() - started
    ledger.close()
    return {"events": count, "seconds": seconds, "peak_rss_mb": _status_mb("VmHWM")}


def phase_rebuild(url: str, until: int, workers: int | None) -> dict[str, Any]:
    """``ReadModels.rebuild()`` of every read model up to ``until``, as the CLI runs it."""

    # As the CLI's rebuild does: the second process forked before anything is opened.
    projections = build_read_models(url, fork_second_process=workers != 1)
    rss_ready = _status_mb("VmRSS")
    with bar(until, "rebuild") as progress:

        def report(processed: int, position: int, last: int) -> None:
            progress.n = min(position, until)
            progress.refresh()

        started = time.perf_counter()
        result = projections.rebuild(report, until=until, workers=workers)
        seconds = time.perf_counter() - started
    projections.close()
    return {
        "events": result["events"],
        "seconds": seconds,
        "workers": result["workers"],
        "rows": result["rows"],
        "rss_before_mb": rss_ready,
        "peak_rss_mb": _status_mb("VmHWM"),
        "worker_peak_rss_mb": _children_peak_rss_mb() if result["workers"] > 1 else None,
    }


def phase_drop(url: str) -> dict[str, Any]:
    """Drop the read models, so that the timed rebuild starts from zero.

    rebuild() drops them too, but dropping a million rows is not what is measured; and it is
    done in a process of its own, since it fills that process's page cache (its peak RSS).
    """

    projections = build_read_models(url)
    with projections.store.transaction() as tx:
        for table in projections.tables:
            for statement in projections.store.drop_statements(table):
                tx.execute(statement)
    projections.close()
    return {}


def phase_load(url: str, patients: dict[str, dict[str, Any]], repeats: int) -> dict[str, Any]:
    """Cold loads: a fresh DoseLedger without the aggregate cache for every load."""
    base = persistence_env(url)
    # AGGREGATE_CACHE_MAXSIZE: the class sets 5000; "" (not "0", which the library takes as an
    # unbounded cache) turns the cache off. The constructor's env overrides both the class's
    # and the process environment. IS_SNAPSHOTTING_ENABLED=n: no snapshot store, so a load
    # replays every event (the class turns snapshots on through snapshotting_intervals).
    cold = {**base, "AGGREGATE_CACHE_MAXSIZE": ""}
    bare = {**cold, "IS_SNAPSHOTTING_ENABLED": "n"}
    long = patients["long"]
    loads: list[tuple[str, dict[str, str], str, int | None, int]] = [
        ("snapshots/short", cold, patients["short"]["id"], None, repeats),
        ("snapshots/long", cold, long["id"], None, repeats),
        ("snapshots/long_doses", cold, patients["long_doses"]["id"], None, repeats),
        # The worst tail: the latest snapshot 19 events back (version 9,980 + 19 events).
        ("snapshots/long_tail", cold, long["id"], long["events"] - 1, repeats),
        ("no_snapshots/short", bare, patients["short"]["id"], None, repeats),
        ("no_snapshots/long", bare, long["id"], None, max(3, repeats // 4)),
    ]
    # Round robin over the variants, so that a slow spell of the machine falls on all of them
    # rather than on whichever was being measured then.
    times: dict[str, list[float]] = {label: [] for label, *_ in loads}
    versions: dict[str, int] = {}
    for turn in range(max(count for *_, count in loads)):
        for label, env, pid, version, count in loads:
            if turn >= count:
                continue
            ledger = build_ledger(env=env)
            assert ledger.repository.cache is None
            assert (ledger.snapshots is None) == (env is bare)
            started = time.perf_counter()
            patient = ledger.patient_aggregate(UUID(pid), version=version)
            times[label].append(time.perf_counter() - started)
            versions[label] = patient.version
            ledger.close()
    return {
        label: {
            "events": versions[label],
            "median_ms": round(statistics.median(taken) * 1000, 3),
            "min_ms": round(min(taken) * 1000, 3),
            "loads": len(taken),
        }
        for label, taken in times.items()
    }


def run_phase(args: argparse.Namespace) -> None:
    """A child process: run one phase and print its figures as the last line of stdout."""
    if args.phase == "build":
        figures = build_store(args.url, args.events, args.seed)
    elif args.phase == "bare":
        figures = phase_bare(args.url, args.until, args.page)
    elif args.phase == "drop":
        figures = phase_drop(args.url)
    elif args.phase == "rebuild":
        figures = phase_rebuild(args.url, args.until, args.workers)
    else:
        figures = phase_load(args.url, json.loads(args.patients), args.repeats)
    print(json.dumps(figures))


def child(args: argparse.Namespace, phase: str, url: str, **options: Any) -> dict[str, Any]:
    """Run a phase in a fresh interpreter (its own peak RSS) and return its figures."""
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--phase",
        phase,
        "--url",
        url,
        "--log-level",
        args.log_level,
    ]
    for name, value in options.items():
        if value is not None:
            command += [f"--{name.replace('_', '-')}", str(value)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"phase {phase} failed (exit {done.returncode})")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# ----------------------------------------------------------------- the benchmark


def rate(figures: dict[str, Any]) -> float:
    """Events per second of one timed phase."""
    return float(figures["events"] / figures["seconds"]) if figures["seconds"] > 0 else 0.0


def measure_rebuild(args: argparse.Namespace, url: str, until: int) -> dict[str, Any]:
    """Bare read + decode and the rebuild, alternated ``--rounds`` times; the best of each."""
    bare_runs, rebuild_runs = [], []
    for _ in range(args.rounds):
        bare_runs.append(child(args, "bare", url, until=until, page=args.page))
        child(args, "drop", url)
        rebuild_runs.append(child(args, "rebuild", url, until=until, workers=args.workers))
    bare = max(bare_runs, key=rate)
    rebuild = max(rebuild_runs, key=rate)
    peak = max(r["peak_rss_mb"] for r in rebuild_runs)
    worker = max((r["worker_peak_rss_mb"] or 0 for r in rebuild_runs), default=0) or None
    rounds = [rate(r) / rate(b) for b, r in zip(bare_runs, rebuild_runs, strict=True)]
    return {
        "events": rebuild["events"],
        "bare_events_per_second": round(rate(bare)),
        "rebuild_events_per_second": round(rate(rebuild)),
        "ratio": ratio(rate(rebuild), rate(bare)),
        "ratio_per_round": [round(r, 3) for r in rounds],
        "bare_seconds": [round(r["seconds"], 2) for r in bare_runs],
        "rebuild_seconds": [round(r["seconds"], 2) for r in rebuild_runs],
        "workers": rebuild["workers"],
        "rebuild_peak_rss_mb": peak,
        "worker_peak_rss_mb": worker,
        "bare_peak_rss_mb": max(r["peak_rss_mb"] for r in bare_runs),
        "rss_before_rebuild_mb": rebuild["rss_before_mb"],
        "rows": rebuild["rows"],
    }


def print_rebuild(backend: str, label: str, f: dict[str, Any]) -> None:
    """One history size's rebuild figures."""
    verdict = "meets" if f["ratio"] >= TARGET_RATIO else "BELOW"
    peak = max(f["rebuild_peak_rss_mb"], f["worker_peak_rss_mb"] or 0)
    memory = "meets" if peak < MEMORY_LIMIT_MB else "ABOVE"
    worker = "" if f["worker_peak_rss_mb"] is None else f", worker <= {f['worker_peak_rss_mb']} MB"
    print(f"{backend} {label}: {f['events']} events")
    print(
        f"  bare read + decode   {f['bare_events_per_second']:>9} events/s  "
        f"(seconds: {f['bare_seconds']}; peak RSS {f['bare_peak_rss_mb']} MB)"
    )
    print(
        f"  rebuild (workers={f['workers']})  {f['rebuild_events_per_second']:>9} events/s  "
        f"(seconds: {f['rebuild_seconds']})"
    )
    print(
        f"  ratio rebuild / bare {f['ratio']:>9.3f}   (target >= {TARGET_RATIO}: {verdict}; "
        f"each round: {f['ratio_per_round']})"
    )
    print(
        f"  peak RSS of the rebuild: main {f['rebuild_peak_rss_mb']} MB{worker} "
        f"(after start-up {f['rss_before_rebuild_mb']} MB; limit {MEMORY_LIMIT_MB} MB: "
        f"{memory})",
        flush=True,
    )


def print_loads(backend: str, loads: dict[str, Any]) -> dict[str, Any]:
    """Patient load times, and the ratio the snapshot target is about."""
    print(f"{backend} cold patient load (a fresh DoseLedger per load, no aggregate cache):")
    notes = {
        "snapshots/short": "no snapshot yet: 10 events replayed",
        "snapshots/long": "doses + 25 AE episodes; snapshot at 10,000, no event after it",
        "snapshots/long_doses": "doses only; snapshot at 10,000",
        "snapshots/long_tail": "same patient at version 9,999: snapshot + 19 events",
        "no_snapshots/short": "10 events replayed",
        "no_snapshots/long": "10,000 events replayed",
    }
    short = loads["snapshots/short"]["median_ms"]
    for label, note in notes.items():
        f = loads[label]
        print(
            f"  {label:<22} {f['events']:>6} events {f['median_ms']:>9.3f} ms  "
            f"x{f['median_ms'] / short:<7.2f} ({note})"
        )
    ratio = loads["snapshots/long"]["median_ms"] / short
    worst = max(loads[k]["median_ms"] for k in notes if k.startswith("snapshots/long")) / short
    verdict = "meets" if ratio <= LOAD_TARGET else "ABOVE"
    print(
        f"  with snapshots, 10,000 / 10 events: {ratio:.2f} (target <= {LOAD_TARGET}: "
        f"{verdict}); worst of the 10,000-event loads: {worst:.2f}",
        flush=True,
    )
    return {"snapshots_ratio": round(ratio, 3), "snapshots_worst_ratio": round(worst, 3)}


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Build or reuse the store, then the rebuild at two sizes and the patient loads."""
    args.backend = backend
    with store_url(args) as url:
        meta = ready_store(url, args)
        print(f"store: {json.dumps(meta)}\n", flush=True)
        report: dict[str, Any] = {"store": meta, "rebuild": {}}
        sizes = [("full", meta["events"])]
        if 0 < args.small < meta["events"]:
            sizes.insert(0, ("small", args.small))
        for label, until in sizes:
            figures = measure_rebuild(args, url, until)
            report["rebuild"][label] = figures
            print_rebuild(backend, f"rebuild at {label} history", figures)
            print()
        if len(sizes) > 1:
            print(f"{backend} peak RSS of the rebuild against the history (main / worker, MB):")
            for label, until in sizes:
                f = report["rebuild"][label]
                print(
                    f"  {until:>9} events: {f['rebuild_peak_rss_mb']} / {f['worker_peak_rss_mb']}"
                )
            print(f"  ({MEMORY_NOTE})\n")
        loads = child(
            args, "load", url, patients=json.dumps(meta["load_patients"]), repeats=args.repeats
        )
        report["patient_load"] = {**loads, **print_loads(backend, loads)}
        print()
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Read-model rebuild against bare read + decode on a big store, peak memory "
        "at two history sizes, and cold patient load times with and without snapshots. Figures "
        "only: nothing is asserted about timings.",
    )
    parser.add_argument(
        "--events",
        type=int,
        default=DEFAULT_EVENTS,
        help=f"events in the store (default {DEFAULT_EVENTS})",
    )
    parser.add_argument(
        "--small",
        type=int,
        default=DEFAULT_SMALL,
        help="the smaller history the rebuild is also measured at, to show its "
        f"memory does not grow with the history (default {DEFAULT_SMALL}; 0: "
        "skip)",
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument(
        "--keep",
        metavar="PATH_OR_SCHEMA",
        help="SQLite: the store's file; PostgreSQL: its schema. Built there on "
        "the first run and kept; reused by later runs with the same --events",
    )
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help=f"server and database (default {DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="bare and rebuild runs per size, alternated; the best of each counts (default 2)",
    )
    parser.add_argument(
        "--page",
        type=int,
        default=1000,
        help="notifications per page of the bare baseline (default 1000, the runner's batch size)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="rebuild workers (default: the rebuild's own choice)",
    )
    parser.add_argument(
        "--repeats", type=int, default=20, help="cold loads per patient and variant (default 20)"
    )
    parser.add_argument("--seed", type=int, default=20260301)
    parser.add_argument("--log-level", default=os.environ.get("DOSELEDGER_LOG_LEVEL", "WARNING"))
    # Internal: one phase in a fresh process.
    parser.add_argument(
        "--phase", choices=("build", "bare", "drop", "rebuild", "load"), help=argparse.SUPPRESS
    )
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--until", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--patients", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase is None:
        if args.events < MIN_EVENTS:
            parser.error(f"--events must be at least {MIN_EVENTS}")
        if args.rounds < 1 or args.page < 1 or args.repeats < 1:
            parser.error("--rounds, --page and --repeats must be at least 1")
        if args.keep and args.backend == "both":
            parser.error("--keep names one store: choose --backend sqlite or postgres")
        if args.backend != "sqlite" and urlsplit(args.postgres_url).query:
            parser.error("--postgres-url names server and database only")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, internally, one of its phases)."""
    args = parse_args(argv)
    try:
        configure_logging(args.log_level)
    except InvalidInput as exc:
        print(f"bench_projections: {exc}", file=sys.stderr)
        return 2
    if args.phase is not None:
        run_phase(args)
        return 0
    print(
        f"doseledger read-model benchmark: a store of {args.events} events; the rebuild of every "
        f"read model (ReadModels.rebuild) against bare read + decode (select_notifications "
        f"pages of {args.page} + mapper.to_domain_event), each in a fresh process, "
        f"{args.rounds} round(s), best of each; cold patient loads, median of {args.repeats}\n"
    )
    report: dict[str, Any] = {
        "events": args.events,
        "target_ratio": TARGET_RATIO,
        "memory_limit_mb": MEMORY_LIMIT_MB,
        "load_target": LOAD_TARGET,
    }
    report["backends"], _ = each_backend(args, lambda backend: run_backend(backend, args), width=0)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    with suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
