"""The event feed: every trial, patient and issued-reminder event in store order (JSON or SSE).

Consumers (integrations, monitors, auditors) follow the store's notification log *after a
position*, never by offset: PostgreSQL positions come from a sequence and can have gaps, and a
position never becomes visible after a higher one was read (the library inserts under an
exclusive table lock, so notification order is commit order). Only domain events are served:
the store also holds API-key and idempotency records, which the topic filter keeps out.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

import anyio
from fastapi import Depends, Header, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from adapters.access import OBSERVERS
from adapters.application import DoseLedger
from adapters.application.key_ring import KeyRing
from adapters.http.auth import Principal, allow
from adapters.http.deps import Ledger
from adapters.http.problems import problem_responses
from adapters.http.routers import api_router
from adapters.http.schemas import Problem
from domain.patient import Patient
from domain.reminder_schedule import Reminder
from domain.trial import Trial

AGGREGATES: dict[str, Literal["trial", "patient", "reminder"]] = {
    "doseledger:trial.": "trial",
    "doseledger:patient.": "patient",
    "doseledger:reminder.": "reminder",
}
MAX_POSITION = 2**63 - 1  # both stores keep positions in a signed 64-bit integer
MAX_LIMIT = 1000
STREAM_BATCH = 100
# How often an idle stream polls the store; per app: app.state.feed_poll_seconds (tests).
POLL_SECONDS = 0.5
# How long one stream stays open (per app: app.state.feed_stream_seconds). EventSource then
# reconnects with Last-Event-ID, so a revoked key is cut off within this time, and a server
# shutting down waits at most this long for its streams.
STREAM_SECONDS = 300.0
# How often an open stream asks the store whether its key was revoked since (per app:
# app.state.feed_key_check_seconds); a revoked key's stream ends within this time.
KEY_CHECK_SECONDS = 5.0
RETRY_MILLISECONDS = 2000
_ENVELOPE = ("originator_id", "originator_version", "timestamp")


def domain_topics() -> list[str]:
    """The stored topics of every Trial and Patient event class (snapshots excluded)."""
    topics = set()
    for aggregate in (Trial, Patient, Reminder):
        for value in vars(aggregate).values():
            if (
                isinstance(value, type)
                and issubclass(value, (aggregate.Event, aggregate.Created))
                and str(getattr(value, "TOPIC", "")).startswith(tuple(AGGREGATES))
            ):
                topics.add(value.TOPIC)
    return sorted(topics)


DOMAIN_TOPICS = domain_topics()


def _aggregate(topic: str) -> Literal["trial", "patient", "reminder"]:
    return next(kind for prefix, kind in AGGREGATES.items() if topic.startswith(prefix))


def read_events(ledger: DoseLedger, after: int, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` domain events recorded after position ``after``, oldest first."""
    notifications = ledger.recorder.select_notifications(
        after, limit, topics=DOMAIN_TOPICS, inclusive_of_start=False
    )
    events = []
    for notification in notifications:
        event: Any = ledger.mapper.to_domain_event(notification)  # a Trial or Patient event
        attributes = {k: v for k, v in event.__dict__.items() if k not in _ENVELOPE}
        events.append(
            {
                "position": notification.id,
                "id": str(notification.id),
                "topic": notification.topic,
                "type": type(event).__name__,
                "aggregate": _aggregate(notification.topic),
                "aggregate_id": str(event.originator_id),
                "version": event.originator_version,
                "recorded_at": event.timestamp.astimezone(dt.UTC).isoformat(),
                "data": jsonable_encoder(attributes),
            }
        )
    return events


class FeedEvent(BaseModel):
    """One stored domain event."""

    position: int = Field(description="Its position in the store (increasing, may have gaps)")
    id: str = Field(description="The position as a string (the SSE event id)")
    topic: str = Field(examples=["doseledger:patient.AERecorded"])
    type: str = Field(description="The event class name", examples=["AERecorded"])
    aggregate: Literal["trial", "patient", "reminder"]
    aggregate_id: str = Field(json_schema_extra={"format": "uuid"})
    version: int = Field(description="The aggregate's version after this event")
    recorded_at: str = Field(json_schema_extra={"format": "date-time"}, description="UTC")
    data: dict[str, Any] = Field(description="The event's attributes (UUIDs, dates as strings)")


class FeedPage(BaseModel):
    """A page of the feed."""

    events: list[FeedEvent]
    next: int = Field(description="Pass as `after` for the next page (unchanged if none new)")


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No valid API key"},
    403: {"model": Problem, "description": "The key's role may not read the feed"},
    422: {"model": Problem, "description": "Invalid after, limit, max_events or Last-Event-ID"},
}


router = api_router(prefix="/events", tags=["feed"], responses=problem_responses(ERRORS))
# Who may follow every site's events (investigators see only their own site's patients).
Consumer = Annotated[Principal, Depends(allow(*OBSERVERS))]
After = Annotated[
    int,
    Query(ge=0, le=MAX_POSITION, description="Return the events after this position"),
]


