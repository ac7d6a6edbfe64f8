"""Sample SRC packets: the demo trial's, and a 30-patient trial's recorded through the ledger.

    .venv/bin/python scripts/packet_samples.py [--out docs/packet] [--screenshots]

Writes ``demo.html`` and ``trial-30.html`` (and with ``--screenshots``, Debian's ``chromium``
on PATH: a 1,280-pixel-wide PNG and a PDF of each). ``record_escalation`` is the trial story
``bench_report.py`` times too: a 3+3 escalation over as many dose levels as the patients need,
with AEs of every grade, DLTs, patients replaced, holds and a reduced resumption, recorded like
a site and a committee would, on a clock that moves with the story.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger
from adapters.demo import INVESTIGATORS, REGISTRAR, SRC_CHAIR, record_demo_trial
from adapters.logging import configure_logging
from adapters.persistence.environment import persistence_env
from domain.actors import Actor
from domain.ae_report import AdverseEventReport, SkinAssessment
from domain.protocol import protocol_from_mapping, template

# Per cohort, one letter per patient: N no DLT, T a DLT (CPK grade 4), R a DLT (rash grade 3),
# E not evaluable (replaced), W still in the DLT window; lower case: no DLT, and in cycle 2 an AE
# (c: CPK grade 3 held and resumed; r: rash grade 3 held, resumed one rung lower; n: nausea
# grade 2; v: blurred vision grade 1).
THIRTY = ["NNN", "NnN", "NTc", "NEnN", "NNv", "RNN", "NrEN", "TNN", "NNEN"]
THIRTY_LEVELS = 6
CLOCK_START = dt.datetime(2024, 1, 2, 12, tzinfo=dt.UTC)


def escalation_protocol(levels: int) -> Any:
    """The avutometinib regimen over ``levels`` dose levels of rising avutometinib."""
    data: dict[str, Any] = template("defactinib-avutometinib").model_dump(mode="json")
    data["id"] = f"defactinib-avutometinib-{levels}-levels"
    data["title"] = f"Defactinib + avutometinib, {levels} dose levels"
    defactinib = data["dose_levels"][0]["doses"][0]
    avutometinib = data["dose_levels"][0]["doses"][1]
    data["dose_levels"] = [
        {
            "level": level,
            "doses": [defactinib, {**avutometinib, "amount": round(0.8 * level, 1)}],
        }
        for level in range(1, levels + 1)
    ]
    data["reduction_ladders"] = {"defactinib": data["reduction_ladders"]["defactinib"]}
    return protocol_from_mapping(data)


def story_for(patients: int) -> list[str]:
    """Cohort letters for about ``patients`` patients, escalating four levels every 16."""
    cohorts, count = [], 0
    block = ["NnN", "NTc", "NNv", "NrN", "NEcN"]
    while count < patients:
        letters = block[len(cohorts) % len(block)]
        cohorts.append(letters)
        count += len(letters)
    return cohorts


def record_escalation(
    ledger: DoseLedger,
    cohorts: list[str],
    levels: int,
    advance: Callable[[dt.date], None],
    start: dt.date,
) -> UUID:
    """Record the escalation ``cohorts`` describe, over ``levels`` dose levels, following the
    3+3 recommendation; ``advance(day)`` moves the clock to a day. The last cohort is left for
    the committee to decide."""
    patients = sum(len(c) for c in cohorts)
    trial_id = ledger.register_trial(
        escalation_protocol(levels), REGISTRAR, name=f"FAK-130: a {patients}-patient escalation"
    )
    sites = list(INVESTIGATORS)
    day, n = start, 0
    for number, letters in enumerate(cohorts, start=1):
        last = number == len(cohorts)
        for letter in letters:
            investigator = INVESTIGATORS[sites[n % len(sites)]]
            n += 1
            advance(day + dt.timedelta(days=1))
            pid = ledger.enrol_patient(
                trial_id, sites[(n - 1) % len(sites)], investigator, enrolment_date=day
            )
            ledger.record_baseline_eye_exam(pid, day, "20/20", "20/20", investigator)
            ledger.record_baseline_skin_exam(pid, day, "none", investigator)
            ledger.start_dosing(pid, day + dt.timedelta(days=1), investigator)
            _window(ledger, pid, letter, day + dt.timedelta(days=1), investigator, advance)
            day += dt.timedelta(days=1)
        day += dt.timedelta(days=30)
        advance(day)
        rec = ledger.trial(trial_id)["recommendation"]
        if rec is None or last:
            break
        decision = rec["action"]
        ledger.sign_decision(
            trial_id, number, decision, SRC_CHAIR, meaning="approval", mtd_level=rec["mtd"]
        )
        if decision in ("declare_mtd", "stop_no_mtd"):
            break
    return trial_id


def _window(
    ledger: DoseLedger,
    pid: UUID,
    letter: str,
    first: dt.date,
    inv: Actor,
    advance: Callable[[dt.date], None],
) -> None:
    def on(offset: int) -> dt.date:
        when = first + dt.timedelta(days=offset)
        advance(when)
        return when

    if letter == "W":
        return
    if letter == "E":
        ledger.record_dlt_window_outcome(pid, "not_evaluable", on(9), inv, reason="withdrew")
        return
    if letter == "T":
        report = AdverseEventReport(
            term="CPK increased",
            onset=on(12),
            attribution="probable",
            measurement={"value": 2480, "uln": 200},
        )
        ae = ledger.record_adverse_event(pid, report, inv)
        ledger.record_dose_action(pid, "hold", on(12), inv, ae_id=UUID(ae["ae_id"]))
        return
    if letter == "R":
        ledger.record_skin_assessment(pid, SkinAssessment(on(10), "face", 35, "moderate"), inv)
        ledger.record_dose_action(pid, "hold", on(10), inv)
        return
    if letter in "nv":
        grade = 2 if letter == "n" else 1
        term = "Nausea" if letter == "n" else "Blurred vision"
        extra: dict[str, Any] = {"eye": "left", "bcva": "20/20"} if letter == "v" else {}
        report = AdverseEventReport(
            term=term,
            grade=grade if letter == "n" else None,
            onset=on(6),
            attribution="possible",
            **extra,
        )
        ledger.record_adverse_event(pid, report, inv)
    ledger.record_dlt_window_outcome(pid, "no_dlt", on(27), inv)
    if letter == "c":
        report = AdverseEventReport(
            term="CPK increased",
            onset=on(33),
            attribution="possible",
            measurement={"value": 1400, "uln": 200},
        )
        ae_id = UUID(ledger.record_adverse_event(pid, report, inv)["ae_id"])
        ledger.record_dose_action(pid, "hold", on(33), inv, ae_id=ae_id)
        ledger.change_ae_grade(pid, ae_id, 1, on(40), inv)
        ledger.record_dose_action(pid, "resume", on(41), inv, at="same")
    elif letter == "r":
        ledger.record_skin_assessment(pid, SkinAssessment(on(31), "chest", 35, "moderate"), inv)
        ledger.record_dose_action(pid, "hold", on(31), inv)
        ledger.record_skin_assessment(pid, SkinAssessment(on(38), "chest", 5, "none"), inv)
        ledger.record_dose_action(pid, "resume", on(39), inv, at="reduced")


class MovingClock:
    """A clock the story moves forward: the site's today is always the day being recorded."""

    def __init__(self) -> None:
        self.now = CLOCK_START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, day: dt.date) -> None:
        at = dt.datetime.combine(day, dt.time(23, 0), tzinfo=dt.UTC)
        self.now = max(self.now, at)


