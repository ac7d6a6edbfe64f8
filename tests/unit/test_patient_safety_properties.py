"""Patient safety properties (domain.md §5a, §6) over random sequences of clinical records.

Random sequences of AEs, grade changes (up, down, to 0), skin assessments, holds (with or
without an AE, with or without a reason), resumes (same, reduced, with or without a reason),
reductions, discontinuations, doses (with or without a deviation reason), missed doses and
DLT-window outcomes, on dates that mostly move forward and sometimes go back (late entries),
are applied to a Patient and its Trial as the application service applies them (the DLT
verdict reaches the cohort through ``domain.policies``). After every step:

- no dose day (a DoseAdministered or DoseDeviationRecorded) lies inside a hold period;
- no dose lies after the discontinuation of every agent, or after death (a grade 5 AE);
- once every agent is discontinued, every agent stays discontinued;
- an AE that reached a DLT grade inside the window (non-haematological grade 3 or more, at
  least possibly related) has a DLT verdict (a DLT or a candidate) or the window closed with
  a DLT, and it is on the cohort: the patient's outcome there is a DLT, or the AE is a DLT
  candidate pending before the SRC;
- the cohort's outcome for the patient is the patient's;
- a refused command appends no event to the patient or the trial.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from domain.ctcae import CtcaeCatalogue
from domain.errors import CommandRefused, InvalidInput
from domain.patient import RASH, Patient
from domain.policies import apply_dlt_verdict
from domain.protocol import template
from domain.trial import Trial
from support import ADMIN, DAY0, INVESTIGATOR, SCHEDULE, TODAY, new_patient

CATALOGUE = CtcaeCatalogue.load()
PROTOCOL = template("defactinib-avutometinib")
WINDOW = PROTOCOL.dlt_window_days
ENROLLED = DAY0 - dt.timedelta(days=7)
TERMS = ["CPK increased", "Rash acneiform", "Fatigue", "Diarrhea", "Blurred vision"]
RELATED = ("possible", "probable", "definite")
REASONS = st.sampled_from(["", "investigator's judgement", "investigator's judgement"])
DELTA = st.integers(-8, 3)
"""Days from the step's place in the story (two days a step): most steps move forward, some
go back before earlier ones (a late entry)."""
PICK = st.one_of(st.none(), st.integers(0, 7))
"""No AE, or the n-th recorded AE (modulo how many there are)."""

AE = st.tuples(
    st.just("ae"),
    DELTA,
    st.sampled_from(TERMS),
    st.integers(1, 5),
    st.sampled_from(["possible", "probable", "unlikely"]),
)
GRADE = st.tuples(st.just("grade"), DELTA, st.integers(0, 7), st.integers(0, 5))
HOLD = st.tuples(st.just("hold"), DELTA, PICK, REASONS)
RESUME = st.tuples(st.just("resume"), DELTA, st.sampled_from([None, "same", "reduced"]), REASONS)
DOSE = st.tuples(st.just("dose"), DELTA, st.sampled_from(["", "investigator's decision"]))
STEP = st.one_of(
    AE,
    AE,
    GRADE,
    GRADE,
    HOLD,
    HOLD,
    RESUME,
    DOSE,
    DOSE,
    DOSE,
    st.tuples(
        st.just("skin"),
        DELTA,
        st.sampled_from([0, 5, 20, 40]),
        st.sampled_from(["none", "mild", "severe"]),
        st.booleans(),
    ),
    st.tuples(st.just("reduce"), DELTA, PICK, REASONS),
    st.tuples(st.just("discontinue"), DELTA, PICK, st.sampled_from(["", "", "", "progression"])),
    st.tuples(st.just("missed"), DELTA),
    st.tuples(st.just("close"), DELTA, st.sampled_from(["no_dlt", "no_dlt", "not_evaluable"])),
)


@dataclass
class Story:
    """A dosing patient in the open cohort of a trial, and what the story expects of it."""

    patient: Patient
    trial: Trial
    steps: int = 0
    today: dt.date = DAY0
    dlt_grade_aes: set[UUID] = field(default_factory=set)
    """AEs that reached a DLT grade inside the window (by the test's own reckoning)."""
    was_discontinued: bool = False

    @classmethod
    def start(cls) -> Story:
        trial = Trial(
            id=uuid4(),
            protocol=PROTOCOL.model_dump(mode="json"),
            name="safety properties",
            actor=ADMIN.as_record(),
        )
        patient_id = uuid4()
        trial.enrol(patient_id, "S01-001", "S01", INVESTIGATOR)
        patient = new_patient(WINDOW, patient_id=patient_id, trial_id=trial.id, enrolled=ENROLLED)
        patient.record_baseline_eye_exam(ENROLLED, "20/20", "20/20", INVESTIGATOR, today=TODAY)
        patient.record_baseline_skin_exam(ENROLLED, "none", INVESTIGATOR, today=TODAY)
        patient.start_dosing(DAY0, INVESTIGATOR, today=TODAY)
        return cls(patient, trial)

    # ------------------------------------------------------------- steps

    def pick(self, index: int | None) -> UUID | None:
        aes = [a for a in self.patient.adverse_events.values() if not a.in_error]
        return None if index is None or not aes else aes[index % len(aes)].id

    def reaches_dlt_grade(self, term: str, grade: int, attribution: str, on: dt.date) -> bool:
        last = DAY0 + dt.timedelta(days=WINDOW - 1)
        haematological = CATALOGUE.lookup(term).is_haematological
        return DAY0 <= on <= last and attribution in RELATED and grade >= 3 and not haematological

    def apply(self, step: tuple[Any, ...]) -> None:
        """Apply one step as the service does; a refusal must leave both aggregates as they were."""
        kind, delta, *args = step
        self.steps += 1
        self.today = max(
            DAY0 - dt.timedelta(days=1), DAY0 + dt.timedelta(days=2 * self.steps + delta)
        )
        events = (len(self.patient.pending_events), len(self.trial.pending_events))
        try:
            self._command(kind, self.today, *args)
        except (CommandRefused, InvalidInput) as refused:
            after = (len(self.patient.pending_events), len(self.trial.pending_events))
            assert after == events, f"{kind} refused ({refused}) but appended events"

    def _command(self, kind: str, on: dt.date, *args: Any) -> None:
        patient, trial = self.patient, self.trial
        common: dict[str, Any] = {"today": TODAY}
        if kind == "ae":
            term, grade, attribution = args
            ae_id = uuid4()
            patient.record_adverse_event(
                ae_id,
                CATALOGUE.lookup(term),
                grade,
                on,
                INVESTIGATOR,
                protocol=PROTOCOL,
                attribution=attribution,
                **common,
            )
            if self.reaches_dlt_grade(term, grade, attribution, on):
                self.dlt_grade_aes.add(ae_id)
            apply_dlt_verdict(trial, patient, ae_id, INVESTIGATOR)
        elif kind == "grade":
            ae_id = self.pick(args[0])
            if ae_id is None:
                return
            ae = patient.adverse_events[ae_id]
            change = patient.change_ae_grade(
                ae_id,
                args[1],
                on,
                INVESTIGATOR,
                protocol=PROTOCOL,
                term=CATALOGUE.lookup(ae.term),
                reason="visit",
                **common,
            )
            if self.reaches_dlt_grade(ae.term, args[1], ae.attribution, on):
                self.dlt_grade_aes.add(ae_id)
            if change.dlt is not None:
                apply_dlt_verdict(trial, patient, ae_id, INVESTIGATOR)
        elif kind == "skin":
            bsa, symptoms, life_threatening = args
            result = patient.record_skin_assessment(
                on,
                INVESTIGATOR,
                location="face" if bsa else "",
                bsa_percent=bsa,
                symptoms=symptoms,
                life_threatening=life_threatening,
                new_ae_id=uuid4(),
                protocol=PROTOCOL,
                term=CATALOGUE.lookup(RASH),
                **common,
            )
            rash = None if result.ae_id is None else patient.adverse_events[result.ae_id]
            if rash is not None and self.reaches_dlt_grade(
                RASH, result.grade, rash.attribution, on
            ):
                self.dlt_grade_aes.add(result.ae_id)
            if result.dlt is not None and result.ae_id is not None:
                apply_dlt_verdict(trial, patient, result.ae_id, INVESTIGATOR)
        elif kind == "hold":
            patient.hold_dose(on, INVESTIGATOR, ae_id=self.pick(args[0]), reason=args[1], **common)
        elif kind == "resume":
            patient.resume_dose(
                on, INVESTIGATOR, protocol=PROTOCOL, at=args[0], reason=args[1], **common
            )
        elif kind == "reduce":
            patient.reduce_dose(
                on,
                INVESTIGATOR,
                protocol=PROTOCOL,
                ae_id=self.pick(args[0]),
                reason=args[1],
                **common,
            )
        elif kind == "discontinue":
            patient.discontinue(
                on,
                INVESTIGATOR,
                protocol=PROTOCOL,
                ae_id=self.pick(args[0]),
                reason=args[1],
                **common,
            )
        elif kind == "dose":
            patient.administer_dose(on, INVESTIGATOR, deviation_reason=args[0], **common)
        elif kind == "missed":
            patient.record_missed_dose(on, INVESTIGATOR, reason="forgot", **common)
        elif kind == "close":
            patient.close_dlt_window(
                args[0],
                on,
                INVESTIGATOR,
                schedule=SCHEDULE,
                min_dose_fraction=PROTOCOL.evaluability_min_dose_fraction,
                reason="left the study",
                **common,
            )
            trial.record_outcome(
                patient.id,
                patient.dlt_outcome or "not_evaluable",
                on,
                INVESTIGATOR,
                reason="left the study",
            )

    # ------------------------------------------------------------- invariants

    def check(self) -> None:
        patient = self.patient
        for day in patient.dose_days:
            inside = [h for h in patient.holds if h.covers(day)]
            assert not inside, f"dose on {day} inside the hold {inside[0]}"
        if patient.all_discontinued:
            self.was_discontinued = True
            assert patient.discontinued_on is not None
            late = [d for d in patient.dose_days if d > patient.discontinued_on]
            assert not late, f"doses {late} after the discontinuation {patient.discontinued_on}"
        assert patient.all_discontinued or not self.was_discontinued, "discontinuation lifted"
        died = patient.died_on
        if died is not None:
            late = [d for d in patient.dose_days if d > died]
            assert not late, f"doses {late} after death on {died}"
        cohort = self.trial.cohorts[0]
        on_cohort = cohort.outcomes.get(patient.id)
        assert on_cohort == patient.dlt_outcome, (on_cohort, patient.dlt_outcome)
        for ae_id in self.dlt_grade_aes:
            ae = patient.adverse_events[ae_id]
            if ae.in_error:
                continue
            assert ae.dlt_verdict != "not_dlt" or patient.dlt_outcome == "dlt", (
                f"{ae.term} reached grade {ae.worst_grade} in the window: {ae.dlt_criterion}"
            )
            pending = ae_id in cohort.candidates.get(patient.id, [])
            assert on_cohort == "dlt" or pending, (
                f"{ae.term} grade {ae.worst_grade} ({ae.dlt_verdict}) is not on the cohort "
                f"(outcome there: {on_cohort})"
            )


def run(steps: list[tuple[Any, ...]]) -> Story:
    story = Story.start()
    story.check()
    for done, step in enumerate(steps, 1):
        try:
            story.apply(step)
            story.check()
        except AssertionError as failed:
            raise AssertionError(f"{failed}\nafter the steps {steps[:done]}") from failed
    return story


@settings(
    max_examples=4000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(STEP, min_size=1, max_size=40))
@example(  # story 2: a CPK recovery never lifts a rash discontinuation
    [
        ("ae", 30, "CPK increased", 3, "possible"),
        ("hold", 0, 0, ""),
        ("ae", 3, "Rash acneiform", 4, "possible"),
        ("grade", 2, 0, 1),
        ("resume", 1, None, "investigator's judgement"),
        ("dose", 0, "investigator's decision"),
        ("discontinue", 0, 1, ""),
        ("dose", 1, "investigator's decision"),
    ]
)
@example(  # a grade 2 worsening to grade 4 inside the window, after "no DLT"
    [
        ("ae", 4, "CPK increased", 2, "possible"),
        ("close", 24, "no_dlt"),
        ("grade", -18, 0, 4),
        ("dose", 30, ""),
    ]
)
@example(  # a dose on the day of a hold
    [("dose", 5, ""), ("hold", 0, None, "investigator's judgement"), ("dose", 1, "")]
)
@example(  # a grade 3 diarrhoea (a candidate) dated in the window, entered after "no DLT"
    [("close", 27, "no_dlt"), ("ae", -10, "Diarrhea", 3, "possible")]
)
@example(  # a death by worsening, doses between onset and death
    [("ae", 5, "Fatigue", 2, "unlikely"), ("dose", 2, ""), ("grade", 3, 0, 5), ("dose", -1, "")]
)
@example(  # a grade 5 entered late, dated before a dose already recorded
    [("dose", 0, ""), ("ae", -3, "Rash acneiform", 5, "possible")]
)
@example(  # a late skin assessment at the rash's grade, dated inside the window
    [
        ("ae", 5, "Rash acneiform", 1, "possible"),
        ("skin", 28, 20, "mild", True),
        ("skin", 20, 5, "none", True),
    ]
)
def test_patient_safety_holds_over_any_sequence(steps: list[tuple[Any, ...]]) -> None:
    run(steps)
