"""Request bodies (validated strictly) and response shapes of the API.

Bodies are strict: an integer field takes only a JSON integer (not ``true``, ``2.0`` or
``"2"``), a boolean only ``true``/``false``, a number only a JSON number; dates only ISO 8601
calendar dates (``YYYY-MM-DD``). Every string has a maximum length and refuses control
characters; free text (findings, reasons, descriptions) may hold line breaks.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    Tag,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from domain.protocol import NOTE_MAX
from domain.reminder_schedule import ReminderKind
from domain.strict_input import free_text_problem, plain_text_problem
from domain.trial.citations import PACKET_SHA256
from domain.trial.decision_rules import Decision

NAME_MAX = 200
"""The longest name, term, location, or other short text."""
FREE_TEXT_MAX = 2000
"""The longest free text: findings, reasons, descriptions."""


def _plain(value: str) -> str:
    problem = plain_text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _free(value: str) -> str:
    problem = free_text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _json_type(value: Any, kinds: tuple[type, ...], accepted: str) -> Any:
    # type(), not isinstance(): True is an int to Python, not a grade to a clinician.
    if type(value) not in kinds:
        raise ValueError(f"expected {accepted}, got {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value)[:40]


# An optional bounded number is written Annotated[int, Field(ge=..), _WHOLE] | None: the bound on
# the plain type, the strict check outside it, so that the schema says minimum/maximum.
_WHOLE = BeforeValidator(lambda v: _json_type(v, (int,), "a whole number such as 3"))
_NUMBER = BeforeValidator(lambda v: _json_type(v, (int, float), "a JSON number such as 1.5"))
Int = Annotated[int, _WHOLE]
"""A JSON integer: not true/false, not 2.0, not "2"."""
Number = Annotated[float, _NUMBER]
"""A JSON number: not true/false, not "1.5"."""
Bool = Annotated[
    bool, BeforeValidator(lambda v: _json_type(v, (bool,), "true or false (a JSON boolean)"))
]
"""A JSON boolean: not "yes", not 1."""


class _Pattern:
    """Says in the JSON schema what a validator accepts, as an ECMA-262 ``pattern`` (the
    validator stays the one that checks, with its own message). ``(?![\\s\\S])`` is the end
    of the text in every regex dialect; a ``$`` would also match before a final line break in
    Python's."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        found = handler(schema)
        found["pattern"] = self.pattern
        return found


