"""The audit chain's key: the application's DOSELEDGER_AUDIT_KEY, or one kept beside a SQLite file.

A factory, unlike a recorder, sees the application's environment (the library's, which the
settings fill through ``adapters.persistence.environment``), so the factories read the key here
and hand it to the recorders, as the library's own factory reads ``CIPHER_KEY``. There is no
public default key: without the variable a SQLite store gets a random key generated once and kept
beside its file (``PATH.audit-key``, mode 0600; a throw-away in-memory store, one per process),
and a PostgreSQL store refuses to open.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import structlog
from eventsourcing.utils import Environment

from adapters.persistence.environment import AUDIT_KEY_VAR
from domain.errors import InvalidInput

# Beside a SQLite file PATH, when DOSELEDGER_AUDIT_KEY is unset: PATH + this suffix (mode 0600).
KEY_FILE_SUFFIX = ".audit-key"
MIN_KEY_LENGTH = 16
# The key of a throw-away in-memory SQLite store without DOSELEDGER_AUDIT_KEY (this process's).
_MEMORY_KEY = secrets.token_urlsafe(32)


def audit_key_from(env: Environment) -> bytes:
    """DOSELEDGER_AUDIT_KEY from the application's environment; else, for a SQLite store, the
    key kept beside its file (generated the first time); a PostgreSQL store needs the variable."""
    key = env.get(AUDIT_KEY_VAR)
    if key:
        return key.encode()
    dbname = env.get("SQLITE_DBNAME")
    if dbname:
        return local_audit_key(dbname).encode()
    raise InvalidInput(
        f"{AUDIT_KEY_VAR} is not set: a PostgreSQL store needs the audit chain's secret key "
        f"(at least {MIN_KEY_LENGTH} characters) in {AUDIT_KEY_VAR}",
        field=AUDIT_KEY_VAR,
    )


def key_file(dbname: str) -> Path | None:
    """Where a SQLite store's generated audit key is kept (None: an in-memory store)."""
    if dbname == ":memory:" or dbname.startswith("file::memory:") or "mode=memory" in dbname:
        return None
    return Path(dbname).expanduser().with_name(Path(dbname).name + KEY_FILE_SUFFIX)


def _read_key(path: Path) -> str:
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < MIN_KEY_LENGTH:
        raise InvalidInput(
            f"the audit key in {path} is shorter than {MIN_KEY_LENGTH} characters",
            field=AUDIT_KEY_VAR,
        )
    return key


def local_audit_key(dbname: str) -> str:
    """A SQLite store's audit key without DOSELEDGER_AUDIT_KEY: read from ``PATH.audit-key``,
    or generated (random, 256 bits) and written there once with mode 0600, atomically (of two
    processes starting at once, both end up with the key the first linked into place)."""
    path = key_file(dbname)
    if path is None:
        return _MEMORY_KEY
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    draft = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (secrets.token_urlsafe(32) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(draft, path)
        # Where the key is, never the key itself (INFO: quiet in the CLI's one-line answers).
        structlog.get_logger("doseledger.audit").info(
            "generated the audit key",
            path=str(path),
            note=f"keep it (mode 0600) with the store, or set {AUDIT_KEY_VAR}",
        )
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return _read_key(path)
