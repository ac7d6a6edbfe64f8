"""Who is calling: the API key in ``Authorization: Bearer KEY`` and what its role may do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from adapters.access import READERS as READERS  # the routes import it from here too
from adapters.application.api_keys import ApiKey
from adapters.application.key_ring import KeyRing
from domain.actors import Actor
from domain.errors import NotFound

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer dl_...`")
UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="doseledger"'}
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@dataclass
class Principal:
    """An authenticated caller: its key, and the actor recorded on the events it causes.

    A principal taken from memory (``allow(..., confirm_in_route=True)``) carries the ring that
    must still confirm its key against the store; until ``confirm()`` its actor is withheld,
    so a route that forgets to confirm fails instead of acting on a revoked key.
    """

    key: ApiKey
    _actor: Actor
    _unconfirmed_by: KeyRing | None = None

    @property
    def role(self) -> str:
        """The key's role."""
        return self.key.role

    @property
    def actor(self) -> Actor:
        """The actor recorded on the events this caller causes (once its key is confirmed)."""
        if self._unconfirmed_by is not None:
            raise RuntimeError("confirm() the API key before acting on it")
        return self._actor

    def confirm(self) -> None:
        """401 if the key was revoked since it was verified (a store read: blocking)."""
        if self._unconfirmed_by is not None:
            if not self._unconfirmed_by.still_live(self.key):
                raise HTTPException(401, "the API key is unknown or revoked", headers=UNAUTHORIZED)
            self._unconfirmed_by = None

    def check_site(self, site_id: str) -> None:
        """Investigators enrol only at their own site (403: the site is named by the caller)."""
        if self.role == "investigator" and self.key.site_id != site_id:
            raise HTTPException(
                403,
                f"an investigator of site {self.key.site_id} may not act "
                f"on site {site_id}'s patients",
            )

    def check_patient(self, patient_id: UUID, site_id: str) -> None:
        """Investigators see and act on their own site's patients only. Another site's patient
        is answered exactly as an unknown id (the ledger's own NotFound: 404), so that a key
        learns nothing about the patients of other sites, not even that they exist."""
        if self.role == "investigator" and self.key.site_id != site_id:
            raise NotFound(f"no patient {patient_id}", kind="patient", ident=str(patient_id))


def _secret(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401, "an API key is required: Authorization: Bearer KEY", headers=UNAUTHORIZED
        )
    return credentials.credentials


def _principal(request: Request, key: ApiKey | None, ring: KeyRing | None = None) -> Principal:
    if key is None:
        raise HTTPException(401, "the API key is unknown or revoked", headers=UNAUTHORIZED)
    actor = key.principal(
        request_id=request.state.request_id, client=request.headers.get("x-client-app")
    )
    return Principal(key, actor, ring)


def _authenticate(request: Request, credentials: Credentials) -> Principal:
    # Sync, so FastAPI runs it in a worker thread: it reads the store.
    return _principal(request, request.app.state.keys.authenticate(_secret(credentials)))


async def _recall(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    # A key this process verified before comes from memory, with no worker thread; the route
    # confirms it against the store in its own worker thread. Any other key is checked now.
    secret = _secret(credentials)
    keys: KeyRing = request.app.state.keys
    key = keys.recall(secret)
    if key is not None:
        return _principal(request, key, keys)
    return _principal(request, await run_in_threadpool(keys.authenticate, secret))


Authenticated = Annotated[Principal, Depends(_authenticate)]


def _admit(principal: Principal, roles: tuple[str, ...]) -> Principal:
    if principal.role not in roles:
        raise HTTPException(
            403, f"role {principal.role} may not do this; allowed: {', '.join(roles)}"
        )
    return principal


def allow(*roles: str, confirm_in_route: bool = False) -> Callable[..., Principal]:
    """A dependency admitting only keys of these roles (401 without a key, 403 otherwise).

    ``confirm_in_route``: the key may come from memory, and the route must call
    ``confirm()`` before anything else (a key revoked since it was verified may then meet a
    403 for its role before the route's 401; either way nothing is done).
    """
    if confirm_in_route:
        # One dependency, not one on another: FastAPI solves every level of the tree again on
        # each request (the patient commands' hot path).
        async def dependency(request: Request, credentials: Credentials) -> Principal:
            return _admit(await _recall(request, credentials), roles)

    else:

        async def dependency(principal: Authenticated) -> Principal:
            return _admit(principal, roles)

    dependency.roles = roles  # type: ignore[attr-defined]  # read by the access tests
    return dependency
