"""Who recorded something: the attributable part of every event (ALCOA+ 'attributable')."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from domain.errors import InvalidInput

Role = Literal["investigator", "src_member", "monitor", "auditor", "integration", "admin", "system"]
ROLES: tuple[str, ...] = get_args(Role)


@dataclass(frozen=True, slots=True)
class Actor:
    """A person or system acting in a role; stored on every event it causes."""

    user_id: str
    role: str
    name: str | None = None
    client: str | None = None
    request_id: str | None = None

    def __post_init__(self) -> None:
        if not self.user_id or not self.user_id.strip():
            raise InvalidInput("actor: user id must not be empty", field="user_id")
        if self.role not in ROLES:
            raise InvalidInput(
                f"actor: unknown role '{self.role}'; roles: {', '.join(ROLES)}", field="role"
            )

    def as_record(self) -> dict[str, Any]:
        """The actor as stored on events (only the fields that are set)."""
        # Not dataclasses.asdict: it deep-copies recursively and this runs on every command.
        fields = (
            ("user_id", self.user_id),
            ("role", self.role),
            ("name", self.name),
            ("client", self.client),
            ("request_id", self.request_id),
        )
        return {key: value for key, value in fields if value is not None}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Actor:
        """Rebuild an actor from its stored form."""
        return cls(**record)


SYSTEM = Actor(user_id="doseledger", role="system", name="doseledger")
