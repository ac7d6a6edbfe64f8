"""The app's routers are added flat (``adapters.http.routers``): the same schema as an
inclusion, without FastAPI's router nodes in the request's path."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from adapters.application import DoseLedger
from adapters.bootstrap import build_app
from adapters.http.operation_ids import operation_id
from adapters.http.routers import add_routes, api_router
from adapters.http.routes import patients, trials


def test_the_apps_routes_are_its_own_with_its_operation_ids(ledger: DoseLedger) -> None:
    app = build_app(ledger)
    assert not [r for r in app.routes if hasattr(r, "original_router")]  # no router nodes
    api = [r for r in app.routes if isinstance(r, APIRoute)]
    assert len(api) >= 40
    assert all(r.unique_id == operation_id(r) for r in api)
    assert len({r.unique_id for r in api}) == len(api)


def test_added_routes_give_the_schema_an_inclusion_gives() -> None:
    def schema(add: bool) -> dict[str, object]:
        app = FastAPI(generate_unique_id_function=operation_id)
        for router in (trials.router, patients.router):
            if add:
                add_routes(app, router)
            else:
                app.include_router(router)
        return get_openapi(title="t", version="1", routes=app.routes)

    assert schema(add=True) == schema(add=False)


def test_a_router_whose_settings_only_an_inclusion_applies_is_refused() -> None:
    def guard() -> None:
        pass

    with pytest.raises(ValueError, match="must be included"):
        add_routes(FastAPI(), APIRouter(dependencies=[Depends(guard)]))
    router = api_router(prefix="/x")

    @router.get("/y")
    def y() -> None:
        pass

    app = FastAPI()
    add_routes(app, router)
    assert [r.path for r in app.routes if isinstance(r, APIRoute)] == ["/x/y"]
