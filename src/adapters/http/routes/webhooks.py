"""Webhook subscriptions (integration apps and admins) and their delivery attempts."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Query, Request, Response

from adapters.access import INTEGRATORS
from adapters.http.auth import Principal, allow
from adapters.http.consistency import Models
from adapters.http.deps import Ledger, Work
from adapters.http.openapi_parts import LOCATION, ok
from adapters.http.pages import After, Limit, key, page_at, page_of
from adapters.http.problems import problem_responses
from adapters.http.routers import api_router
from adapters.http.schemas import PlainText, Problem, Subscribe
from adapters.http.views import (
    DeliveryPage,
    NewSubscription,
    Subscription,
    SubscriptionPage,
)
from adapters.http.write_slots import WriteSlotRoute
from adapters.webhooks import Subscriptions, Webhooks

ERRORS: dict[int | str, dict[str, Any]] = problem_responses(
    {
        401: {"model": Problem, "description": "No valid API key"},
        403: {"model": Problem, "description": "Only integration and admin keys manage webhooks"},
        404: {"model": Problem, "description": "No such subscription (or not this key's)"},
        409: {"model": Problem, "description": "Lost a race with another writer"},
        422: {"model": Problem, "description": "Invalid input, or the subscription is cancelled"},
    }
)
router = api_router(
    prefix="/webhooks", tags=["webhooks"], responses=ERRORS, route_class=WriteSlotRoute
)
Integrator = Annotated[Principal, Depends(allow(*INTEGRATORS))]
SIGNATURE = (
    "Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature: v1,<base64 "
    "HMAC-SHA256 of '{id}.{timestamp}.{body}' keyed by the base64-decoded secret after whsec_>"
)


async def _webhooks(request: Request) -> Webhooks:
    webhooks: Webhooks = request.app.state.webhooks
    return webhooks


Outbox = Annotated[Webhooks, Depends(_webhooks)]


def _owner(who: Principal) -> str | None:
    """Whose subscriptions the caller sees: an integration key its own, an admin every one."""
    return None if who.role == "admin" else str(who.key.id)


@router.post(
    "",
    status_code=201,
    summary="Subscribe to issued reminders",
    responses=ok(NewSubscription, 201, headers=LOCATION),
)
def subscribe(
    body: Subscribe, ledger: Ledger, who: Integrator, response: Response, uow: Work
) -> Any:
    """A new subscription; the answer shows its signing secret, once."""
    secret, view = Subscriptions(ledger).subscribe(
        name=body.name,
        url=body.url,
        owner=str(who.key.id),
        actor=who.actor,
        kinds=body.kinds,
        trial_id=body.trial_id,
        uow=uow,
    )
    response.headers["Location"] = f"/webhooks/{view['id']}"
    response.headers["Cache-Control"] = "no-store"
    return {**view, "secret": secret, "signature": SIGNATURE}


@router.get(
    "",
    summary="List webhook subscriptions, a page at a time",
    response_model=None,
    responses=ok(SubscriptionPage),
)
def list_subscriptions(
    ledger: Ledger, models: Models, who: Integrator, after: After = None, limit: Limit = 100
) -> dict[str, Any]:
    """The caller's subscriptions (an admin: every one), cancelled ones included, oldest first:
    `{"subscriptions": [...], "next": ...}`; pass `next` as `after` for the next page."""
    ids = models.read(
        lambda q: q.aggregate_ids("webhook_subscription", owner=_owner(who)), "aggregate_index"
    )
    rows = Subscriptions(ledger).list(ids)
    return page_of(rows, after, limit, "subscriptions")


@router.get("/{subscription_id}", summary="One webhook subscription", responses=ok(Subscription))
def get_subscription(subscription_id: UUID, ledger: Ledger, who: Integrator) -> Any:
    """The subscription (never its secret)."""
    return Subscriptions(ledger).get(subscription_id, owner=_owner(who)).view()


@router.delete(
    "/{subscription_id}",
    summary="Cancel a webhook subscription",
    responses=ok(Subscription, description="The cancelled subscription"),
)
def cancel_subscription(
    subscription_id: UUID,
    ledger: Ledger,
    who: Integrator,
    uow: Work,
    reason: Annotated[
        PlainText, Query(min_length=1, max_length=500, description="Why (plain text)")
    ] = "cancelled by the subscriber",
) -> Any:
    """Nothing more is sent to it; its deliveries not yet made are cancelled too."""
    return Subscriptions(ledger).cancel(
        subscription_id, reason, who.actor, owner=_owner(who), uow=uow
    )


@router.get(
    "/{subscription_id}/deliveries",
    summary="Deliveries and their attempts, a page at a time",
    response_model=None,
    responses=ok(DeliveryPage),
)
def deliveries(
    subscription_id: UUID,
    ledger: Ledger,
    webhooks: Outbox,
    who: Integrator,
    after: After = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    """Newest first: the reminder, status, next attempt, and every attempt's outcome:
    `{"deliveries": [...], "next": ...}`; pass `next` as `after` for the next (older) page."""
    Subscriptions(ledger).get(subscription_id, owner=_owner(who))
    before = key(after)
    rows, following = webhooks.delivery_page(
        subscription_id, before=None if before is None else before[0], limit=limit
    )
    return page_at("deliveries", rows, following)
