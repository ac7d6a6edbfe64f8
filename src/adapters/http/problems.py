"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.http.schemas import BODY_SHAPES, Problem
from adapters.persistence.unavailable import RETRY_AFTER_SECONDS, database_unavailable
from domain.errors import (
    CommandRefused,
    ConcurrencyConflict,
    InvalidInput,
    NotFound,
    VersionMismatch,
)

PROBLEM = "application/problem+json"
TYPE_BASE = "https://doseledger.example/problems/"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    kind: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response."""
    body = {"type": TYPE_BASE + kind, "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def internal_error(request_id: str | None) -> JSONResponse:
    """The 500 problem of an unhandled exception (logged where it was caught)."""
    return problem(
        500,
        "Internal server error",
        "an unexpected error; it was logged with this request id",
        kind="internal-error",
        request_id=request_id,
    )


def service_unavailable(request_id: str | None) -> JSONResponse:
    """The 503 problem of a database that cannot be used now (``database_unavailable``):
    retry after ``Retry-After`` seconds (with the same Idempotency-Key, for a POST)."""
    return problem(
        503,
        "Service unavailable",
        "the database cannot be reached or is busy; retry after Retry-After seconds (a POST "
        "with the same Idempotency-Key is run at most once)",
        kind="service-unavailable",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        request_id=request_id,
    )


def crash_response(exc: BaseException, request_id: str | None) -> JSONResponse:
    """The answer to an unhandled exception: 503 when the database is unavailable, else 500."""
    if database_unavailable(exc):
        return service_unavailable(request_id)
    return internal_error(request_id)


# Documented on every operation with a request body (and 500 on every operation).
_BODY_ERRORS = {
    "400": "The body is not valid JSON",
    "413": "The body is larger than DOSELEDGER_MAX_BODY_BYTES",
    "415": "The body is not JSON (send Content-Type: application/json)",
}
_STORABLE = "idempotency_storable"  # see adapters.http.idempotency.STORABLE


def problem_responses(errors: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """Error responses documented as they are sent: application/problem+json, with the Problem
    schema (given a `model`, FastAPI would list them under application/json instead)."""
    schema = {"$ref": "#/components/schemas/Problem"}
    return {
        code: {"description": spec["description"], "content": {PROBLEM: {"schema": schema}}}
        for code, spec in errors.items()
    }


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    # A body of several shapes names its shape after "body": the field path is what follows.
    loc = [p for i, p in enumerate(loc) if not (i == 1 and loc[0] == "body" and p in BODY_SHAPES)]
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


def install(app: FastAPI) -> None:
    """Map domain errors and framework errors onto problem responses."""
    openapi = app.openapi

    def openapi_with_problem() -> dict[str, Any]:
        # problem_responses refers to the Problem schema, which no route names as a model.
        schema = openapi()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault(
            "Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for item in schema.get("paths", {}).values():
            for method, operation in item.items():
                if method.upper() not in _METHODS or not isinstance(operation, dict):
                    continue
                responses = operation.setdefault("responses", {})
                errors = dict(_BODY_ERRORS) if "requestBody" in operation else {}
                errors["500"] = "An unexpected error (logged with the request id)"
                errors["503"] = "The database is unavailable for now: retry after Retry-After"
                for code, description in errors.items():
                    responses.setdefault(code, {"description": description, "content": content})
        return schema

    app.openapi = openapi_with_problem  # type: ignore[method-assign]

    @app.exception_handler(InvalidInput)
    async def invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        return problem(422, "Invalid input", exc.message, kind="invalid-input", field=exc.field)

    @app.exception_handler(CommandRefused)
    async def refused(_: Request, exc: CommandRefused) -> JSONResponse:
        return problem(
            422,
            "Command refused",
            exc.message,
            kind="command-refused",
            rule=exc.rule,
            field=exc.field,
        )

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return problem(404, "Not found", exc.message, kind="not-found")

    @app.exception_handler(VersionMismatch)
    async def stale(_: Request, exc: VersionMismatch) -> JSONResponse:
        return problem(
            412,
            "Precondition failed",
            str(exc),
            kind="precondition-failed",
            headers={"ETag": f'"{exc.current}"'},
        )

    @app.exception_handler(ConcurrencyConflict)
    async def conflict(_: Request, exc: ConcurrencyConflict) -> JSONResponse:
        return problem(409, "Conflict", str(exc), kind="conflict")

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        # Outside the crash middleware (in another middleware): still a problem.
        return crash_response(exc, getattr(request.state, "request_id", None))

    @app.exception_handler(RequestValidationError)
    async def validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The request's own fault: the same request always gets it (an Idempotency-Key keeps it).
        setattr(request.state, _STORABLE, True)
        errors = exc.errors()
        broken = next((e for e in errors if e.get("type") == "json_invalid"), None)
        if broken is not None:
            loc = broken.get("loc", ())
            at = f" at character {loc[-1]}" if len(loc) > 1 and isinstance(loc[-1], int) else ""
            reason = (broken.get("ctx") or {}).get("error") or broken.get("msg")
            return _not_json(f"the body is not valid JSON: {reason}{at}")
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = _location(first.get("loc", ()))
        detail = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        return problem(
            422,
            "Invalid request",
            detail,
            kind="invalid-request",
            field=where,
            errors=[
                {"field": _location(e.get("loc", ())), "message": e.get("msg")} for e in errors
            ],
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
            # FastAPI's 400 for a body it cannot decode at all (not UTF-8).
            setattr(request.state, _STORABLE, True)
            return _not_json("the body is not valid JSON: it is not UTF-8 text")
        titles = {
            400: "Bad request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not found",
            405: "Method not allowed",
            409: "Conflict",
            412: "Precondition failed",
            413: "Content too large",
            415: "Unsupported media type",
            422: "Unprocessable content",
            428: "Precondition required",
        }
        title = titles.get(exc.status_code, "Error")
        detail = exc.detail if isinstance(exc.detail, str) else title
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
        return problem(
            exc.status_code,
            title,
            detail,
            kind=title.lower().replace(" ", "-"),
            headers=headers,
        )


def _not_json(detail: str) -> JSONResponse:
    return problem(
        400,
        "Bad request",
        detail,
        kind="invalid-json",
        field="body",
        errors=[{"field": "body", "message": detail}],
    )


def _allowed_methods(request: Request) -> str:
    """The methods the app documents for the request's path (Starlette's 405 names only the
    first route that matched the path: POST for /trials, which also has GET)."""
    methods: set[str] = set()
    for template, item in request.app.openapi().get("paths", {}).items():
        parts = re.split(r"(\{[^}]+\})", template)
        pattern = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        if re.fullmatch(pattern, request.url.path):
            methods.update(m.upper() for m in item if m.upper() in _METHODS)
    if "GET" in methods:
        methods.add("HEAD")  # Starlette answers HEAD wherever it answers GET
    return ", ".join(sorted(methods))
