"""Read models and exports: cohorts, safety table, timelines, audit trail, SDTM datasets."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Depends, Query
from fastapi.responses import PlainTextResponse, Response

from adapters.access import AUDITORS, PACKET_READERS, READERS, TRIAL_READERS
from adapters.http.auth import Principal, allow
from adapters.http.consistency import Models
from adapters.http.deps import Ledger
from adapters.http.openapi_parts import ok
from adapters.http.pages import After, Limit, key, page, position
from adapters.http.routers import api_router
from adapters.http.routes.trials import ERRORS
from adapters.http.schemas import IsoInstant
from adapters.http.views import (
    AuditPage,
    CohortSummary,
    PatientTimeline,
    Replay,
    SafetyTable,
)

router = api_router(tags=["read models"], responses=ERRORS)
Auditor = Annotated[Principal, Depends(allow(*AUDITORS))]
TrialReader = Annotated[Principal, Depends(allow(*TRIAL_READERS))]
PacketReader = Annotated[Principal, Depends(allow(*PACKET_READERS))]
MEDIA = {"csv": "text/csv", "jsonl": "application/x-ndjson", "html": "text/html"}
_TEXT = {"schema": {"type": "string"}}  # a download: CSV, JSON lines or HTML text
_DISPOSITION = {
    "Content-Disposition": {
        "description": 'A download: attachment; filename="<trial id>-<kind>.<extension>"',
        "schema": {"type": "string"},
    }
}

AsOf = Annotated[
    IsoInstant | None, Query(description="ISO 8601 instant with offset, e.g. 2026-03-02T14:30:00Z")
]


@router.get(
    "/trials/{trial_id}/cohorts",
    summary="Cohort summary (read model)",
    responses=ok(CohortSummary),
)
def cohorts(trial_id: UUID, models: Models, who: TrialReader) -> Any:
    """Per cohort and dose level: enrolled, evaluable, DLTs, recommendation, SRC decision."""
    return models.read(lambda p: p.cohort_summary(trial_id), "cohort_summary")


@router.get(
    "/trials/{trial_id}/safety-table",
    summary="Safety table (read model)",
    responses=ok(SafetyTable),
)
def safety_table(trial_id: UUID, models: Models, who: TrialReader) -> Any:
    """Patients by AE term × worst CTCAE grade × dose level."""
    return models.read(lambda p: p.safety_table(trial_id), "safety_table")


@router.get(
    "/patients/{patient_id}/timeline",
    summary="Patient timeline (read model), its entries a page at a time",
    responses=ok(PatientTimeline),
)
def timeline(
    patient_id: UUID,
    ledger: Ledger,
    models: Models,
    who: Annotated[Principal, Depends(allow(*READERS))],
    after: After = None,
    limit: Limit = 100,
) -> Any:
    """Doses, AEs and grades, holds and resumptions, exams, recommendations, in order: the
    patient and a page of its `entries`, with `next`; pass `next` as `after` for the next page."""
    who.check_patient(patient_id, ledger.patient(patient_id)["site_id"])
    start = key(after, 2)
    found = models.read(
        lambda p: p.patient_timeline(
            patient_id, after=None if start is None else (start[0], start[1]), limit=limit + 1
        ),
        "patient_timeline",
        "timeline_doses",
    )
    return found | page(
        found["entries"], limit, "entries", lambda row: (row["position"], row["seq"])
    )


@router.get(
    "/trials/{trial_id}/audit",
    summary="Audit trail (read model), a page at a time",
    responses=ok(AuditPage),
)
def audit(
    trial_id: UUID,
    models: Models,
    who: TrialReader,
    as_of: AsOf = None,
    after: After = None,
    limit: Limit = 100,
) -> Any:
    """One row per event, in log order: who, role, when recorded, clinical date, change, reason,
    client: `{"rows": [...], "next": ...}`; pass `next` as `after` for the next page."""
    start = position(after)
    rows = models.read(
        lambda p: p.audit_trail(trial_id, _utc(as_of), after=start, limit=limit + 1),
        "audit_trail",
    )
    return page(rows, limit, "rows", lambda row: (row["position"],))


@router.get(
    "/trials/{trial_id}/replay",
    summary="The trial as recorded at an instant",
    responses=ok(Replay),
)
def replay(trial_id: UUID, ledger: Ledger, who: TrialReader, as_of: AsOf = None) -> Any:
    """Rebuilt from events (not from read models): the trial and its patients at ``as_of``."""
    return ledger.replay(trial_id, _utc(as_of))


@router.get(
    "/trials/{trial_id}/exports/audit",
    summary="Export the audit trail (auditors)",
    response_class=PlainTextResponse,
    responses={200: {"content": {m: _TEXT for m in MEDIA.values()}, "headers": _DISPOSITION}},
)
def export_audit(
    trial_id: UUID,
    ledger: Ledger,
    models: Models,
    who: Auditor,
    format: Literal["csv", "jsonl", "html"] = "csv",
) -> Response:
    """The audit trail as CSV, JSON lines, or a self-contained printable HTML report; a download
    named ``<trial id>-audit.<format>``."""
    return Response(
        ledger.audit_export(
            trial_id, format, models.read(lambda q: q.audit_trail(trial_id), "audit_trail")
        ),
        media_type=MEDIA[format],
        headers=_attachment(f"{trial_id}-audit.{format}"),
    )


@router.get(
    "/trials/{trial_id}/exports/sdtm/{domain}",
    summary="SDTM AE or EX (auditors)",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/csv": _TEXT}, "headers": _DISPOSITION}},
)
def export_sdtm(
    trial_id: UUID, domain: Literal["AE", "EX"], ledger: Ledger, who: Auditor
) -> Response:
    """A CDISC SDTM-style dataset of the trial as CSV; a download named
    ``<trial id>-sdtm-<domain>.csv``."""
    return Response(
        ledger.sdtm(trial_id, domain),
        media_type="text/csv",
        headers=_attachment(f"{trial_id}-sdtm-{domain.lower()}.csv"),
    )


@router.get(
    "/trials/{trial_id}/src-packet",
    summary="The SRC packet: what a dose-escalation meeting reads (HTML)",
    response_class=PlainTextResponse,
    responses={
        200: {
            "content": {"text/html": _TEXT},
            "headers": {
                **_DISPOSITION,
                "X-Packet-SHA256": {
                    "description": "The packet's SHA-256, as its footer states it (a decision "
                    "may cite it: packet_sha256)",
                    "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                },
            },
        }
    },
)
def get_src_packet(
    trial_id: UUID,
    ledger: Ledger,
    who: PacketReader,
    as_of: AsOf = None,
    paper: Annotated[
        Literal["a4", "letter"], Query(description="printed page size (landscape)")
    ] = "a4",
) -> Response:
    """The safety review committee's packet as one self-contained HTML page (inline SVG plots,
    no script): state, escalation and swimmer plots, DLT listing, AE summary, open items, the
    recommendation and its rule, bound to the record (log position, audit-chain head) with its
    own SHA-256; as recorded at ``as_of`` (default: the latest record). A download named
    ``<trial id>-src-packet.html``."""
    packet = ledger.src_packet(trial_id, _utc(as_of), paper=paper)
    headers = _attachment(f"{trial_id}-src-packet.html") | {"X-Packet-SHA256": packet.sha256}
    return Response(packet.html, media_type="text/html", headers=headers)


def _attachment(filename: str) -> dict[str, str]:
    # The name is built from a UUID and fixed words: nothing to quote or escape.
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)
