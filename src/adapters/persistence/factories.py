"""The library's SQLite factory, building our recorder with the audit key (the PostgreSQL one
is ``postgres_factory``'s, so that a SQLite process never imports the driver).

``adapters.persistence.environment`` names them in ``PERSISTENCE_MODULE``. A recorder class
named in the library's ``APPLICATION_RECORDER_TOPIC`` must subclass ours, so that no store is
opened without its audit chain.
"""

from __future__ import annotations

from typing import TypeVar

from eventsourcing.persistence import ApplicationRecorder, ProgrammingError
from eventsourcing.sqlite import SQLiteFactory
from eventsourcing.utils import Environment, resolve_topic

from adapters.persistence.audit_key import audit_key_from
from adapters.persistence.sqlite_recorder import ChainedSQLiteApplicationRecorder

R = TypeVar("R")


def recorder_class(env: Environment, topic_var: str, default: type[R]) -> type[R]:
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
        cls = recorder_class(
            self.env, self.APPLICATION_RECORDER_TOPIC, ChainedSQLiteApplicationRecorder
        )
        recorder = cls(datastore=self.datastore, audit_key=audit_key_from(self.env))
        if self.env_create_table():
            recorder.create_table()
        self._recorder = recorder
        return recorder

    def close(self) -> None:
        """The library's, and the connections the recorder opened of its own."""
        recorder: ChainedSQLiteApplicationRecorder | None = getattr(self, "_recorder", None)
        if recorder is not None:
            recorder.close_own_connections()
        super().close()