def thirty_patient_trial(url: str) -> tuple[DoseLedger, UUID]:
    """A store with the 30-patient escalation (its ledger left open on the moving clock)."""
    clock = MovingClock()
    ledger = build_ledger(env=persistence_env(url), clock=clock)
    trial_id = record_escalation(ledger, THIRTY, THIRTY_LEVELS, clock.advance, CLOCK_START.date())
    return ledger, trial_id


def _screenshots(html: Path) -> None:
    browser = shutil.which("chromium")
    if browser is None:
        raise SystemExit("--screenshots needs Debian's chromium on PATH")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ]
    with tempfile.TemporaryDirectory() as profile:
        for extra in (
            [f"--screenshot={html.with_suffix('.png')}", "--window-size=1280,2400"],
            [f"--print-to-pdf={html.with_suffix('.pdf')}", "--no-pdf-header-footer"],
        ):
            subprocess.run(
                [browser, *flags, f"--user-data-dir={profile}", *extra, html.resolve().as_uri()],
                check=True,
                capture_output=True,
            )


def main() -> None:
    """Record both trials in throwaway SQLite stores and write their packets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/packet", type=Path)
    parser.add_argument("--screenshots", action="store_true", help="PNG and PDF with chromium")
    args = parser.parse_args()
    configure_logging("WARNING")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        demo = build_ledger(env=persistence_env(f"sqlite:///{tmp}/demo.db"))
        written = [(args.out / "demo.html", demo.src_packet(record_demo_trial(demo)))]
        demo.close()
        ledger, trial_id = thirty_patient_trial(f"sqlite:///{tmp}/thirty.db")
        written.append((args.out / "trial-30.html", ledger.src_packet(trial_id)))
        ledger.close()
    for path, packet in written:
        path.write_text(packet.html, encoding="utf-8")
        print(f"{path}: {len(packet.html.encode())} bytes, sha256 {packet.sha256}")
        if args.screenshots:
            _screenshots(path)


if __name__ == "__main__":
    main()
