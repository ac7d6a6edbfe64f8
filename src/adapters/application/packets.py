"""The safety review committee's packet of a trial: its record gathered here (the trial and its
patients replayed up to an instant, as the audit replay does, and where that record ends in the
audit chain), its content and page built by ``projections.src_packet``."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from adapters.application.queries import Queries
from adapters.persistence.audit_links import latest_link
from domain.errors import NotFound
from domain.reminder_schedule import eye_disorder_terms
from domain.trial import Trial
from projections.src_packet import Packet, build_packet
from projections.src_packet.record import packet_record, plain


class Packets(Queries):
    """SRC packets: a trial as recorded (now, or at an instant), bound to the audit chain."""

    def _history(self, ident: UUID, as_of: dt.datetime | None) -> list[Any]:
        """An aggregate's events recorded at or before ``as_of`` (all of them: None)."""
        history: list[Any] = []
        domain_event: Any
        for domain_event in self.events.get(ident):
            if as_of is not None and domain_event.timestamp > as_of:
                break
            history.append(domain_event)
        return history

    def src_packet_record(self, trial_id: UUID, as_of: dt.datetime | None = None) -> dict[str, Any]:
        """The record a packet is built from (``projections.src_packet.record``): the trial and
        its patients as recorded at ``as_of`` (UTC; None: the latest record), their events, and
        the log position and audit-chain head of the latest of those events."""
        trial_events = self._history(trial_id, as_of)
        if not trial_events and as_of is not None:
            first = self._history(trial_id, None)[:1]
            if first and isinstance(first[0], Trial.Registered):
                raise NotFound(
                    f"trial {trial_id} was not yet registered at {as_of}",
                    kind="trial",
                    ident=str(trial_id),
                )
        if not trial_events or not isinstance(trial_events[0], Trial.Registered):
            raise NotFound(f"no trial {trial_id}", kind="trial", ident=str(trial_id))
        trial = _fold(trial_events)
        patients = []
        for patient_id in trial.patient_cohort:
            history = self._history(patient_id, as_of)
            if history:
                patients.append((_fold(history), history))
        lasts = [trial_events[-1], *(history[-1] for _, history in patients)]
        link = latest_link(
            self.recorder, [(str(e.originator_id), e.originator_version) for e in lasts]
        )
        binding: dict[str, Any] = {
            "position": None if link is None else link.position,
            "chain_seq": None if link is None else link.seq,
            "chain_head": None if link is None else link.chain_hash,
            # The latest instant of the record (events saved together are stamped apart by
            # microseconds, not always in log order): an as-of packet at it is this record.
            "recorded_at": plain(max(e.timestamp for e in lasts)),
        }
        return packet_record(
            trial,
            trial_events,
            patients,
            eye_terms=eye_disorder_terms(self.catalogue),
            binding=binding,
            as_of=as_of,
        )

    def src_packet(
        self, trial_id: UUID, as_of: dt.datetime | None = None, *, paper: str = "a4"
    ) -> Packet:
        """The trial's SRC packet (its page, its SHA-256 and its facts; the plots are drawn
        with matplotlib, imported then), as recorded at ``as_of`` (UTC; None: the latest record)."""
        return build_packet(self.src_packet_record(trial_id, as_of), paper=paper)


def _fold(history: list[Any]) -> Any:
    aggregate = None
    for domain_event in history:
        aggregate = domain_event.mutate(aggregate)
    return aggregate
