"""Snapshots: aggregate state stored every N events, a cache in front of the events.

The library's ``Snapshot.take`` stores the aggregate's ``__dict__`` as it is; ours holds dicts
keyed by UUID, dataclasses and pydantic value objects, which JSON cannot carry. An
``AggregateSnapshot`` stores the state as one JSON text of ``STATE_CODEC``
(``adapters.persistence.state_codec``), which the library's transcoder keeps as a single
string; it serves every aggregate (its ``topic`` field names the aggregate's class).

One layout, never upcast. The store (``SnapshotStore``) uses a stored snapshot only if it is
of ``AggregateSnapshot.TOPIC``, names the classes and fields registered below as they are now,
and carries the aggregate class's current ``class_version``. Any other snapshot is set aside
as if absent (logged at INFO): the aggregate is replayed from its events and snapshotted
again at its next interval, which then serves later loads. So:

- a change to an aggregate's attributes bumps the aggregate's ``class_version``, and so does a
  change to a registered pydantic model (stored as its dump, validated again when read);
- a change to a registered dataclass's fields needs nothing more (the text names them);
- a change to this class's fields or to the codec's text takes a new ``TOPIC``.

Snapshots of earlier layouts (``doseledger:trial.Snapshot`` and ``doseledger:patient.Snapshot``,
``class_version`` 1 to 3) are set aside by their topic, which is never resolved. A snapshot that
cannot be read for any other reason is a failure: logged as an error, and then set aside or
raised as the application's ``DOSELEDGER_SNAPSHOT_FAILURES`` says.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Self, cast
from uuid import UUID

import structlog
from eventsourcing.domain import (
    BaseAggregate,
    CanSnapshotAggregate,
    DomainEvent,
    MutableOrImmutableAggregate,
    Snapshot,
)
from eventsourcing.persistence import AggregateRecorder, EventStore, Mapper, StoredEvent
from eventsourcing.utils import get_topic, register_topic, resolve_topic

from adapters.persistence.environment import SnapshotFailures
from adapters.persistence.state_codec import StaleState, StateCodec
from domain.adverse_event import AdverseEvent
from domain.cohort import Cohort
from domain.patient.dosing_record import DayRuns
from domain.patient.requirements import HoldPeriod, Requirement
from domain.protocol import AgentDose, Protocol

# Stable names for the classes that appear in aggregate state; a new class gets a new name.
STATE_CODEC = StateCodec()
STATE_CODEC.register_dataclass("cohort", Cohort)
STATE_CODEC.register_dataclass("adverse_event", AdverseEvent)
STATE_CODEC.register_dataclass("requirement", Requirement)
STATE_CODEC.register_dataclass("hold_period", HoldPeriod)
STATE_CODEC.register_dataclass("day_runs", DayRuns)
STATE_CODEC.register_model("protocol", Protocol)
STATE_CODEC.register_model("agent_dose", AgentDose)

# Attributes of every Aggregate that the snapshot carries in its own fields instead.
_CARRIED = ("_id", "_version", "_pending_events")
log = structlog.get_logger("doseledger.snapshots")


@dataclass(frozen=True)
class AggregateSnapshot(CanSnapshotAggregate[UUID], DomainEvent):
    """An aggregate's state at a version: its class's ``topic`` and ``state``, the encoded text."""

    TOPIC = "doseledger:snapshot"
    class_version = 1

    topic: str
    state: str

    @classmethod
    def take(cls, aggregate: MutableOrImmutableAggregate[UUID]) -> Self:
        """Snapshot the aggregate's current state (with its class_version, as the library's)."""
        state = {k: v for k, v in vars(aggregate).items() if k not in _CARRIED}
        class_version = getattr(type(aggregate), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        return cls(
            originator_id=aggregate.id,
            originator_version=aggregate.version,
            timestamp=cls.create_timestamp(),
            topic=get_topic(type(aggregate)),
            state=STATE_CODEC.dumps(state),
        )

    def decode(self) -> Snapshot:
        """The library's snapshot of the decoded state; ``StaleState`` if it is not the
        current layout of the aggregate's class."""
        cls = resolve_topic(self.topic)
        state: dict[str, Any] = STATE_CODEC.loads(self.state)
        stored, current = state.get("class_version", 1), getattr(cls, "class_version", 1)
        if stored != current:
            raise StaleState(f"{self.topic} state of class_version {stored}, not {current}")
        return Snapshot(
            originator_id=self.originator_id,
            originator_version=self.originator_version,
            timestamp=self.timestamp,
            topic=self.topic,
            state=state,
        )

    def mutate(self, _: None) -> BaseAggregate[UUID]:
        """Rebuild the aggregate from the decoded state."""
        return self.decode().mutate(None)


register_topic(AggregateSnapshot.TOPIC, AggregateSnapshot)


class SnapshotStore(EventStore[UUID]):
    """The library's snapshot store, handing out only snapshots of the current layout,
    decoded (the library's ``Snapshot``); see the module docstring."""

    def __init__(
        self, mapper: Mapper[UUID], recorder: AggregateRecorder, *, failures: SnapshotFailures
    ) -> None:
        super().__init__(mapper, recorder)
        self.failures = failures

    def get(
        self,
        originator_id: UUID,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Iterator[Snapshot]:
        """The stored snapshots that are of the current layout, decoded."""
        for stored in self.recorder.select_events(
            originator_id, gt=gt, lte=lte, desc=desc, limit=limit
        ):
            snapshot = self._read(stored)
            if snapshot is not None:
                yield snapshot

    def _read(self, stored: StoredEvent) -> Snapshot | None:
        where = {"aggregate_id": str(stored.originator_id), "version": stored.originator_version}
        if stored.topic != AggregateSnapshot.TOPIC:
            log.info("snapshot of an earlier layout set aside", topic=stored.topic, **where)
            return None
        try:
            snapshot = cast(AggregateSnapshot, self.mapper.to_domain_event(stored))
            return snapshot.decode()
        except StaleState as stale:
            log.info("snapshot of an earlier layout set aside", reason=str(stale), **where)
            return None
        except Exception as exc:
            log.error("snapshot unreadable; its events are replayed instead", exc_info=exc, **where)
            if self.failures == "raise":
                raise
            return None
