"""How the app's routers are made and added: their routes become the app's own.

FastAPI 0.165 keeps a router added with ``include_router`` as a node of the app's routes: each
request is matched against the routers in turn, each router's routes one by one, twice for
the router that matches, with FastAPI's keys moved in and out of the request's scope at every
route, a measurable share of every request (docs/benchmarks.md). So the routers are made with
what the app would have given their routes (its operationIds), and ``add_routes`` puts their
routes in the app's own list: each route already carries its router's prefix, tags, responses
and route class, and the OpenAPI schema is the same.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

from adapters.http.operation_ids import operation_id


def api_router(**settings: Any) -> APIRouter:
    """An APIRouter (FastAPI's settings) whose routes get the app's operationIds."""
    return APIRouter(generate_unique_id_function=operation_id, **settings)


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """The router's routes as the app's own, in order (what ``app.include_router`` did, with
    no node in between). A router with settings only an inclusion applies is refused."""
    if router.dependencies or router.on_startup or router.on_shutdown:
        raise ValueError("a router with dependencies or events must be included")
    app.router.routes.extend(router.routes)
