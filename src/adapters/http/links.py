"""OpenAPI links: how a client goes from an operation's answer to the next operations.

Added in one place when the schema is built (``add_links``, by operationId), not per route, so
that a generated client, or schemathesis' stateful tests, can register a trial and walk its
patients: a 201 names the resource it made, and its links say which operations take that id; the
protocol templates (listed, or read one) lead to registering a trial from one.
"""

from __future__ import annotations

from typing import Any

# Operations on one trial (path parameter trial_id).
TRIAL_OPERATIONS = (
    "getTrial",
    "enrolPatient",
    "signDecision",
    "adjudicateDltCandidate",
    "reviewDecision",
    "getCohortSummary",
    "getSafetyTable",
    "getAuditTrail",
    "replayTrial",
    "exportAuditTrail",
    "exportSdtmDataset",
)
# Operations on one patient (path parameter patient_id).
PATIENT_OPERATIONS = (
    "getPatient",
    "recordEyeExam",
    "recordSkinExam",
    "startDosing",
    "recordDose",
    "recordMissedDose",
    "recordAdverseEvent",
    "recordSkinAssessment",
    "recordDoseAction",
    "recordDltOutcome",
    "correctFact",
    "markFactInError",
    "getPatientTimeline",
)
# Operations on one webhook subscription (path parameter subscription_id).
SUBSCRIPTION_OPERATIONS = ("getSubscription", "cancelSubscription", "listDeliveries")
# Patient commands answer the patient (201, a Patient): each leads on to the patient's others.
PATIENT_COMMANDS = tuple(name for name in PATIENT_OPERATIONS if not name.startswith("get"))


def _to(targets: tuple[str, ...], parameter: str, expression: str) -> dict[str, Any]:
    return {
        target: {"operationId": target, "parameters": {parameter: expression}} for target in targets
    }


def _links() -> dict[str, tuple[str, dict[str, Any]]]:
    """operationId → (status code, its answer's links by name)."""
    patient = _to(PATIENT_OPERATIONS, "patient_id", "$response.body#/id")
    patient["getTrial"] = {
        "operationId": "getTrial",
        "parameters": {"trial_id": "$response.body#/trial_id"},
    }
    links: dict[str, tuple[str, dict[str, Any]]] = {
        "registerTrial": ("201", _to(TRIAL_OPERATIONS, "trial_id", "$response.body#/id")),
        "enrolPatient": ("201", patient),
        # A shipped template's id, or a protocol as read, registers a trial.
        "listProtocols": (
            "200",
            {
                "getProtocol": {
                    "operationId": "getProtocol",
                    "parameters": {"template_id": "$response.body#/protocols/0/id"},
                },
                "registerTrial": {
                    "operationId": "registerTrial",
                    "requestBody": {"template_id": "$response.body#/protocols/0/id"},
                },
            },
        ),
        "getProtocol": (
            "200",
            {
                "registerTrial": {
                    "operationId": "registerTrial",
                    "requestBody": {"protocol": "$response.body"},
                }
            },
        ),
        "createSubscription": (
            "201",
            _to(SUBSCRIPTION_OPERATIONS, "subscription_id", "$response.body#/id"),
        ),
    }
    for command in PATIENT_COMMANDS:
        links[command] = ("201", dict(patient))
    # The AE just recorded: its grade changes (the answer adds `adverse_event`).
    links["recordAdverseEvent"][1]["recordGrade"] = {
        "operationId": "recordGrade",
        "parameters": {
            "patient_id": "$response.body#/id",
            "ae_id": "$response.body#/adverse_event/ae_id",
        },
    }
    return links


LINKS = _links()


def add_links(schema: dict[str, Any]) -> None:
    """Add LINKS to the built schema's responses, found by operationId."""
    for item in schema["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict) or operation.get("operationId") not in LINKS:
                continue
            status, links = LINKS[operation["operationId"]]
            operation["responses"][status]["links"] = links
