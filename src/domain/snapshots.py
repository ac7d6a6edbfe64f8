"""Snapshots whose aggregate state the library's JSON transcoder can store, and read back equal.

The library's ``Snapshot.take`` stores the aggregate's ``__dict__`` as it is; ours holds dicts
keyed by UUID, mutable dataclasses and pydantic value objects, which JSON cannot carry. An
``AggregateSnapshot`` stores the state encoded by ``STATE_CODEC`` (see ``domain.state_codec``)
and decodes it when the snapshot is applied. Each aggregate declares its own subclass, named
``Snapshot`` (where the application looks for it), with an explicit ``TOPIC`` and a
``class_version``; the topic is registered when the class is defined, so stored snapshots
resolve to it wherever the class lives.

Versioning: a change to an aggregate's attributes bumps the aggregate's ``class_version`` and
adds ``upcast_vN_vN+1(state)`` on the aggregate (run on the decoded state, as the library
does); a change to the stored layout itself bumps the snapshot class's ``class_version`` and
adds an upcaster there (run by the mapper on the stored fields). Snapshots are only a cache
of the events: deleting them is always safe, loading then replays the events.

Layouts. Version 1 stored the codec's object layout (``STATE_CODEC.encode``) as JSON objects,
which the library's transcoder decodes with a Python hook per object and a conversion per
UUID or date before the codec walks it all again: on a long-lived patient (dozens of AE
episodes and recommendations) that was most of a load. Version 2 stores ``state`` as one
JSON text (``STATE_CODEC.dumps``), a single string for the transcoder, parsed in C and
walked once. Version 3 (``STATE_CODEC.dumps``) is the compact text: a header names each
dataclass's fields once, each instance is the list of its values, and ``STATE_CODEC.loads``
rebuilds tagged objects from the C parser's object hook, without a walk over the state in
Python (the state of a patient with 25 AE episodes decodes in about half the time).
``upcast_v1_v2`` and ``upcast_v2_v3`` turn stored earlier versions into version 3, so
snapshots taken before still load (until the next snapshot of the aggregate replaces them).
"""

from __future__ import annotations

from typing import Any, Self, cast
from uuid import UUID

from eventsourcing.domain import (
    BaseAggregate,
    MutableOrImmutableAggregate,
    ProgrammingError,
    Snapshot,
)
from eventsourcing.utils import get_topic, register_topic

from domain.adverse_event import AdverseEvent, Hold
from domain.cohort import Cohort
from domain.protocol import AgentDose, Protocol
from domain.state_codec import StateCodec

# Stable names for the classes that appear in aggregate state. Never rename a name: stored
# snapshots refer to it. A new class gets a new name.
STATE_CODEC = StateCodec()
STATE_CODEC.register_dataclass("cohort", Cohort)
STATE_CODEC.register_dataclass("adverse_event", AdverseEvent)
STATE_CODEC.register_dataclass("hold", Hold)
STATE_CODEC.register_model("protocol", Protocol)
STATE_CODEC.register_model("agent_dose", AgentDose)

# Attributes of every Aggregate that the snapshot carries in its own fields instead.
_CARRIED = ("_id", "_version", "_pending_events")


class AggregateSnapshot(Snapshot):
    """A snapshot whose ``state`` is the aggregate's ``__dict__`` encoded by ``STATE_CODEC``."""

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        topic = cls.__dict__.get("TOPIC")
        if not isinstance(topic, str) or not topic:
            raise ProgrammingError(f"snapshot class {cls.__qualname__} needs an explicit TOPIC")
        register_topic(topic, cls)

    @classmethod
    def take(cls, aggregate: MutableOrImmutableAggregate[UUID]) -> Self:
        """Snapshot the aggregate's current state."""
        state = {k: v for k, v in vars(aggregate).items() if k not in _CARRIED}
        class_version = getattr(type(aggregate), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        return cls(
            originator_id=aggregate.id,
            originator_version=aggregate.version,
            timestamp=cls.create_timestamp(),
            topic=get_topic(type(aggregate)),
            # One JSON text: the library declares ``state`` a dict, but stores any JSON value.
            state=cast(Any, STATE_CODEC.dumps(state)),
        )

    @staticmethod
    def upcast_v1_v2(stored: dict[str, Any]) -> None:
        """Version 1 (the codec's object layout) to version 2 (one JSON text)."""
        stored["state"] = STATE_CODEC.dumps_v2(STATE_CODEC.decode(stored["state"]))

    @staticmethod
    def upcast_v2_v3(stored: dict[str, Any]) -> None:
        """Version 2 (one JSON text, dataclass fields by name) to version 3 (compact text)."""
        stored["state"] = STATE_CODEC.dumps(STATE_CODEC.loads_v2(stored["state"]))

    def mutate(self, _: None) -> BaseAggregate[UUID]:
        """Rebuild the aggregate from the decoded state (upcast as the library does)."""
        decoded = Snapshot(
            originator_id=self.originator_id,
            originator_version=self.originator_version,
            timestamp=self.timestamp,
            topic=self.topic,
            state=cast(dict[str, Any], STATE_CODEC.loads(cast(Any, self.state))),
        )
        return decoded.mutate(None)
