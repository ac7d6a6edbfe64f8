"""What routes add to the OpenAPI schema beside their models: the headers they answer with
(``ETag``, ``Location``), the ``Idempotency-Key`` request header, and ``ok`` (a route's JSON
answer with its model), so that generated clients see every header and schema."""

from __future__ import annotations

from typing import Any

ETAG = {
    "ETag": {
        "description": "The version of the resource the URL names; send it back as If-Match",
        "schema": {"type": "string", "examples": ['"37"']},
    }
}
LOCATION = {
    "Location": {
        "description": "The URL of the resource this request created",
        "schema": {"type": "string", "format": "uri-reference"},
    }
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Any 1-200 printable characters, new per command: a retry with the same key "
    "and body gets the first answer again (header Idempotent-Replayed: true) and records nothing; "
    "the same key with another body is a 422",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}
"""The request header every POST takes (the middleware in adapters.http.idempotency)."""


def ok(
    model: Any,
    status: int = 200,
    *,
    headers: dict[str, Any] | None = None,
    example: Any = None,
    description: str = "Successful Response",
) -> dict[int | str, dict[str, Any]]:
    """``responses`` naming a route's JSON answer, e.g. ``ok(Trial, 201, headers=ETAG)``."""
    answer: dict[str, Any] = {"model": model, "description": description}
    if headers:
        answer["headers"] = headers
    if example is not None:
        answer["content"] = {"application/json": {"example": example}}
    return {status: answer}
