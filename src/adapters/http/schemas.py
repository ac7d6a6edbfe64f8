"""Request bodies (validated strictly) and response shapes of the API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from domain.reminders import ReminderKind


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterTrial(_Body):
    """Register a trial from a template id or a full protocol."""

    template_id: str | None = Field(None, examples=["defactinib-avutometinib"])
    protocol: dict[str, Any] | None = Field(None, description="A full protocol (see templates)")
    name: str = Field("", max_length=200)


class EnrolPatient(_Body):
    """Enrol a patient into the trial's open cohort."""

    site_id: str = Field(..., min_length=1, max_length=32, examples=["S01"])
    subject_id: str | None = Field(None, max_length=40, description="Pseudonymous; never a name")
    site_time_zone: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        examples=["America/Los_Angeles"],
        description="The site's IANA time zone, recorded at its first enrolment (default: the "
        "protocol's default_site_time_zone); another zone for a known site is refused",
    )
    enrolment_date: IsoDate | None = Field(
        None,
        description="The clinical enrolment date (default: the site's today); never after the "
        "site's today, nor more than 730 days before it",
    )


class SignDecision(_Body):
    """The safety review committee's signed decision on the open cohort."""

    cohort: int = Field(..., ge=1)
    decision: Literal["escalate", "expand", "de-escalate", "declare_mtd", "stop_no_mtd"]
    mtd_level: int | None = Field(None, ge=1)
    meaning: str = Field("approval", min_length=1, max_length=100)
    reason: str | None = Field(None, max_length=2000)


class ReviewDecision(_Body):
    """The SRC's signed re-review of a decision that a correction flagged."""

    outcome: Literal["decision_stands", "decision_revised"]
    reason: str = Field(..., min_length=1, max_length=2000)
    meaning: str = Field("review", min_length=1, max_length=100)


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    rule: str | None = None


def _iso_date(value: Any) -> Any:
    # Lax pydantic would take numbers as dates; clinical dates are ISO strings only.
    if not isinstance(value, str):
        raise ValueError("a date is an ISO 8601 string, YYYY-MM-DD")
    return dt.date.fromisoformat(value) if len(value) == 10 else _bad_date(value)


def _bad_date(value: str) -> Any:
    raise ValueError(f"'{value}' is not a date (YYYY-MM-DD)")


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]


def _iso_instant(value: Any) -> Any:
    # Lax pydantic takes numbers, and numeric strings such as "-0.3", as Unix times.
    try:
        float(value)
    except (TypeError, ValueError):
        return value
    raise ValueError("an instant is an ISO 8601 string with offset, e.g. 2026-03-02T14:30:00Z")


IsoInstant = Annotated[dt.datetime, BeforeValidator(_iso_instant)]


class EyeExam(_Body):
    """An ophthalmology exam: BCVA per eye (Snellen 20/x, 6/x or logMAR), slit lamp.

    ``baseline`` (the default) before the first dose; on treatment, ``follow_up`` (the
    scheduled exam of a cycle) or ``referral`` (after a visual adverse event).
    """

    clinical_date: IsoDate
    purpose: Literal["baseline", "follow_up", "referral"] = "baseline"
    bcva_right: str = Field(..., min_length=1, max_length=20, examples=["20/20"])
    bcva_left: str = Field(..., min_length=1, max_length=20, examples=["20/25"])
    slit_lamp_findings: str = Field("", max_length=2000)


class SkinExam(_Body):
    """The baseline skin examination."""

    clinical_date: IsoDate
    findings: str = Field(..., min_length=1, max_length=2000)


class ClinicalDate(_Body):
    """A command that needs only its clinical date (first dose, a dose given)."""

    clinical_date: IsoDate


class DoseGiven(_Body):
    """A day's dose given. Against an open withhold or discontinue requirement it is a protocol
    deviation: refused unless ``deviation_reason`` records why it was given."""

    clinical_date: IsoDate
    deviation_reason: str = Field("", max_length=2000)


class MissedDose(_Body):
    """A planned dose that was not taken (it lowers the share of planned doses)."""

    clinical_date: IsoDate
    reason: str = Field("", max_length=2000)


