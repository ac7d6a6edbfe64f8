"""The library's PostgreSQL factory, building our recorders with the audit key; its pool checks
a connection as it is taken only when the server has said something to it (``postgres_pool``).

``adapters.persistence.environment`` names it in ``PERSISTENCE_MODULE``.
"""

from __future__ import annotations

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import Environment

from adapters.persistence.audit_key import audit_key_from
from adapters.persistence.factories import recorder_class
from adapters.persistence.postgres_pool import check_connections_when_signalled
from adapters.persistence.postgres_recorder import (
    ChainedPostgresApplicationRecorder,
    SnapshotRecorder,
)


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
        cls = recorder_class(
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
