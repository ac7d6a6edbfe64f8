"""``doseledger patient dose --deviation-reason``, ``missed-dose``, ``correct``, ``in-error`` and
``trial review-decision`` as a site and the SRC type them: JSON out, refusals exit 2 with one
line and leave the store unchanged."""

from __future__ import annotations

import pytest
from test_cli import cli  # noqa: F401  (the fixture)

from cli_runner import StoreCli

INV = ("--role", "investigator")


def _dosing(cli: StoreCli) -> str:  # noqa: F811
    trial = cli.json("trial", "register", "--template", "defactinib-avutometinib")["trial_id"]
    enrolled = cli.json(*INV, "patient", "enrol", trial, "--site", "S1", "--enrolment-date",
                        "2026-03-01")  # fmt: skip
    pid = enrolled["patient_id"]
    cli.json(*INV, "patient", "eye-exam", pid, "--date", "2026-03-01", "--bcva-right", "20/20",
             "--bcva-left", "20/20")  # fmt: skip
    cli.json(*INV, "patient", "skin-exam", pid, "--date", "2026-03-01", "--findings", "none")
    cli.json(*INV, "patient", "start-dosing", pid, "--date", "2026-03-02")
    return str(pid)


def test_deviation_missed_dose_correction_and_entry_in_error(cli: StoreCli) -> None:  # noqa: F811
    pid = _dosing(cli)
    ae = cli.json(*INV, "patient", "ae", pid, "--term", "CPK increased", "--grade", "3",
                  "--onset", "2026-03-06", "--attribution", "possible")  # fmt: skip
    ae_id = ae["adverse_event"]["ae_id"]
    assert "protocol deviation" in cli.refused(*INV, "patient", "dose", pid, "--date", "2026-03-07")
    given = cli.json(*INV, "patient", "dose", pid, "--date", "2026-03-07",
                     "--deviation-reason", "taken before the result came back")  # fmt: skip
    assert given["deviation"] is True
    missed = cli.json(*INV, "patient", "missed-dose", pid, "--date", "2026-03-04")
    assert missed["missed_doses"] == ["2026-03-04"]
    assert "--grade 9" in cli.refused(
        *INV, "patient", "correct", pid, "--fact", "adverse_event", "--ref", ae_id,
        "--grade", "9", "--reason", "typo",
    )  # fmt: skip
    line = cli.refused(*INV, "patient", "correct", pid, "--fact", "adverse_event", "--ref", ae_id,
                       "--grade", "2")  # fmt: skip
    assert "--reason" in line
    corrected = cli.json(*INV, "patient", "correct", pid, "--fact", "adverse_event",
                         "--ref", ae_id, "--grade", "2", "--reason", "value re-read")  # fmt: skip
    assert corrected["adverse_events"][0]["grade"] == 2
    assert corrected["requirements"] == []
    moved = cli.json(*INV, "patient", "correct", pid, "--fact", "dose", "--ref", "2026-03-07",
                     "--date", "2026-03-08", "--reason", "wrong day typed")  # fmt: skip
    assert moved["doses_recorded"] == 2
    line = cli.refused(*INV, "patient", "in-error", pid, "--fact", "missed_dose",
                       "--ref", "2026-03-05", "--reason", "x")  # fmt: skip
    assert "no missed dose" in line
    state = cli.json(*INV, "patient", "in-error", pid, "--fact", "missed_dose",
                     "--ref", "2026-03-04", "--reason", "diary misread")  # fmt: skip
    assert state["missed_doses"] == []


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("--fact", "adverse_event", "--ref", "nope", "--grade", "2", "--reason", "r"), "ref"),
        (("--fact", "lab", "--ref", "x", "--reason", "r"), "--fact"),
        (("--fact", "dose", "--ref", "2026-03-02", "--reason", "r"), "clinical_date"),
        (("--fact", "dose", "--ref", "2026-03-02", "--grade", "2", "--reason", "r"), "no grade"),
        (("--fact", "adverse_event", "--ref", "x", "--date", "2026-03-03", "--reason", "r"),
         "no clinical_date"),
        (("--fact", "dose", "--ref", "2026-03-02", "--date", "2099-01-01", "--reason", "r"),
         "future"),
    ],
)  # fmt: skip
def test_bad_corrections_exit_2_and_record_nothing(
    cli: StoreCli,  # noqa: F811
    argv: tuple[str, ...],
    says: str,
) -> None:
    pid = _dosing(cli)
    assert says in cli.refused(*INV, "patient", "correct", pid, *argv)


def test_a_re_review_of_an_unflagged_decision_exits_2(cli: StoreCli) -> None:  # noqa: F811
    trial = cli.json("trial", "register", "--template", "defactinib-avutometinib")["trial_id"]
    line = cli.refused("--role", "src_member", "trial", "review-decision", trial, "--cohort", "1",
                       "--outcome", "decision_stands", "--reason", "checked")  # fmt: skip
    assert "not flagged for re-review" in line