class Correction(_Body):
    """A recorded fact corrected, with a reason: an AE (``ref`` its id: its latest grade,
    onset, attribution or seriousness) or a dose (``ref`` its date: a new ``clinical_date``)."""

    fact: Literal["adverse_event", "dose"]
    ref: str = Field(..., min_length=1, max_length=40, examples=["2026-03-14"])
    reason: str = Field(..., min_length=1, max_length=2000)
    grade: int | None = Field(None, ge=1, le=5)
    onset: IsoDate | None = None
    attribution: Literal["unrelated", "unlikely", "possible", "probable", "definite"] | None = None
    serious: bool | None = None
    clinical_date: IsoDate | None = None


class EnteredInError(_Body):
    """A recorded AE, dose or missed dose that should never have been recorded."""

    fact: Literal["adverse_event", "dose", "missed_dose"]
    ref: str = Field(..., min_length=1, max_length=40)
    reason: str = Field(..., min_length=1, max_length=2000)


class SkinAssessmentBody(_Body):
    """A study visit's skin assessment."""

    clinical_date: IsoDate
    location: str = Field("", max_length=200)
    bsa_percent: float = Field(..., ge=0, le=100)
    symptoms: Literal["none", "mild", "moderate", "severe"]
    ctcae_version: Literal["4.0", "5.0"] | None = Field(
        None, description="The CTCAE version that grades it (default: the protocol's for the term)"
    )
    ctcae_version_reason: str = Field(
        "", max_length=2000, description="Why another version than the protocol's is used"
    )
    life_threatening: bool = False
    attribution: Literal["unrelated", "unlikely", "possible", "probable", "definite"] = "possible"
    intolerable: bool = False


class Measurement(_Body):
    """A lab value with its reference limit (ULN for increases, LLN for decreases)."""

    value: float = Field(..., ge=0)
    uln: float | None = Field(None, gt=0)
    lln: float | None = Field(None, gt=0)
    baseline: float | None = Field(None, ge=0)


class AdverseEventBody(_Body):
    """An adverse event as the investigator reports it."""

    term: str = Field(..., min_length=1, max_length=200, examples=["CPK increased"])
    grade: int | None = Field(None, ge=1, le=5)
    onset: IsoDate
    attribution: Literal["unrelated", "unlikely", "possible", "probable", "definite"]
    ctcae_version: Literal["4.0", "5.0"] | None = Field(
        None, description="The CTCAE version that grades it (default: the protocol's for the term)"
    )
    ctcae_version_reason: str = Field(
        "", max_length=2000, description="Why another version than the protocol's is used"
    )
    serious: bool = False
    measurement: Measurement | None = None
    intolerable: bool = False
    eye: Literal["right", "left"] | None = None
    bcva: str | None = Field(None, max_length=20)
    clinically_significant: bool = True
    with_bleeding: bool = False
    duration_days: int | None = Field(None, ge=0, le=3650)


class GradeChange(_Body):
    """A new grade for an open AE (0 = resolved), by grade, measurement or BCVA."""

    clinical_date: IsoDate
    grade: int | None = Field(None, ge=0, le=5)
    measurement: Measurement | None = None
    bcva: str | None = Field(None, max_length=20)
    reason: str = Field("", max_length=2000)
    intolerable: bool = False


class DoseAction(_Body):
    """The investigator's action: hold, reduce, resume or discontinue."""

    action: Literal["hold", "reduce", "resume", "discontinue"]
    clinical_date: IsoDate
    ae_id: UUID | None = None
    at: Literal["same", "reduced"] | None = None
    reason: str = Field("", max_length=2000)


class DltOutcome(_Body):
    """The DLT-window outcome of one patient."""

    outcome: Literal["dlt", "no_dlt", "not_evaluable"]
    clinical_date: IsoDate
    description: str = Field("", max_length=2000)
    reason: str = Field("", max_length=2000)
    doses_taken_fraction: float | None = Field(None, ge=0, le=1)


class DltAdjudication(_Body):
    """An SRC member confirms or rejects a DLT candidate."""

    patient_id: UUID
    ae_id: UUID
    confirmed: bool
    reason: str = Field(..., min_length=1, max_length=2000)


class Subscribe(_Body):
    """Subscribe an app to issued reminders (all of them, or some kinds, or one trial's)."""

    url: str = Field(
        ...,
        min_length=1,
        max_length=2000,
        description="Where reminders are POSTed: an absolute http(s) URL",
        examples=["https://edc.example.org/hooks/doseledger"],
    )
    name: str = Field(..., min_length=1, max_length=200, examples=["Site 01 EDC"])
    kinds: list[ReminderKind] | None = Field(
        None, min_length=1, description="Only these reminder kinds (default: every kind)"
    )
    trial_id: UUID | None = Field(None, description="Only this trial's reminders")
