"""``doseledger patient ae``, ``grade``, ``skin``, ``dose``, ``missed-dose``, ``correct``,
``in-error`` and ``dose-action``: what a site records on treatment, as the HTTP routes record it.

Each command builds the HTTP route's request body from its options, validates it with the route's
own schema, calls the same function the route calls (``adapters.patient_commands``) and prints the
route's answer. Each option is one body field (``_option``); an option not given is a field not
sent, so the schema's default applies. To add one: a function in ``patient_commands``, then
``_recorder`` and its options here. All record clinical data (``CLINICAL_DATA``: investigators).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Literal, TypeVar, get_args, get_origin
from uuid import UUID

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from adapters import patient_commands as commands
from adapters.access import CLINICAL_DATA
from adapters.application import DoseLedger, UnitOfWork
from adapters.cli.common import actor, print_json, store_command, uuid_arg
from adapters.http.schemas import (
    AdverseEventBody,
    Correction,
    DoseAction,
    DoseGiven,
    EnteredInError,
    GradeChange,
    Measurement,
    MissedDose,
    SkinAssessmentBody,
)
from domain.errors import InvalidInput

Body = TypeVar("Body", bound=BaseModel)
Handler = Callable[[argparse.Namespace, DoseLedger], None]

# The option of each body field whose flag is not --field-name.
_FLAGS = {
    "clinical_date": "--date",
    "bsa_percent": "--bsa",
    "clinically_significant": "--not-clinically-significant",
}


def _flag(field: str) -> str:
    return _FLAGS.get(field, "--" + field.replace("_", "-"))


def _literal_values(annotation: Any) -> tuple[Any, ...]:
    """The values a ``Literal[...]`` (or ``Literal[...] | None``) field allows; () otherwise."""
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    return tuple(value for arg in get_args(annotation) for value in _literal_values(arg))


def _option(parser: Any, schema: type[BaseModel], field: str, **options: Any) -> None:
    """An option for one field of a request body, with the schema's choices, required-ness and
    default; left out of the namespace when not given (the schema's default then applies)."""
    info = schema.model_fields[field]
    choices = _literal_values(info.annotation)
    if choices:
        options.setdefault("choices", choices)
    options.setdefault("required", info.is_required())
    if not info.is_required() and info.default not in (None, True, False, ""):
        options["help"] = f"{options.get('help', '')} (default: {info.default})".lstrip()
    parser.add_argument(_flag(field), dest=field, default=argparse.SUPPRESS, **options)


def _yes_no(text: str) -> bool:
    if text not in ("yes", "no"):
        raise argparse.ArgumentTypeError(f"'{text}': use yes or no")
    return text == "yes"


def _dated(parser: Any, schema: type[BaseModel]) -> None:
    _option(parser, schema, "clinical_date", metavar="YYYY-MM-DD", help="the clinical date")


def _grading(parser: Any, schema: type[BaseModel], grades: str) -> None:
    """What CTCAE grades an AE from: the grade itself, a lab measurement, or a BCVA."""
    group = parser.add_argument_group(
        "grade",
        "the grade, or a lab value with its limit, or a BCVA; a grade given with a "
        "measurement must match it",
    )
    _option(group, schema, "grade", type=int, metavar="N", help=f"CTCAE grade {grades}")
    _option(group, Measurement, "value", required=False, type=float, help="a lab value")
    _option(group, Measurement, "uln", type=float, help="upper limit of normal (increases)")
    _option(group, Measurement, "lln", type=float, help="lower limit of normal (decreases)")
    _option(
        group,
        Measurement,
        "baseline",
        type=float,
        help="the patient's baseline (ALT, AST, bilirubin)",
    )
    _option(
        group, schema, "bcva", metavar="BCVA", help="Snellen 20/x, 6/x or logMAR (blurred vision)"
    )


def _assessed(parser: Any, schema: type[BaseModel]) -> None:
    """How the investigator assesses an AE: relation to study drug, CTCAE version, tolerability."""
    _option(parser, schema, "attribution", help="relation to study drug")
    _option(
        parser,
        schema,
        "ctcae_version",
        help="the CTCAE version that grades it (default: the protocol's for the term)",
    )
    _option(
        parser,
        schema,
        "ctcae_version_reason",
        help="why another CTCAE version than the protocol's is used",
    )
    _option(
        parser,
        schema,
        "intolerable",
        action="store_true",
        help="the patient finds it intolerable (a grade 2 rash: reduce)",
    )


def _error_message(error: ErrorDetails) -> str:
    """One line naming the option at fault, as the CLI user typed it."""
    flag = _flag(str(error["loc"][-1])) if error["loc"] else "input"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{flag}: {message.lower()}"
    given = repr(error["input"]) if isinstance(error["input"], str) else str(error["input"])
    return f"{flag}: {message}" if given in message else f"{flag} {given}: {message}"


def _body(schema: type[Body], args: argparse.Namespace) -> Body:
    """The route's request body from the options given, validated by the route's schema."""
    given = vars(args)
    fields = {name: given[name] for name in schema.model_fields if name in given}
    if "measurement" in schema.model_fields:
        measured = {name: given[name] for name in Measurement.model_fields if name in given}
        fields["measurement"] = measured or None
    try:
        return schema.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise InvalidInput(_error_message(error), field=str(error["loc"][0])) from None


def _recording(
    schema: type[BaseModel], command: Callable[..., commands.Extra], path: tuple[str, ...]
) -> Handler:
    """Validate the body, call the route's function, print the route's answer."""

    def handler(args: argparse.Namespace, ledger: DoseLedger) -> None:
        body = _body(schema, args)
        ids: dict[str, UUID] = {name: getattr(args, name) for name in path}
        uow = UnitOfWork()  # the answer is read from the patient the command changed
        extra = command(ledger, args.patient_id, body, actor(args), uow=uow, **ids)
        print_json(commands.answer(ledger, args.patient_id, extra, uow=uow))

    return handler


def _recorder(
    psub: Any,
    name: str,
    help_: str,
    schema: type[BaseModel],
    command: Callable[..., commands.Extra],
    *,
    path: tuple[str, ...] = (),
) -> argparse.ArgumentParser:
    """``patient NAME patient_id``: sends ``schema`` to ``command``, prints the patient's state
    plus what the command adds (the HTTP route's 201 body); ``path`` names positional ids."""
    parser = store_command(psub, name, _recording(schema, command, path), help_, duty=CLINICAL_DATA)
    parser.add_argument("patient_id", type=uuid_arg, help="the patient's id")
    return parser


def register(psub: Any) -> None:
    """Add the commands that record on treatment to the ``patient`` group's subparsers."""
    p = _recorder(
        psub,
        "ae",
        "record an adverse event; prints the patient with adverse_event (its ae_id, grade, "
        "dose recommendation and DLT verdict)",
        AdverseEventBody,
        commands.record_adverse_event,
    )
    _option(p, AdverseEventBody, "term", help="CTCAE term or MedDRA code, e.g. 'CPK increased'")
    _grading(p, AdverseEventBody, "1-5")
    _option(p, AdverseEventBody, "eye", help="the eye whose --bcva is given")
    _option(p, AdverseEventBody, "onset", metavar="YYYY-MM-DD", help="the clinical onset date")
    _assessed(p, AdverseEventBody)
    _option(p, AdverseEventBody, "serious", action="store_true", help="a serious adverse event")
    _option(
        p,
        AdverseEventBody,
        "clinically_significant",
        action="store_false",
        help="a lab abnormality without clinical significance (a DLT candidate, not a DLT)",
    )
    _option(
        p,
        AdverseEventBody,
        "with_bleeding",
        action="store_true",
        help="thrombocytopenia with bleeding",
    )
    _option(
        p,
        AdverseEventBody,
        "duration_days",
        type=int,
        metavar="N",
        help="how many days it lasted (e.g. grade 4 neutropenia)",
    )

    p = _recorder(
        psub,
        "grade",
        "record an adverse event's new grade (0 = resolved); prints the patient with any new "
        "recommendation",
        GradeChange,
        commands.change_grade,
        path=("ae_id",),
    )
    p.add_argument("ae_id", type=uuid_arg, help="the AE's id (adverse_event.ae_id from patient ae)")
    _grading(p, GradeChange, "0-5 (0 = resolved)")
    _dated(p, GradeChange)
    _option(p, GradeChange, "reason", help="why, where a rule asks for one")
    _option(
        p, GradeChange, "intolerable", action="store_true", help="the patient finds it intolerable"
    )

    p = _recorder(
        psub,
        "skin",
        "record a visit's skin assessment of acneiform rash; prints the patient with "
        "skin_assessment (its grade and any recommendation)",
        SkinAssessmentBody,
        commands.record_skin_assessment,
    )
    _dated(p, SkinAssessmentBody)
    _option(p, SkinAssessmentBody, "location", help="where, e.g. 'face, upper trunk'")
    _option(
        p,
        SkinAssessmentBody,
        "bsa_percent",
        type=float,
        metavar="PERCENT",
        help="%% body surface area",
    )
    _option(p, SkinAssessmentBody, "symptoms", help="how severe the symptoms are")
    _option(
        p,
        SkinAssessmentBody,
        "life_threatening",
        action="store_true",
        help="life-threatening (e.g. extensive superinfection)",
    )
    _assessed(p, SkinAssessmentBody)

    p = _recorder(
        psub,
        "dose",
        "record a day's dose (refused during a hold or after a discontinuation; against an "
        "open withhold or discontinue requirement only with --deviation-reason)",
        DoseGiven,
        commands.record_dose,
    )
    _dated(p, DoseGiven)
    _option(
        p,
        DoseGiven,
        "deviation_reason",
        help="why a dose was given against an open requirement (recorded as a deviation)",
    )

    p = _recorder(
        psub,
        "missed-dose",
        "record a planned dose not taken",
        MissedDose,
        commands.record_missed_dose,
    )
    _dated(p, MissedDose)
    _option(p, MissedDose, "reason", help="why it was missed")

    p = _recorder(
        psub,
        "correct",
        "correct a recorded AE (its latest grade, onset, attribution, seriousness) or a dose's "
        "date, with a reason; prints the patient with the re-evaluated recommendation",
        Correction,
        commands.correct,
    )
    _option(p, Correction, "fact", help="what is corrected")
    _option(p, Correction, "ref", help="the AE's id, or the dose's date")
    _option(p, Correction, "reason", help="why the recorded value was wrong")
    _option(p, Correction, "grade", type=int, metavar="N", help="the AE's corrected grade")
    _option(p, Correction, "onset", metavar="YYYY-MM-DD", help="the AE's corrected onset")
    _option(p, Correction, "attribution", help="the AE's corrected attribution")
    _option(
        p,
        Correction,
        "serious",
        type=_yes_no,
        metavar="yes|no",
        help="the AE's corrected seriousness",
    )
    _option(p, Correction, "clinical_date", metavar="YYYY-MM-DD", help="the dose's corrected date")

    p = _recorder(
        psub,
        "in-error",
        "mark a recorded AE, dose or missed dose entered in error (the history keeps it)",
        EnteredInError,
        commands.mark_in_error,
    )
    _option(p, EnteredInError, "fact", help="what was entered in error")
    _option(p, EnteredInError, "ref", help="the AE's id, or the (missed) dose's date")
    _option(p, EnteredInError, "reason", help="why it should never have been recorded")

    p = _recorder(
        psub,
        "dose-action",
        "hold, reduce, resume or discontinue dosing (a departure from the recommendation needs "
        "--reason)",
        DoseAction,
        commands.record_dose_action,
    )
    p.add_argument(
        "action",
        choices=_literal_values(DoseAction.model_fields["action"].annotation),
        help="what the investigator does",
    )
    _dated(p, DoseAction)
    _option(p, DoseAction, "ae_id", metavar="AE_ID", help="the adverse event it acts on")
    _option(p, DoseAction, "reason", help="why (needed to depart from the recommendation)")
    _option(
        p,
        DoseAction,
        "at",
        help="resume at the same or the reduced dose (default: as the hold's rule says)",
    )
