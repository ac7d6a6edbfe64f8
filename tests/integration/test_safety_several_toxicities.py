"""Patient safety, story 2: several toxicities at once (domain.md §5a).

Each open AE carries its own requirement; dosing follows the most restrictive. On the old code
(0183fb4) the patient had one hold and one open recommendation: a CPK recovery recommended
resuming over a rash's discontinuation, an AE arriving during a hold was "already withheld"
and dropped (no window of its own, resumption at the first AE's rung), and a dose against an
open discontinue requirement was recorded as an ordinary dose.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from adapters.application import DoseLedger
from domain.errors import CommandRefused
from domain.protocol import template
from support import INVESTIGATOR, ae, audit_rows, day, dosing

AVUTOMETINIB = template("defactinib-avutometinib")


def refused(ledger: DoseLedger, rule: str, command: Any, *args: Any, **kw: Any) -> None:
    """The command is refused with ``rule`` and appends nothing."""
    before = ledger.recorder.max_notification_id()
    with pytest.raises(CommandRefused) as caught:
        command(*args, **kw)
    assert caught.value.rule == rule
    assert ledger.recorder.max_notification_id() == before


def requirement(ledger: DoseLedger, pid: UUID, ae_id: UUID) -> dict[str, Any]:
    (found,) = [r for r in ledger.patient(pid)["requirements"] if r["ae_id"] == str(ae_id)]
    return found


def test_cpk_recovery_never_lifts_a_rash_discontinuation(ledger: DoseLedger) -> None:
    _, (pid,) = dosing(ledger, AVUTOMETINIB)
    ledger.administer_dose(pid, day(34), INVESTIGATOR)
    cpk = UUID(ae(ledger, pid, "CPK increased", 3, 35)["ae_id"])
    ledger.record_dose_action(pid, "hold", day(35), INVESTIGATOR, ae_id=cpk)
    rash = ae(ledger, pid, "Rash acneiform", 4, 38)
    rec = rash["recommendation"]
    assert (rec["action"], rec["discontinue_all_agents"]) == ("discontinue", True)
    rash_id = UUID(rash["ae_id"])

    # CPK back to grade 1: every withhold is met, but the rash still asks to discontinue.
    assert ledger.change_ae_grade(pid, cpk, 1, day(40), INVESTIGATOR) is None
    patient = ledger.patient(pid)
    assert patient["dosing"] == "withheld"
    assert requirement(ledger, pid, rash_id)["action"] == "discontinue"
    assert all(r["action"] != "resume" for r in patient["requirements"])

    for reason in ("", "CPK recovered, patient wants to continue"):
        refused(
            ledger,
            "discontinuation_required",
            ledger.record_dose_action,
            pid,
            "resume",
            day(41),
            INVESTIGATOR,
            reason=reason,
        )
    # Inside the hold no dose is recorded, not even as a deviation.
    refused(
        ledger,
        "dose_withheld",
        ledger.administer_dose,
        pid,
        day(41),
        INVESTIGATOR,
        deviation_reason="patient took it at home",
    )
    state = ledger.record_dose_action(pid, "discontinue", day(41), INVESTIGATOR, ae_id=rash_id)
    assert state["discontinued_agents"] == ["avutometinib", "defactinib"]
    assert state["dosing"] == "discontinued"
    # A later recovery of the rash lifts nothing.
    ledger.change_ae_grade(pid, rash_id, 1, day(50), INVESTIGATOR)
    assert ledger.patient(pid)["dosing"] == "discontinued"
    refused(ledger, "treatment_discontinued", ledger.administer_dose, pid, day(51), INVESTIGATOR)
    refused(
        ledger,
        "treatment_discontinued",
        ledger.record_dose_action,
        pid,
        "resume",
        day(51),
        INVESTIGATOR,
        reason="rash gone",
    )


def test_a_dose_against_an_open_discontinuation_only_as_a_deviation_with_a_reason(
    ledger: DoseLedger,
) -> None:
    trial_id, (pid,) = dosing(ledger, AVUTOMETINIB)
    ae(ledger, pid, "Rash acneiform", 4, 35)  # discontinue both drugs: not yet acted on
    refused(ledger, "dose_against_requirement", ledger.administer_dose, pid, day(36), INVESTIGATOR)
    refused(
        ledger,
        "dose_against_requirement",
        ledger.administer_dose,
        pid,
        day(36),
        INVESTIGATOR,
        deviation_reason="   ",
    )

    deviation = ledger.administer_dose(
        pid, day(36), INVESTIGATOR, deviation_reason="dose taken before the visit"
    )

    assert deviation is True
    patient = ledger.patient(pid)
    assert patient["deviations"] == 1
    assert patient["doses_recorded"] == 2
    rows = [r for r in audit_rows(ledger, trial_id) if r["event"] == "DoseDeviationRecorded"]
    assert len(rows) == 1
    assert rows[0]["reason"] == "dose taken before the visit"
    assert rows[0]["clinical_date"] == day(36).isoformat()


def test_an_ae_arriving_during_a_hold_gets_its_own_window_and_resume_waits_for_both(
    ledger: DoseLedger,
) -> None:
    _, (pid,) = dosing(ledger, AVUTOMETINIB)
    rash = UUID(ae(ledger, pid, "Rash acneiform", 3, 35)["ae_id"])  # withhold, resume reduced
    ledger.record_dose_action(pid, "hold", day(35), INVESTIGATOR, ae_id=rash)
    cpk_report = ae(ledger, pid, "CPK increased", 4, 38)
    rec = cpk_report["recommendation"]
    assert (rec["action"], rec["within_days"]) == ("withhold", 21)  # not "already withheld"
    cpk = UUID(cpk_report["ae_id"])

    state = ledger.record_dose_action(pid, "hold", day(38), INVESTIGATOR, ae_id=cpk)

    assert state["holds"] == [{"start": day(35).isoformat(), "end": None}]
    cpk_req = requirement(ledger, pid, cpk)
    assert (cpk_req["action"], cpk_req["held_since"]) == ("withhold", day(38).isoformat())
    assert cpk_req["deadline"] == day(38 + 21).isoformat()
    assert requirement(ledger, pid, rash)["deadline"] is None
    assert state["hold"]["deadline"] == day(59).isoformat()

    # The rash recovers first: the CPK withhold is still unmet, so no resume.
    assert ledger.change_ae_grade(pid, rash, 1, day(42), INVESTIGATOR) is None
    refused(
        ledger, "reason_required", ledger.record_dose_action, pid, "resume", day(43), INVESTIGATOR
    )
    # CPK recovers in time: every condition met, resume at the lowest rung any requires.
    resume = ledger.change_ae_grade(pid, cpk, 1, day(50), INVESTIGATOR)
    assert resume is not None and (resume["action"], resume["resume"]) == ("resume", "reduced")
    refused(
        ledger,
        "reason_required",
        ledger.record_dose_action,
        pid,
        "resume",
        day(51),
        INVESTIGATOR,
        at="same",
    )
    state = ledger.record_dose_action(pid, "resume", day(51), INVESTIGATOR)
    assert state["doses"] == ["defactinib 200 mg QD", "avutometinib 3.2 mg twice weekly"]
    assert state["requirements"] == []
    assert state["holds"] == [{"start": day(35).isoformat(), "end": day(51).isoformat()}]
    ledger.administer_dose(pid, day(52), INVESTIGATOR)


def test_resume_is_at_the_reduced_rung_when_the_ae_that_arrived_during_the_hold_needs_it(
    ledger: DoseLedger,
) -> None:
    _, (pid,) = dosing(ledger, AVUTOMETINIB)
    cpk = UUID(ae(ledger, pid, "CPK increased", 3, 35)["ae_id"])  # resume at the same dose
    ledger.record_dose_action(pid, "hold", day(35), INVESTIGATOR, ae_id=cpk)
    rash = UUID(ae(ledger, pid, "Rash acneiform", 3, 37)["ae_id"])  # resume reduced
    ledger.change_ae_grade(pid, cpk, 1, day(40), INVESTIGATOR)
    refused(
        ledger, "reason_required", ledger.record_dose_action, pid, "resume", day(41), INVESTIGATOR
    )
    resume = ledger.change_ae_grade(pid, rash, 1, day(44), INVESTIGATOR)
    assert resume is not None and resume["resume"] == "reduced"
    state = ledger.record_dose_action(pid, "resume", day(45), INVESTIGATOR)
    assert state["doses"][0] == "defactinib 200 mg QD"