@router.get("", summary="The ordered event feed, a page after a position", response_model=FeedPage)
def read_feed(
    ledger: Ledger,
    who: Consumer,
    after: After = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most this many")] = 100,
) -> Any:
    """Trial and patient events in store order, after `after`; poll again with `after=next`."""
    events = read_events(ledger, after, limit)
    return {"events": events, "next": events[-1]["position"] if events else after}


# ------------------------------------------------------------------ Server-Sent Events


async def follow(
    read: Callable[[int, int], list[dict[str, Any]]],
    after: int,
    *,
    max_events: int | None = None,
    poll_seconds: float = POLL_SECONDS,
    max_seconds: float | None = None,
    still_allowed: Callable[[], bool] | None = None,
    check_seconds: float = KEY_CHECK_SECONDS,
) -> AsyncIterator[dict[str, Any]]:
    """The events after ``after``, then each new one, polling the store while there are none.

    ``read(after, limit)`` blocks on the store, so it runs in a worker thread. A backlog is
    read on without waiting. Ends after ``max_events`` events or ``max_seconds``, if given,
    and as soon as ``still_allowed()`` (a blocking store read, asked at most every
    ``check_seconds``, and never less often) is false: the caller's key was revoked.
    """
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    checked = time.monotonic()
    sent = 0
    while True:
        if still_allowed is not None and time.monotonic() - checked >= check_seconds:
            if not await run_in_threadpool(still_allowed):
                return
            checked = time.monotonic()
        want = STREAM_BATCH if max_events is None else min(STREAM_BATCH, max_events - sent)
        events = await run_in_threadpool(read, after, want)
        for event in events:
            yield event
            after = event["position"]
            sent += 1
        if max_events is not None and sent >= max_events:
            return
        left = math.inf if deadline is None else deadline - time.monotonic()
        if left <= 0:
            return
        if len(events) < want:
            wait = min(poll_seconds, left)
            if still_allowed is not None:  # wake up in time for the next key check
                wait = min(wait, max(0.0, checked + check_seconds - time.monotonic()))
            await anyio.sleep(wait)


def sse_event(event: dict[str, Any]) -> ServerSentEvent:
    """One feed event as an SSE message: id = position, event = type, data = the JSON object."""
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return ServerSentEvent(id=event["id"], event=event["type"], raw_data=data)


async def resume_position(
    after: Annotated[
        int | None,
        Query(ge=0, le=MAX_POSITION, description="Start after this position (default 0)"),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="Resume after this position (EventSource sends it when it reconnects; "
            "it wins over `after`)",
        ),
    ] = None,
) -> int:
    """Where a stream starts: after Last-Event-ID, else after ``after``, else from the start.

    A dependency, so that a bad value is a 422 problem before the stream starts.
    """
    if last_event_id is None or not last_event_id.strip():
        return after or 0
    text = last_event_id.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_POSITION:
        raise RequestValidationError(
            [
                {
                    "loc": ("header", "Last-Event-ID"),
                    "msg": f"'{last_event_id[:40]}' is not an event position",
                    "type": "value_error",
                }
            ]
        )
    return int(text)


@router.get(
    "/stream",
    summary="The event feed as Server-Sent Events",
    response_class=EventSourceResponse,
    responses=problem_responses(ERRORS),
    response_description=(
        "Per event `id:` (its position), `event:` (its type) and `data:` (the event as in "
        "GET /events); a `: ping` comment after 15 s without events."
    ),
)
async def stream_feed(
    request: Request,
    ledger: Ledger,
    who: Consumer,
    start: Annotated[int, Depends(resume_position)],
    max_events: Annotated[
        int | None,
        Query(ge=1, description="Close the stream after this many events (batch readers, tests)"),
    ] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Every trial and patient event after the resume position, then each new one as it is
    recorded (the store is polled every 0.5 s). The stream ends when the client disconnects,
    after `max_events`, after 5 minutes, or within 5 s of the key's revocation (the key is
    checked against the store every 5 s): EventSource then reconnects by itself with
    `Last-Event-ID`, and the key is checked again (a revoked key then meets a 401)."""
    yield ServerSentEvent(retry=RETRY_MILLISECONDS)
    state = request.app.state
    keys: KeyRing = state.keys
    events = follow(
        lambda position, limit: read_events(ledger, position, limit),
        start,
        max_events=max_events,
        poll_seconds=float(getattr(state, "feed_poll_seconds", POLL_SECONDS)),
        max_seconds=float(getattr(state, "feed_stream_seconds", STREAM_SECONDS)),
        still_allowed=lambda: keys.still_live(who.key),
        check_seconds=float(getattr(state, "feed_key_check_seconds", KEY_CHECK_SECONDS)),
    )
    async for event in events:
        yield sse_event(event)
