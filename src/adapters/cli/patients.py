"""``doseledger patient ...``: enrol patients and record what happens to them.

This module holds the ``patient`` group, enrolment, the baseline exams, the first dose, the
DLT-window outcome and ``show``; what a site records on treatment, with the HTTP routes' bodies, is
in ``treatment``. Every command but ``show`` records clinical data: it names the duty
``CLINICAL_DATA``, so it runs with the roles the HTTP routes admit (``adapters.access``:
investigators), whatever the client.
"""

from __future__ import annotations

import argparse
from typing import Any

from adapters.access import CLINICAL_DATA
from adapters.application import DoseLedger
from adapters.cli import treatment
from adapters.cli.common import actor, date_arg, print_json, store_command, uuid_arg

ENROLMENT_SHOWN = ("subject_id", "cohort", "level", "enrolment_date", "site_time_zone")


def cmd_patient_show(args: argparse.Namespace, ledger: DoseLedger) -> None:
    print_json(ledger.patient(args.patient_id))


def cmd_patient_enrol(args: argparse.Namespace, ledger: DoseLedger) -> None:
    patient_id = ledger.enrol_patient(
        args.trial_id,
        args.site,
        actor(args),
        subject_id=args.subject_id,
        site_time_zone=args.site_time_zone,
        enrolment_date=args.enrolment_date,
    )
    patient = ledger.patient(patient_id)
    print_json({"patient_id": str(patient_id)} | {key: patient[key] for key in ENROLMENT_SHOWN})


def cmd_patient_eye_exam(args: argparse.Namespace, ledger: DoseLedger) -> None:
    ledger.record_eye_exam(
        args.patient_id,
        args.date,
        args.purpose,
        args.bcva_right,
        args.bcva_left,
        actor(args),
        slit_lamp_findings=args.slit_lamp or "",
    )
    print_json({"patient_id": str(args.patient_id), "recorded": f"{args.purpose}_eye_exam"})


def cmd_patient_skin_exam(args: argparse.Namespace, ledger: DoseLedger) -> None:
    ledger.record_baseline_skin_exam(args.patient_id, args.date, args.findings, actor(args))
    print_json({"patient_id": str(args.patient_id), "recorded": "baseline_skin_exam"})


def cmd_patient_start_dosing(args: argparse.Namespace, ledger: DoseLedger) -> None:
    ledger.start_dosing(args.patient_id, args.date, actor(args))
    print_json({"patient_id": str(args.patient_id), "recorded": "dosing_started"})


def cmd_patient_outcome(args: argparse.Namespace, ledger: DoseLedger) -> None:
    ledger.record_dlt_window_outcome(
        args.patient_id,
        args.outcome,
        args.date,
        actor(args),
        description=args.description or "",
        reason=args.reason or "",
        doses_taken_fraction=args.doses_taken,
    )
    print_json({"patient_id": str(args.patient_id), "recorded": args.outcome})


def register(sub: Any) -> None:
    """Add the ``patient`` command group to the top-level parser."""
    patient = sub.add_parser(
        "patient",
        help="enrol patients and record their events",
        description="Enrol patients and record their events: clinical data, recorded with "
        "--role investigator only (show: any role). show, ae, grade, skin, dose and "
        "dose-action take the HTTP API's fields and print its answer: the patient's state "
        "(GET /patients/{id}) plus what the command adds.",
    )
    psub = patient.add_subparsers(dest="patient_command", required=True, parser_class=type(patient))
    p = store_command(
        psub,
        "enrol",
        cmd_patient_enrol,
        "enrol a patient in the open cohort",
        duty=CLINICAL_DATA,
    )
    p.add_argument("trial_id", type=uuid_arg)
    p.add_argument("--site", required=True)
    p.add_argument("--subject-id")
    p.add_argument(
        "--site-time-zone",
        help="the site's IANA time zone, recorded at its first enrolment "
        "(default: the protocol's default_site_time_zone)",
    )
    p.add_argument(
        "--enrolment-date",
        type=date_arg,
        help="YYYY-MM-DD (default: the site's today; never after it, nor over 730 days before)",
    )
    p = store_command(
        psub, "eye-exam", cmd_patient_eye_exam, "record an eye exam", duty=CLINICAL_DATA
    )
    p.add_argument("patient_id", type=uuid_arg)
    p.add_argument("--date", type=date_arg, required=True)
    p.add_argument(
        "--purpose",
        choices=("baseline", "follow_up", "referral"),
        default="baseline",
        help="baseline (before the first dose), or on treatment follow_up or referral",
    )
    p.add_argument("--bcva-right", required=True, help="Snellen 20/x, 6/x or logMAR")
    p.add_argument("--bcva-left", required=True)
    p.add_argument("--slit-lamp")
    p = store_command(
        psub,
        "skin-exam",
        cmd_patient_skin_exam,
        "record the baseline skin examination",
        duty=CLINICAL_DATA,
    )
    p.add_argument("patient_id", type=uuid_arg)
    p.add_argument("--date", type=date_arg, required=True)
    p.add_argument(
        "--findings", required=True, help="pre-existing dermatologic conditions, or 'none'"
    )
    p = store_command(
        psub,
        "start-dosing",
        cmd_patient_start_dosing,
        "record the first dose",
        duty=CLINICAL_DATA,
    )
    p.add_argument("patient_id", type=uuid_arg)
    p.add_argument("--date", type=date_arg, required=True)
    p = store_command(
        psub,
        "dlt-outcome",
        cmd_patient_outcome,
        "record the DLT-window outcome (dlt, no_dlt, not_evaluable)",
        duty=CLINICAL_DATA,
    )
    p.add_argument("patient_id", type=uuid_arg)
    p.add_argument("outcome", choices=("dlt", "no_dlt", "not_evaluable"))
    p.add_argument("--date", type=date_arg, required=True)
    p.add_argument("--description")
    p.add_argument("--reason")
    p.add_argument(
        "--doses-taken",
        type=float,
        metavar="FRACTION",
        help="fraction of planned doses taken in the window (0-1)",
    )
    p = store_command(psub, "show", cmd_patient_show, "show a patient's current state")
    p.add_argument("patient_id", type=uuid_arg, help="the patient's id")
    treatment.register(psub)