PLAIN_TEXT_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]*(?![\s\S])"
"""One line: no C0 or C1 control character, no DEL (``strict_input.plain_text_problem``)."""
FREE_TEXT_PATTERN = r"^(?:[^\u0000-\u0009\u000b-\u001f\u007f-\u009f]|\r\n)*(?![\s\S])"
"""Text with line breaks (LF or CR LF) and no other control character
(``strict_input.free_text_problem``)."""
PlainText = Annotated[str, AfterValidator(_plain), _Pattern(PLAIN_TEXT_PATTERN)]
"""One line of text: no control characters at all."""
FreeText = Annotated[str, AfterValidator(_free), _Pattern(FREE_TEXT_PATTERN)]
"""Free text: line breaks allowed, no other control characters."""
PacketSha256 = Annotated[
    str,
    StringConstraints(min_length=64, max_length=64, pattern=f"^{PACKET_SHA256.pattern}$"),
]
"""A packet's SHA-256: 64 lowercase hexadecimal digits (``domain.trial.citations``)."""
Id = Annotated[UUID, Field(strict=False)]
"""A UUID, given as its JSON string (strict mode would want a UUID object)."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class RegisterFromTemplate(_Body):
    """Register a trial from a shipped protocol template (``GET /protocols``)."""

    template_id: PlainText = Field(
        ..., min_length=1, max_length=64, examples=["defactinib-avutometinib"]
    )
    name: PlainText = Field("", max_length=NAME_MAX)


class RegisterFromProtocol(_Body):
    """Register a trial from a full protocol (the shape of ``GET /protocols/{template_id}``)."""

    protocol: dict[str, Any] = Field(..., description="A full protocol (see the templates)")
    name: PlainText = Field("", max_length=NAME_MAX)


ONE_SHAPE = "give exactly one of template_id and protocol"


def _register_shape(body: Any) -> str | None:
    """Which request shape a body is: by the field it gives (None: both or neither)."""
    if not isinstance(body, dict):
        return "from-template"  # that model says what a body must be
    template_given = body.get("template_id") is not None
    if template_given == (body.get("protocol") is not None):
        return None
    return "from-template" if template_given else "from-protocol"


BODY_SHAPES = frozenset({"from-template", "from-protocol"})
"""The tags of request bodies that take one of several shapes (not part of a field's path)."""
RegisterTrial = Annotated[
    Annotated[RegisterFromTemplate, Tag("from-template")]
    | Annotated[RegisterFromProtocol, Tag("from-protocol")],
    Discriminator(
        _register_shape,
        custom_error_type="one_shape",
        custom_error_message=ONE_SHAPE,
        custom_error_context={"fields": "template_id, protocol"},
    ),
]
"""Register a trial from a template id or from a full protocol: one of the two, never both."""


class EnrolPatient(_Body):
    """Enrol a patient into the trial's open cohort."""

    site_id: PlainText = Field(..., min_length=1, max_length=32, examples=["S01"])
    subject_id: PlainText | None = Field(
        None, max_length=40, description="Pseudonymous; never a name"
    )
    site_time_zone: PlainText | None = Field(
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

    cohort: Int = Field(..., ge=1)
    decision: Decision = Field(
        ...,
        description="3+3: escalate, expand, de-escalate, declare_mtd, stop_no_mtd; an interval "
        "design: escalate, stay, de-escalate, eliminate-and-de-escalate, declare_mtd, stop_no_mtd",
    )
    mtd_level: Annotated[int, Field(ge=1), _WHOLE] | None = None
    meaning: PlainText = Field("approval", min_length=1, max_length=100)
    reason: FreeText | None = Field(None, max_length=FREE_TEXT_MAX)
    packet_sha256: PacketSha256 | None = Field(
        None,
        description="The SHA-256 of the SRC packet the decision was made on "
        "(GET /trials/{trial_id}/src-packet): 64 lowercase hexadecimal digits",
        examples=["3f0c5e1d9a7b2c4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6"],
    )


class ReviewDecision(_Body):
    """The SRC's signed re-review of a decision that a correction flagged."""

    outcome: Literal["decision_stands", "decision_revised"]
    reason: FreeText = Field(..., min_length=1, max_length=FREE_TEXT_MAX)
    meaning: PlainText = Field("review", min_length=1, max_length=100)


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    rule: str | None = None


_CALENDAR_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> Any:
    # Lax pydantic would take numbers as dates, and Python's fromisoformat week dates
    # (2026-W46-3) and ordinal dates (2026-318): clinical dates are calendar dates only.
    if not isinstance(value, str):
        raise ValueError("a date is an ISO 8601 calendar date string, YYYY-MM-DD")
    if not _CALENDAR_DATE.fullmatch(value):
        raise ValueError(f"'{value[:40]}' is not a date (YYYY-MM-DD)")
    return dt.date.fromisoformat(value)


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
    bcva_right: PlainText = Field(..., min_length=1, max_length=20, examples=["20/20"])
    bcva_left: PlainText = Field(..., min_length=1, max_length=20, examples=["20/25"])
    slit_lamp_findings: FreeText = Field("", max_length=FREE_TEXT_MAX)


class SkinExam(_Body):
    """The baseline skin examination."""

    clinical_date: IsoDate
    findings: FreeText = Field(..., min_length=1, max_length=FREE_TEXT_MAX)


class ClinicalDate(_Body):
    """A command that needs only its clinical date (first dose, a dose given)."""

    clinical_date: IsoDate


class DoseGiven(_Body):
    """A day's dose given. Against an open withhold or discontinue requirement it is a protocol
    deviation: refused unless ``deviation_reason`` records why it was given."""

    clinical_date: IsoDate
    deviation_reason: FreeText = Field("", max_length=FREE_TEXT_MAX)


class MissedDose(_Body):
    """A planned dose that was not taken (it lowers the share of planned doses)."""

    clinical_date: IsoDate
    reason: FreeText = Field("", max_length=FREE_TEXT_MAX)


class Correction(_Body):
    """A recorded fact corrected, with a reason: an AE (``ref`` its id: its latest grade,
    onset, attribution or seriousness) or a dose (``ref`` its date: a new ``clinical_date``)."""

    fact: Literal["adverse_event", "dose"]
    ref: PlainText = Field(..., min_length=1, max_length=40, examples=["2026-03-14"])
    reason: FreeText = Field(..., min_length=1, max_length=FREE_TEXT_MAX)
    grade: Annotated[int, Field(ge=1, le=5), _WHOLE] | None = None
    onset: IsoDate | None = None
    attribution: Literal["unrelated", "unlikely", "possible", "probable", "definite"] | None = None
    serious: Bool | None = None
    clinical_date: IsoDate | None = None


class EnteredInError(_Body):
    """A recorded AE, dose or missed dose that should never have been recorded."""

    fact: Literal["adverse_event", "dose", "missed_dose"]
    ref: PlainText = Field(..., min_length=1, max_length=40)
    reason: FreeText = Field(..., min_length=1, max_length=FREE_TEXT_MAX)


class SkinAssessmentBody(_Body):
    """A study visit's skin assessment."""

    clinical_date: IsoDate
    location: PlainText = Field("", max_length=NAME_MAX)
    bsa_percent: Number = Field(..., ge=0, le=100)
    symptoms: Literal["none", "mild", "moderate", "severe"]
    ctcae_version: Literal["4.0", "5.0"] | None = Field(
        None, description="The CTCAE version that grades it (default: the protocol's for the term)"
    )
    ctcae_version_reason: FreeText = Field(
        "", max_length=FREE_TEXT_MAX, description="Why another version than the protocol's is used"
    )
    life_threatening: Bool = False
    attribution: Literal["unrelated", "unlikely", "possible", "probable", "definite"] = "possible"
    intolerable: Bool = False


class Measurement(_Body):
    """A lab value with its reference limit (ULN for increases, LLN for decreases)."""

    value: Number = Field(..., ge=0)
    uln: Annotated[float, Field(gt=0), _NUMBER] | None = None
    lln: Annotated[float, Field(gt=0), _NUMBER] | None = None
    baseline: Annotated[float, Field(ge=0), _NUMBER] | None = None


class AdverseEventBody(_Body):
    """An adverse event as the investigator reports it."""

    term: PlainText = Field(..., min_length=1, max_length=NAME_MAX, examples=["CPK increased"])
    grade: Annotated[int, Field(ge=1, le=5), _WHOLE] | None = None
    onset: IsoDate
    attribution: Literal["unrelated", "unlikely", "possible", "probable", "definite"]
    ctcae_version: Literal["4.0", "5.0"] | None = Field(
        None, description="The CTCAE version that grades it (default: the protocol's for the term)"
    )
    ctcae_version_reason: FreeText = Field(
        "", max_length=FREE_TEXT_MAX, description="Why another version than the protocol's is used"
    )
    serious: Bool = False
    measurement: Measurement | None = None
    intolerable: Bool = False
    eye: Literal["right", "left"] | None = None
    bcva: PlainText | None = Field(None, max_length=20)
    clinically_significant: Bool = True
    with_bleeding: Bool = False
    duration_days: Annotated[int, Field(ge=0, le=3650), _WHOLE] | None = None


class GradeChange(_Body):
    """A new grade for an open AE (0 = resolved), by grade, measurement or BCVA."""

    clinical_date: IsoDate
    grade: Annotated[int, Field(ge=0, le=5), _WHOLE] | None = None
    measurement: Measurement | None = None
    bcva: PlainText | None = Field(None, max_length=20)
    reason: FreeText = Field("", max_length=FREE_TEXT_MAX)
    intolerable: Bool = False


class DoseAction(_Body):
    """The investigator's action: hold, reduce, resume or discontinue."""

    action: Literal["hold", "reduce", "resume", "discontinue"]
    clinical_date: IsoDate
    ae_id: Id | None = None
    at: Literal["same", "reduced"] | None = None
    reason: FreeText = Field("", max_length=FREE_TEXT_MAX)


class DltOutcome(_Body):
    """The DLT-window outcome of one patient."""

    outcome: Literal["dlt", "no_dlt", "not_evaluable"]
    clinical_date: IsoDate
    description: FreeText = Field("", max_length=FREE_TEXT_MAX)
    reason: FreeText = Field("", max_length=FREE_TEXT_MAX)
    doses_taken_fraction: Annotated[float, Field(ge=0, le=1), _NUMBER] | None = None


class DltAdjudication(_Body):
    """An SRC member confirms or rejects a DLT candidate."""

    patient_id: Id
    ae_id: Id
    confirmed: Bool
    reason: FreeText = Field(..., min_length=1, max_length=FREE_TEXT_MAX)


class Subscribe(_Body):
    """Subscribe an app to issued reminders (all of them, or some kinds, or one trial's)."""

    url: PlainText = Field(
        ...,
        min_length=1,
        max_length=FREE_TEXT_MAX,
        description="Where reminders are POSTed: an absolute http(s) URL",
        examples=["https://edc.example.org/hooks/doseledger"],
    )
    name: PlainText = Field(..., min_length=1, max_length=NAME_MAX, examples=["Site 01 EDC"])
    kinds: list[ReminderKind] | None = Field(
        None, min_length=1, description="Only these reminder kinds (default: every kind)"
    )
    trial_id: Id | None = Field(None, description="Only this trial's reminders")


def bound_protocol_text(schema: dict[str, Any]) -> None:
    """Say in an OpenAPI ``schema`` that ``POST /trials`` takes a ``Protocol`` and what a new
    protocol's text may be: every string of the
    ``Protocol`` component and those it refers to is plain text of at most ``NOTE_MAX``
    characters (``protocol_from_mapping`` checks it; the model does not, so that protocols
    stored before the limits still replay)."""
    components = schema.get("components", {}).get("schemas", {})
    if "Protocol" in components and "RegisterFromProtocol" in components:
        # The body's protocol is read as data (errors name the field), but it is a Protocol.
        shape = components["RegisterFromProtocol"]["properties"]["protocol"]
        components["RegisterFromProtocol"]["properties"]["protocol"] = {
            "$ref": "#/components/schemas/Protocol",
            "description": shape.get("description", ""),
        }
    seen: set[str] = set()
    waiting = ["Protocol"] if "Protocol" in components else []
    while waiting:
        name = waiting.pop()
        if name not in seen:
            seen.add(name)
            waiting += _bound_strings(components[name])


def _bound_strings(node: Any) -> list[str]:
    """Bound every free string under ``node``; the components it refers to."""
    refs: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "string" and not {"enum", "const", "format"} & set(node):
            node["pattern"] = PLAIN_TEXT_PATTERN
            node["maxLength"] = min(node.get("maxLength", NOTE_MAX), NOTE_MAX)
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            refs.append(ref.rsplit("/", 1)[-1])
        for value in node.values():
            refs += _bound_strings(value)
    elif isinstance(node, list):
        for value in node:
            refs += _bound_strings(value)
    return refs
