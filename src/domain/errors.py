"""Domain errors. Every refused command raises one of these before any event is triggered."""

from __future__ import annotations


class DomainError(Exception):
    """Base class of every error the domain raises on purpose."""


class CommandRefused(DomainError):
    """A command broke a rule; nothing was recorded.

    ``rule`` names the guard (a stable, machine-readable slug) and ``field`` the input at
    fault, when there is one, so that adapters can point at it (CLI message, problem+json).
    """

    def __init__(self, message: str, *, rule: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.rule = rule
        self.field = field


class InvalidInput(DomainError, ValueError):
    """A value is malformed or out of range (bad outcome string, negative lab value, ...)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError, LookupError):
    """The named trial, patient or template does not exist."""

    def __init__(self, message: str, *, kind: str, ident: str) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.ident = ident


class VersionMismatch(DomainError):
    """The client's expected version (If-Match) is not the aggregate's current version."""

    def __init__(self, message: str, *, current: int) -> None:
        super().__init__(message)
        self.current = current


class ConcurrencyConflict(DomainError):
    """Somebody else changed the aggregate first; reload and try again."""
