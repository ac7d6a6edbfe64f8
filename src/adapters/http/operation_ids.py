"""OpenAPI operationIds for generated clients: ``verbNoun`` in camelCase, unique.

A route's id is its function's name in camelCase (``register_trial`` → ``registerTrial``),
unless that name is not a verb and a noun; those are named here. ``tests/security`` checks
that every id is camelCase, starts with a verb and is unique.
"""

from __future__ import annotations

from fastapi.routing import APIRoute

# Route function name → operationId, where the name alone is not verbNoun.
NAMES = {
    "healthz": "getHealth",
    "readyz": "getReadiness",
    "metrics": "getMetrics",
    "correct": "correctFact",
    "mark_in_error": "markFactInError",
    "change_grade": "recordGrade",
    "adjudicate_dlt": "adjudicateDltCandidate",
    "cohorts": "getCohortSummary",
    "safety_table": "getSafetyTable",
    "timeline": "getPatientTimeline",
    "audit": "getAuditTrail",
    "replay": "replayTrial",
    "export_audit": "exportAuditTrail",
    "export_sdtm": "exportSdtmDataset",
    "reminders": "listReminders",
    "subscribe": "createSubscription",
    "deliveries": "listDeliveries",
}
# The verbs operationIds start with.
VERBS = frozenset(
    {
        "adjudicate", "cancel", "correct", "create", "enrol", "export", "get", "list", "mark",
        "read", "record", "register", "replay", "review", "sign", "start", "stream",
    }
)  # fmt: skip


def camel(name: str) -> str:
    """``snake_case`` → ``snakeCase``."""
    first, *rest = name.split("_")
    return first + "".join(word[:1].upper() + word[1:] for word in rest)


def operation_id(route: APIRoute) -> str:
    """The route's operationId (FastAPI's ``generate_unique_id_function``)."""
    return NAMES.get(route.name) or camel(route.name)
