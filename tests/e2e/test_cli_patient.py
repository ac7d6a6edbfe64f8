"""``doseledger patient ...`` as a site uses it: every HTTP patient command, with the HTTP answer.

One patient is recorded through the CLI and its twin, in a trial of its own, through the HTTP API;
each answer of the CLI must be the HTTP answer but for the ids (and the subject id)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.application import DoseLedger
from adapters.bootstrap import build_app, build_ledger
from adapters.cli import build_parser
from adapters.http.schemas import (
    AdverseEventBody,
    ClinicalDate,
    DoseAction,
    GradeChange,
    Measurement,
    SkinAssessmentBody,
)
from adapters.persistence.environment import persistence_env
from cli_runner import StoreCli
from domain.actors import Actor
from domain.protocol import template
from http_api import Api

SITE_INVESTIGATOR = Actor(user_id="inv-setup", role="investigator")
INV = ("--role", "investigator")  # the CLI records clinical data as an investigator only
BASE = dt.date.today() - dt.timedelta(days=60)
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# The ``patient`` command of each HTTP patient route (None: a read model, no command).
PATIENT_COMMANDS: dict[tuple[str, str], str | None] = {
    ("GET", "/patients/{patient_id}"): "show",
    ("POST", "/patients/{patient_id}/eye-exams"): "eye-exam",
    ("POST", "/patients/{patient_id}/skin-exams"): "skin-exam",
    ("POST", "/patients/{patient_id}/dosing"): "start-dosing",
    ("POST", "/patients/{patient_id}/doses"): "dose",
    ("POST", "/patients/{patient_id}/missed-doses"): "missed-dose",
    ("POST", "/patients/{patient_id}/corrections"): "correct",
    ("POST", "/patients/{patient_id}/entered-in-error"): "in-error",
    ("POST", "/patients/{patient_id}/adverse-events"): "ae",
    ("POST", "/patients/{patient_id}/adverse-events/{ae_id}/grades"): "grade",
    ("POST", "/patients/{patient_id}/skin-assessments"): "skin",
    ("POST", "/patients/{patient_id}/dose-actions"): "dose-action",
    ("POST", "/patients/{patient_id}/dlt-outcome"): "dlt-outcome",
    ("GET", "/patients/{patient_id}/timeline"): None,  # a read model, not a command
}


def day(n: int) -> str:
    return (BASE + dt.timedelta(days=n)).isoformat()


def dosing_patient(ledger: DoseLedger) -> str:
    """A patient of a trial of its own, with baseline exams and a first dose on day 1."""
    trial_id = ledger.register_trial(template("defactinib-avutometinib"), SITE_INVESTIGATOR)
    patient_id = ledger.enrol_patient(trial_id, "S01", SITE_INVESTIGATOR, enrolment_date=BASE)
    ledger.record_eye_exam(patient_id, BASE, "baseline", "20/20", "20/25", SITE_INVESTIGATOR)
    ledger.record_baseline_skin_exam(patient_id, BASE, "none", SITE_INVESTIGATOR)
    ledger.start_dosing(patient_id, BASE + dt.timedelta(days=1), SITE_INVESTIGATOR)
    return str(patient_id)


def masked(answer: dict[str, Any]) -> Any:
    """The answer without its subject id, each id replaced by its order of first appearance."""
    text = json.dumps({k: v for k, v in answer.items() if k != "subject_id"})
    seen: dict[str, str] = {}
    return json.loads(_ID.sub(lambda m: seen.setdefault(m.group(), f"id-{len(seen)}"), text))


class Twins:
    """The same commands for a CLI patient and an HTTP patient; the answers must agree.

    A command is written as typed, with PATIENT and AE (the last AE recorded) for the ids."""

    def __init__(self, cli: StoreCli, api: Api, ledger: DoseLedger) -> None:
        self.cli, self.api = cli, api
        self.ids = {"cli": dosing_patient(ledger), "http": dosing_patient(ledger)}
        self.ae_ids: dict[str, list[str]] = {"cli": [], "http": []}

    def _fill(self, side: str, text: str) -> str:
        ae = self.ae_ids[side][-1] if self.ae_ids[side] else "no AE yet"
        return text.replace("PATIENT", self.ids[side]).replace("AE", ae)

    def _post(self, side: str, path: str, body: dict[str, Any], status: int) -> Any:
        sent = {k: self._fill(side, v) if isinstance(v, str) else v for k, v in body.items()}
        url = self._fill(side, f"/patients/PATIENT{path}")
        return self.api.call("POST", url, "inv", status, json=sent).json()

    def record(self, command: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """``patient COMMAND`` for one, ``POST /patients/{id}PATH`` for the other: same answer."""
        ran = self.cli.json(*INV, "patient", *(self._fill("cli", a) for a in shlex.split(command)))
        answered = self._post("http", path, body, 201)
        assert masked(ran) == masked(answered)
        for side, answer in (("cli", ran), ("http", answered)):
            if "adverse_event" in answer:
                self.ae_ids[side].append(answer["adverse_event"]["ae_id"])
        return dict(ran)

    def refused(self, command: str, path: str, body: dict[str, Any]) -> str:
        """Refused by both, the CLI's one line being the HTTP problem's detail."""
        words = (self._fill("cli", a) for a in shlex.split(command))
        line = self.cli.refused(*INV, "patient", *words)
        assert line == f"doseledger: error: {self._post('http', path, body, 422)['detail']}"
        return line


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> StoreCli:
    return StoreCli(capsys, database_url, monkeypatch)


@pytest.fixture
def twins(cli: StoreCli, ledger: DoseLedger) -> Iterator[Twins]:
    api = Api(ledger, {"inv": ("investigator", "S01")})
    yield Twins(cli, api, ledger)


def test_each_patient_command_answers_as_the_http_route_does(twins: Twins) -> None:
    cpk = twins.record(
        f"ae PATIENT --term 'CPK increased' --value 1500 --uln 200 --onset {day(10)} "
        "--attribution possible",
        "/adverse-events",
        {
            "term": "CPK increased",
            "measurement": {"value": 1500, "uln": 200},
            "onset": day(10),
            "attribution": "possible",
        },
    )["adverse_event"]
    assert (cpk["grade"], cpk["recommendation"]["action"], cpk["dlt"]["verdict"]) == (
        3,
        "withhold",
        "dlt",
    )
    held = twins.record(
        f"dose-action PATIENT hold --date {day(10)} --ae-id AE",
        "/dose-actions",
        {"action": "hold", "clinical_date": day(10), "ae_id": "AE"},
    )
    assert held["dosing"] == "withheld"
    assert "withheld from" in twins.refused(
        f"dose PATIENT --date {day(11)}", "/doses", {"clinical_date": day(11)}
    )
    graded = twins.record(
        f"grade PATIENT AE --grade 1 --date {day(18)}",
        "/adverse-events/AE/grades",
        {"grade": 1, "clinical_date": day(18)},
    )
    assert graded["recommendation"]["action"] == "resume"
    twins.record(
        f"dose-action PATIENT resume --date {day(19)} --at same",
        "/dose-actions",
        {"action": "resume", "clinical_date": day(19), "at": "same"},
    )
    dosed = twins.record(f"dose PATIENT --date {day(20)}", "/doses", {"clinical_date": day(20)})
    assert dosed["dosing"] == "on treatment"
    skin = twins.record(
        f"skin PATIENT --date {day(21)} --location face --bsa 8 --symptoms mild "
        "--ctcae-version 4.0 --ctcae-version-reason 'the dermatologist grades v4.0' "
        "--attribution probable",
        "/skin-assessments",
        {
            "clinical_date": day(21),
            "location": "face",
            "bsa_percent": 8,
            "symptoms": "mild",
            "ctcae_version": "4.0",
            "ctcae_version_reason": "the dermatologist grades v4.0",
            "attribution": "probable",
        },
    )["skin_assessment"]
    assert skin["grade"] == 1 and skin["recommendation"]["action"] == "continue"
    severe = twins.record(
        f"skin PATIENT --date {day(22)} --location 'face, chest and back' --bsa 40 "
        "--symptoms severe --intolerable",
        "/skin-assessments",
        {
            "clinical_date": day(22),
            "location": "face, chest and back",
            "bsa_percent": 40,
            "symptoms": "severe",
            "intolerable": True,
        },
    )["skin_assessment"]
    assert severe["recommendation"]["action"] == "withhold"
    platelets = twins.record(
        f"ae PATIENT --term 'Platelet count decreased' --grade 3 --onset {day(23)} "
        "--attribution unlikely --serious --with-bleeding --not-clinically-significant "
        "--duration-days 4 --ctcae-version 5.0",
        "/adverse-events",
        {
            "term": "Platelet count decreased",
            "grade": 3,
            "onset": day(23),
            "attribution": "unlikely",
            "serious": True,
            "with_bleeding": True,
            "clinically_significant": False,
            "duration_days": 4,
            "ctcae_version": "5.0",
        },
    )
    assert platelets["adverse_events"][-1]["serious"] is True
    stopped = twins.record(
        f"dose-action PATIENT discontinue --date {day(24)} --reason 'SRC advice'",
        "/dose-actions",
        {"action": "discontinue", "clinical_date": day(24), "reason": "SRC advice"},
    )
    assert stopped["dosing"] == "discontinued"
    shown = twins.cli.json("patient", "show", twins.ids["cli"])
    assert shown == {k: v for k, v in stopped.items() if k in shown}
    assert masked(shown) == masked(
        twins.api.call("GET", f"/patients/{twins.ids['http']}", "inv", 200).json()
    )


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["ae", "{patient}", "--term", "Nausea", "--grade", "7"], "--grade 7: Input should be"),
        (["ae", "{patient}", "--term", "Nausea", "--grade", "4"], "allowed grades: 1, 2, 3"),
        (["ae", "{patient}", "--term", "Nauseous", "--grade", "2"], "did you mean 'Nausea'?"),
        (["ae", "{patient}", "--term", "CPK increased", "--uln", "200"], "--value: field required"),
        (
            ["ae", "{patient}", "--term", "CPK increased", "--value", "100", "--uln", "200"],
            "not an adverse event",
        ),
        (["ae", "{patient}", "--term", "Nausea", "--grade", "two"], "invalid int value: 'two'"),
        (
            ["ae", "{patient}", "--term", "", "--grade", "2"],
            "--term '': String should have at least 1",
        ),
        (
            ["ae", "{patient}", "--term", "Nausea", "--grade", "2", "--onset", "2026-13-01"],
            "--onset '2026-13-01'",
        ),
        (
            ["ae", "{patient}", "--term", "Nausea", "--attribution", "maybe"],
            "invalid choice: 'maybe'",
        ),
        (
            [
                "grade",
                "{patient}",
                "00000000-0000-0000-0000-000000000001",
                "--grade",
                "1",
                "--date",
                "{day}",
            ],
            "no adverse event",
        ),
        (
            ["skin", "{patient}", "--date", "{day}", "--bsa", "120", "--symptoms", "mild"],
            "--bsa 120.0: Input should be less than or equal to 100",
        ),
        (
            ["skin", "{patient}", "--date", "{day}", "--bsa", "8", "--symptoms", "itchy"],
            "invalid choice: 'itchy'",
        ),
        (
            ["dose", "{patient}", "--date", "20260101"],
            "--date: '20260101' is not a date (YYYY-MM-DD)",
        ),
        (["dose", "{patient}", "--date", "2026-02-30"], "--date '2026-02-30': day is out of range"),
        (["dose", "00000000-0000-0000-0000-000000000000", "--date", "{day}"], "no patient"),
        (["show", "00000000-0000-0000-0000-000000000000"], "no patient"),
        (["dose-action", "{patient}", "pause", "--date", "{day}"], "invalid choice: 'pause'"),
        (
            ["dose-action", "{patient}", "hold", "--date", "{day}", "--ae-id", "x"],
            "--ae-id 'x': Input should be a valid UUID",
        ),
        (["dose-action", "{patient}", "hold", "--date", "{day}"], "reason"),
        (
            ["dose-action", "{patient}", "resume", "--date", "{day}", "--at", "lower"],
            "invalid choice: 'lower'",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line_and_records_nothing(
    cli: StoreCli, ledger: DoseLedger, argv: list[str], fragment: str
) -> None:
    patient_id = dosing_patient(ledger)
    if argv[0] == "ae" and "--onset" not in argv:
        argv = [*argv, "--onset", day(5)]
    if argv[0] == "ae" and "--attribution" not in argv:
        argv = [*argv, "--attribution", "possible"]
    filled = [a.format(patient=patient_id, day=day(5)) for a in argv]
    assert fragment in cli.refused(*INV, "patient", *filled)


def test_every_http_patient_route_has_a_cli_command_with_every_body_field(
    sqlite_url: str,
) -> None:
    ledger = build_ledger(env=persistence_env(sqlite_url))
    try:
        paths = build_app(ledger).openapi()["paths"]
    finally:
        ledger.close()
    routes = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/patients/")
        for method in operations
    }
    assert routes == set(PATIENT_COMMANDS)
    patient = _subcommands(build_parser())["patient"]
    cli_commands = _subcommands(patient)
    assert {c for c in PATIENT_COMMANDS.values() if c} <= set(cli_commands)
    measured = set(Measurement.model_fields)
    for name, schema in [
        ("ae", AdverseEventBody),
        ("grade", GradeChange),
        ("skin", SkinAssessmentBody),
        ("dose", ClinicalDate),
        ("dose-action", DoseAction),
    ]:
        dests = {action.dest for action in cli_commands[name]._actions}
        fields = set(schema.model_fields)
        if "measurement" in fields:
            fields = fields - {"measurement"} | measured
        assert fields <= dests, (name, fields - dests)


def _subcommands(parser: Any) -> dict[str, Any]:
    (group,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return dict(group.choices)


def test_the_console_script_records_an_ae_and_refuses_a_bad_one(sqlite_url: str) -> None:
    store = build_ledger(env=persistence_env(sqlite_url))
    script = Path(sys.executable).with_name("doseledger")
    env = {**os.environ, "DOSELEDGER_DATABASE_URL": sqlite_url}
    try:
        patient_id = dosing_patient(store)
        answers = []
        for term, grade in (("Fatigue", "2"), ("Nausea", "5")):
            before = store.recorder.max_notification_id()
            done = subprocess.run(
                shlex.split(
                    f"{script} --role investigator patient ae {patient_id} --term {term} "
                    f"--grade {grade} --onset {day(5)} --attribution possible"
                ),
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            answers.append((done, before, store.recorder.max_notification_id()))
    finally:
        store.close()
    (done, before, after), (bad, unchanged, still) = answers
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["adverse_event"]["term"] == "Fatigue" and after > before
    assert (bad.returncode, bad.stdout, still) == (2, "", unchanged)
    assert bad.stderr.splitlines() == [
        "doseledger: error: Nausea has no grade 5 in CTCAE v5.0; allowed grades: 1, 2, 3"
    ]
