"""The read-only EventLog a parallel rebuild's second process opens decodes every stored event
as the ledger itself does (``adapters.persistence.event_log``)."""

from __future__ import annotations

import subprocess
import sys

from adapters.application import DoseLedger
from adapters.bootstrap import build_read_models
from adapters.demo import record_demo_trial
from adapters.persistence.event_log import EventLog
from domain.protocol import template
from support import ae, dosing


def test_the_event_log_reads_and_decodes_every_event_as_the_ledger_does(
    ledger: DoseLedger,
) -> None:
    record_demo_trial(ledger)
    _, (pid,) = dosing(ledger, template("defactinib-paclitaxel"))
    ae(ledger, pid, "Fatigue", 2, 3, attribution="unrelated")
    log = EventLog(env=ledger.env)
    try:
        ours = ledger.recorder.select_notifications(None, 100_000)
        theirs = log.recorder.select_notifications(None, 100_000)
        assert len(ours) > 100
        assert [n.id for n in theirs] == [n.id for n in ours]
        decoded = [log.mapper.to_domain_event(n) for n in theirs]
        assert decoded == [ledger.mapper.to_domain_event(n) for n in ours]
        # Clinical dates included: the ledger's own transcoding, not the library's defaults.
        assert any(type(getattr(e, "clinical_date", None)).__name__ == "date" for e in decoded)
        assert log.mapper.transcoder.names.keys() == ledger.mapper.transcoder.names.keys()
    finally:
        log.close()


def test_a_second_process_opens_the_event_log_and_no_service_of_the_application(
    database_url: str,
) -> None:
    read_models = build_read_models(database_url)
    try:
        reopen = read_models.reopen
        assert reopen is EventLog
        source = f"{reopen.__module__}:{reopen.__qualname__}"
    finally:
        read_models.close()
    # What the second process imports: its module, then the source it is given.
    code = (
        "import sys, projections.parallel_rebuild as p; "
        f"p._resolve({source!r}); "
        "print(sorted(m for m in sys.modules if m.startswith('adapters.application')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
