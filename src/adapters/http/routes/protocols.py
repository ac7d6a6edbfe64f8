"""Protocol templates: the protocols a trial can be registered from (``template_id``)."""

from __future__ import annotations

from typing import Any

from adapters.http import pages
from adapters.http.deps import Reader
from adapters.http.openapi_parts import ok
from adapters.http.problems import problem_responses
from adapters.http.routers import api_router
from adapters.http.schemas import Problem
from adapters.http.views import ProtocolPage, ProtocolView, protocol_example
from domain.protocol import TEMPLATE_IDS, template

ERRORS: dict[int | str, dict[str, Any]] = problem_responses(
    {
        401: {"model": Problem, "description": "No valid API key"},
        404: {"model": Problem, "description": "No such protocol template"},
        422: {"model": Problem, "description": "A bad `after` or `limit`"},
    }
)
router = api_router(prefix="/protocols", tags=["protocols"], responses=ERRORS)


@router.get(
    "",
    summary="List the protocol templates",
    response_model=None,
    responses=ok(ProtocolPage),
)
def list_protocols(who: Reader, after: pages.After = None, limit: pages.Limit = 100) -> Any:
    """The shipped templates, a page at a time: their ids (a `template_id` for `POST /trials`)
    and titles, ``{"protocols": [...], "next"}`` (the cursor is the last template's id)."""
    rows = [{"id": ident, "title": template(ident).title} for ident in TEMPLATE_IDS]
    return pages.page_of(rows, after, limit, "protocols")


@router.get(
    "/{template_id}",
    summary="One protocol template",
    responses=ok(ProtocolView, example=protocol_example()),
)
def get_protocol(template_id: str, who: Reader) -> Any:
    """The template's full protocol: agents, dose levels, reduction ladders, schedule, DLT
    window and criteria, design and rule set (the shape `POST /trials` takes as `protocol`)."""
    return template(template_id).model_dump(mode="json")
