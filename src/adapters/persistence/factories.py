"""The library's SQLite and PostgreSQL factories, building our recorders with the audit key.

``adapters.persistence.environment`` names them in ``PERSISTENCE_MODULE``. A recorder class
named in the library's ``APPLICATION_RECORDER_TOPIC`` must subclass ours, so that no store is
opened without its audit chain.
"""

from __future__ import annotations

from typing import TypeVar

from eventsourcing.persistence import ApplicationRecorder, ProgrammingError
from eventsourcing.postgres import PostgresFactory
from eventsourcing.sqlite import SQLiteFactory
from eventsourcing.utils import Environment, resolve_topic

from adapters.persistence.audit_key import audit_key_from
from adapters.persistence.postgres_pool import check_connections_when_signalled
from adapters.persistence.postgres_recorder import (
    ChainedPostgresApplicationRecorder,
    SnapshotRecorder,
)
from adapters.persistence.sqlite_recorder import ChainedSQLiteApplicationRecorder

R = TypeVar("R")


def _recorder_class(env: Environment, topic_var: str, default: type[R]) -> type[R]:
    topic = env.get(topic_var)
    if not topic:
        return default
    cls = resolve_topic(topic)
    if not (isinstance(cls, type) and issubclass(cls, default)):
        msg = f"{topic_var} '{topic}' must name a subclass of {default.__qualname__}"
        raise ProgrammingError(msg)
    return cls


class ChainedSQLiteFactory(SQLiteFactory):
    """The library's SQLite factory, with the audit-chain application recorder."""

    application_recorder_class = ChainedSQLiteApplicationRecorder

    def application_recorder(self) -> ApplicationRecorder:
        cls = _recorder_class(
            self.env, self.APPLICATION_RECORDER_TOPIC, ChainedSQLiteApplicationRecorder
        )
        recorder = cls(datastore=self.datastore, audit_key=audit_key_from(self.env))
        if self.env_create_table():
            recorder.create_table()
        self._readers = recorder.readers
        return recorder

    def close(self) -> None:
        """The library's, and the recorder's per-thread read connections."""
        readers = getattr(self, "_readers", None)
        if readers is not None:
            readers.close()
        super().close()


class ChainedPostgresFactory(PostgresFactory):
    """The library's PostgreSQL factory, with the audit-chain application recorder."""

    aggregate_recorder_class = SnapshotRecorder
    application_recorder_class = ChainedPostgresApplicationRecorder

    def __init__(self, env: Environment) -> None:
        super().__init__(env)
        if self.datastore.pre_ping:
            # Checked as taken, but pinged only when the server has said something.
            check_connections_when_signalled(self.datastore.pool)

    def application_recorder(self) -> ApplicationRecorder:
        cls = _recorder_class(
            self.env, self.APPLICATION_RECORDER_TOPIC, ChainedPostgresApplicationRecorder
        )
        prefix = self.env.name.lower() or "stored"
        recorder = cls(
            datastore=self.datastore,
            events_table_name=prefix + "_events",
            audit_key=audit_key_from(self.env),
        )
        if self.env_create_table():
            recorder.create_table()
        return recorder
