"""Separation of duties on the console: each CLI command that records runs only with the roles its
HTTP twin admits (``adapters.access``), as the README says; any other --role exits 2 with one line
naming the command, the role and the roles allowed, and nothing is recorded. Reading stays open.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.routing import APIRoute
from test_cli_patient import PATIENT_COMMANDS, _subcommands

from adapters.access import (
    CLINICAL_DATA,
    CLINICAL_WRITERS,
    KEY_MANAGEMENT,
    SRC_SIGNATURE,
    TRIAL_MANAGEMENT,
    Duty,
)
from adapters.application import DoseLedger
from adapters.bootstrap import build_app
from adapters.cli import build_parser
from adapters.http.operation_ids import operation_id
from cli_runner import StoreCli
from domain.actors import ROLES
from domain.protocol import template
from support import DAY0, INVESTIGATOR, ae, day, dosing

# The CLI command of each HTTP route that has one: the patient commands, and the trial's.
HTTP_TWINS: dict[tuple[str, str], str] = {
    **{route: f"patient {name}" for route, name in PATIENT_COMMANDS.items() if name},
    ("GET", "/trials"): "trials",
    ("GET", "/trials/{trial_id}"): "trial show",
    ("POST", "/trials"): "trial register",
    ("POST", "/trials/{trial_id}/patients"): "patient enrol",
    ("POST", "/trials/{trial_id}/decisions"): "trial decide",
    ("POST", "/trials/{trial_id}/decisions/{cohort}/reviews"): "trial review-decision",
    ("GET", "/trials/{trial_id}/replay"): "replay",
    ("GET", "/trials/{trial_id}/exports/audit"): "audit export",
    ("GET", "/trials/{trial_id}/exports/sdtm/{domain}"): "export sdtm",
}
# HTTP writes of the trials and patients with no CLI command (yet).
NO_CLI_TWIN = {("POST", "/trials/{trial_id}/dlt-adjudications")}
# The commands that record nothing, or record as no --role (the demo's own actors, the
# scheduler's reminders): every role may run them, as an operator at the console.
OPEN_COMMANDS = {
    "three-plus-three", "simulate", "protocols", "rules evaluate", "rules show", "ctcae grade",
    "design boundaries", "next-dose",
    "projections rebuild", "projections catch-up", "projections check", "projections show",
    "projections run",
    "projections failures", "projections retry",
    "replay", "export sdtm", "audit verify", "audit export", "reminders due", "reminders tick",
    "serve", "scheduler", "keys list", "trials", "trial show", "patient show", "demo",
    "report src-packet",
}  # fmt: skip
AVUTOMETINIB = template("defactinib-avutometinib")
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> StoreCli:
    return StoreCli(capsys, database_url, monkeypatch)


def cli_commands() -> dict[str, Any]:
    """Every command of the CLI (``group command`` for a group's), with its parser."""
    found: dict[str, Any] = {}
    for name, parser in _subcommands(build_parser()).items():
        try:
            inner = _subcommands(parser)
        except ValueError:  # a command, not a group
            found[name] = parser
        else:
            found.update({f"{name} {sub}": p for sub, p in inner.items()})
    return found


def duty_of(command: str) -> Duty | None:
    """The duty a command names (None: any role may run it)."""
    duty: Duty | None = cli_commands()[command].get_default("duty")
    return duty


def refusal(command: str, duty: Duty, role: str) -> str:
    return (
        f"doseledger: error: {command} {duty.act}: --role {role} may not "
        f"(allowed: {', '.join(duty.roles)})"
    )


class Steps:
    """Run each command that records: refused for every other role, then run by its own."""

    def __init__(self, cli: StoreCli) -> None:
        self.cli = cli
        self.ran: list[str] = []

    def run(self, command: str, *args: str, duty: Duty) -> Any:
        assert duty_of(command) == duty, command
        words = command.split()
        for role in ROLES:
            if role not in duty.roles:
                line = self.cli.refused("--role", role, *words, *args)
                assert line == refusal(command, duty, role)
        (role,) = duty.roles
        self.ran.append(command)
        return self.cli.json("--role", role, *words, *args)


def test_every_command_that_records_runs_only_with_its_duty_s_roles(
    cli: StoreCli, ledger: DoseLedger
) -> None:
    steps = Steps(cli)
    run = steps.run
    # What the admin does: trials and API keys.
    new_trial = run("trial register", "--template", "defactinib-paclitaxel", duty=TRIAL_MANAGEMENT)
    key = run("keys create", "--role", "monitor", "--name", "CRA", duty=KEY_MANAGEMENT)
    run("keys revoke", key["id"], "--reason", "left the study", duty=KEY_MANAGEMENT)
    # What a site's investigator records (enrolment included).
    patient = run("patient enrol", new_trial["trial_id"], "--site", "S01", "--enrolment-date",
                  DAY0.isoformat(), duty=CLINICAL_DATA)["patient_id"]  # fmt: skip
    run("patient eye-exam", patient, "--date", str(day(0)), "--bcva-right", "20/20",
        "--bcva-left", "20/20", duty=CLINICAL_DATA)  # fmt: skip
    run("patient skin-exam", patient, "--date", str(day(0)), "--findings", "none",
        duty=CLINICAL_DATA)  # fmt: skip
    run("patient start-dosing", patient, "--date", str(day(1)), duty=CLINICAL_DATA)
    run("patient dose", patient, "--date", str(day(2)), duty=CLINICAL_DATA)
    run("patient missed-dose", patient, "--date", str(day(3)), "--reason", "ill",
        duty=CLINICAL_DATA)  # fmt: skip
    run("patient correct", patient, "--fact", "dose", "--ref", str(day(2)), "--date",
        str(day(4)), "--reason", "wrong day typed", duty=CLINICAL_DATA)  # fmt: skip
    run("patient in-error", patient, "--fact", "missed_dose", "--ref", str(day(3)), "--reason",
        "recorded on the wrong patient", duty=CLINICAL_DATA)  # fmt: skip
    fatigue = run("patient ae", patient, "--term", "Fatigue", "--grade", "1", "--onset",
                  str(day(5)), "--attribution", "possible", duty=CLINICAL_DATA)  # fmt: skip
    run("patient grade", patient, fatigue["adverse_event"]["ae_id"], "--grade", "0", "--date",
        str(day(6)), duty=CLINICAL_DATA)  # fmt: skip
    run("patient skin", patient, "--date", str(day(6)), "--location", "face", "--bsa", "5",
        "--symptoms", "mild", duty=CLINICAL_DATA)  # fmt: skip
    run("patient dose-action", patient, "hold", "--date", str(day(7)), "--reason",
        "investigator's review", duty=CLINICAL_DATA)  # fmt: skip
    run("patient dlt-outcome", patient, "not_evaluable", "--date", str(day(8)), "--reason",
        "withdrew consent", duty=CLINICAL_DATA)  # fmt: skip
    # What the safety review committee signs: a decision, then its re-review once a correction
    # changed the cohort's DLT count.
    trial_id, pids = dosing(ledger, AVUTOMETINIB, count=3)
    cpk = UUID(ae(ledger, pids[0], "CPK increased", 3, 5)["ae_id"])
    for pid in pids[1:]:
        ledger.record_dlt_window_outcome(pid, "no_dlt", day(28), INVESTIGATOR)
    run("trial decide", str(trial_id), "--cohort", "1", "--decision", "expand",
        duty=SRC_SIGNATURE)  # fmt: skip
    assert ledger.trial(trial_id)["cohorts"][0]["signed_by"] == "cli-tester"
    ledger.correct_adverse_event(pids[0], cpk, INVESTIGATOR, grade=2, reason="CPK re-read")
    run("trial review-decision", str(trial_id), "--cohort", "1", "--outcome", "decision_stands",
        "--reason", "one DLT fewer changes nothing", duty=SRC_SIGNATURE)  # fmt: skip

    recording = {name for name in cli_commands() if duty_of(name) is not None}
    assert sorted(steps.ran) == sorted(recording), "a command that records is not run here"


def test_each_command_records_or_is_open_to_every_role() -> None:
    commands = cli_commands()
    recording = {name for name in commands if duty_of(name) is not None}
    assert not recording & OPEN_COMMANDS
    assert recording | OPEN_COMMANDS == set(commands), "say who may run a new command"
    # Everything recorded about a patient is clinical data; the trial's writes are the SRC's
    # and the admin's; the keys are the admin's.
    assert {name for name in recording if duty_of(name) == CLINICAL_DATA} == {
        f"patient {name}" for name in PATIENT_COMMANDS.values() if name and name != "show"
    } | {"patient enrol"}
    assert {n for n in recording if duty_of(n) == SRC_SIGNATURE} == {
        "trial decide",
        "trial review-decision",
    }
    assert {n for n in recording if duty_of(n) == TRIAL_MANAGEMENT} == {"trial register"}
    assert {n for n in recording if duty_of(n) == KEY_MANAGEMENT} == {"keys create", "keys revoke"}
    # Admins record no clinical data, whichever client they use.
    assert "admin" not in CLINICAL_DATA.roles and CLINICAL_DATA.roles == CLINICAL_WRITERS


def _routes(routes: list[Any]) -> list[APIRoute]:
    flat: list[APIRoute] = []
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            flat.extend(_routes(included.routes))
        elif isinstance(route, APIRoute):
            flat.append(route)
    return flat


def _admitted(route: APIRoute) -> tuple[str, ...] | None:
    """The roles of the route's ``allow(...)`` dependency."""
    stack = list(route.dependant.dependencies)
    while stack:
        dependant = stack.pop()
        roles = getattr(dependant.call, "roles", None)
        if roles is not None:
            return tuple(roles)
        stack.extend(dependant.dependencies)
    return None


def test_a_cli_command_admits_the_roles_its_http_twin_admits(ledger: DoseLedger) -> None:
    commands = cli_commands()
    by_route = {
        (method, route.path): route
        for route in _routes(build_app(ledger).routes)
        for method in route.methods
    }
    assert set(HTTP_TWINS) <= set(by_route)
    assert set(HTTP_TWINS.values()) <= set(commands)
    writes = {
        (method, path)
        for method, path in by_route
        if method != "GET" and path.startswith(("/trials", "/patients"))
    }
    assert writes - set(HTTP_TWINS) == NO_CLI_TWIN
    for (method, path), command in HTTP_TWINS.items():
        route = by_route[(method, path)]
        duty = duty_of(command)
        if method == "GET":
            # Reading is open on the console (an operator with the store), keyed over HTTP.
            assert duty is None, (operation_id(route), command)
        else:
            assert duty is not None, (operation_id(route), command)
            assert _admitted(route) == duty.roles, (operation_id(route), command)


def test_reading_stays_open_to_every_role(cli: StoreCli, ledger: DoseLedger) -> None:
    trial_id, (pid,) = dosing(ledger, AVUTOMETINIB)
    reads = [
        ("trials",),
        ("trial", "show", str(trial_id)),
        ("patient", "show", str(pid)),
        ("replay", str(trial_id)),
        ("audit", "export", str(trial_id), "--format", "jsonl"),
        ("export", "sdtm", "--domain", "EX", str(trial_id)),
        ("audit", "verify"),
        ("reminders", "due"),
        ("keys", "list"),
    ]
    before = cli.events()
    for role in ROLES:
        for argv in reads:
            code, out, err = cli.run("--role", role, *argv)
            assert (code, err) == (0, ""), (role, argv)
            assert out
    assert cli.events() == before


def test_the_console_script_refuses_an_admin_recording_clinical_data(
    cli: StoreCli, ledger: DoseLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default role ($DOSELEDGER_ROLE, else admin) is checked as any --role is."""
    _, (pid,) = dosing(ledger, AVUTOMETINIB)
    argv = ("patient", "dose", str(pid), "--date", str(day(2)))
    assert cli.refused(*argv) == refusal("patient dose", CLINICAL_DATA, "admin")
    monkeypatch.setenv("DOSELEDGER_ROLE", "monitor")
    assert cli.refused(*argv) == refusal("patient dose", CLINICAL_DATA, "monitor")
    monkeypatch.setenv("DOSELEDGER_ROLE", "investigator")
    assert json.loads(cli.run(*argv)[1])["doses_recorded"] == 2


def readme_cli_roles() -> dict[str, set[str]]:
    """The README's table of who may run the CLI's commands that record: {command: roles}.
    A bare name in a row is a command of the group named before it (`patient enrol`, `ae`)."""
    section = README.read_text().split("**Who may run what.**", 1)[1].split("\n\n", 2)[1]
    table: dict[str, set[str]] = {}
    for row in section.splitlines()[2:]:
        commands, roles = (cell.strip() for cell in row.strip().strip("|").split("|"))
        group = ""
        for name in re.findall(r"`([^`]+)`", commands):
            group = name.split()[0] if " " in name else group
            table[name if " " in name else f"{group} {name}"] = set(re.findall(r"`(\w+)`", roles))
    return table


def test_the_readme_says_which_role_runs_each_command_that_records() -> None:
    recording = {name: duty_of(name) for name in cli_commands()}
    assert readme_cli_roles() == {
        name: set(duty.roles) for name, duty in recording.items() if duty is not None
    }
