"""Who is calling: the API key in ``Authorization: Bearer KEY`` and what its role may do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adapters.http.keys import ApiKey
from domain.actors import Actor

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer dl_...`")
READERS = ("investigator", "src_member", "monitor", "auditor", "integration", "admin")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its key, and the actor recorded on the events it causes."""

    key: ApiKey
    actor: Actor

    @property
    def role(self) -> str:
        """The key's role."""
        return self.key.role

    def check_site(self, site_id: str) -> None:
        """Investigators act only on their own site's patients."""
        if self.role == "investigator" and self.key.site_id != site_id:
            raise HTTPException(
                403,
                f"an investigator of site {self.key.site_id} may not act "
                f"on site {site_id}'s patients",
            )


def _authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    unauthorized = {"WWW-Authenticate": 'Bearer realm="doseledger"'}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401, "an API key is required: Authorization: Bearer KEY", headers=unauthorized
        )
    key = request.app.state.keys.authenticate(credentials.credentials)
    if key is None:
        raise HTTPException(401, "the API key is unknown or revoked", headers=unauthorized)
    actor = key.principal(
        request_id=request.state.request_id, client=request.headers.get("x-client-app")
    )
    return Principal(key, actor)


def allow(*roles: str) -> Callable[..., Principal]:
    """A dependency admitting only keys of these roles (401 without a key, 403 otherwise)."""

    async def dependency(principal: Annotated[Principal, Depends(_authenticate)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(
                403, f"role {principal.role} may not do this; allowed: {', '.join(roles)}"
            )
        return principal

    dependency.roles = roles  # type: ignore[attr-defined]  # read by the access tests
    return dependency
