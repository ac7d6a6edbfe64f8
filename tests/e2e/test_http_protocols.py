"""GET /protocols: the templates over HTTP; and the API's operationIds."""

from __future__ import annotations

import re

import pytest

from adapters.application import DoseLedger
from adapters.application.api_keys import KEY_ROLES
from adapters.http.operation_ids import VERBS
from domain.protocol import TEMPLATE_IDS, template
from http_api import Api


@pytest.fixture
def api(ledger: DoseLedger) -> Api:
    return Api(
        ledger, {role: (role, "S01" if role == "investigator" else None) for role in KEY_ROLES}
    )


def test_every_role_reads_the_protocol_templates(api: Api) -> None:
    for role in KEY_ROLES:
        listed = api.call("GET", "/protocols", role, 200).json()["protocols"]
        assert [p["id"] for p in listed] == list(TEMPLATE_IDS)
        assert all(p["title"] == template(p["id"]).title for p in listed)
        one = api.call("GET", "/protocols/defactinib-paclitaxel", role, 200).json()
        assert one == template("defactinib-paclitaxel").model_dump(mode="json")
    missing = api.call("GET", "/protocols/no-such-template", "monitor", 404).json()
    assert "defactinib-avutometinib" in missing["detail"]
    api.call("GET", "/protocols", None, 401)
    # A template read over HTTP registers as it is.
    body = {"protocol": one, "name": "from GET /protocols"}
    api.call("POST", "/trials", "admin", 201, json=body)


def test_operation_ids_are_verb_noun_camel_case_and_unique(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    ids = [op["operationId"] for methods in paths.values() for op in methods.values()]
    assert len(ids) == len(set(ids)) > 30
    for ident in ids:
        assert re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)+", ident), ident
        assert re.match(r"[a-z]+", ident)[0] in VERBS, ident  # type: ignore[index]
    assert paths["/trials"]["post"]["operationId"] == "registerTrial"
    assert paths["/patients/{patient_id}/adverse-events"]["post"]["operationId"] == (
        "recordAdverseEvent"
    )


def test_the_templates_page_like_every_list(api: Api) -> None:
    found, after = [], None
    while True:
        params = {"limit": 1} | ({} if after is None else {"after": after})
        page = api.call("GET", "/protocols", "monitor", 200, params=params).json()
        assert len(page["protocols"]) <= 1
        found += [p["id"] for p in page["protocols"]]
        after = page["next"]
        if after is None:
            break
    assert found == list(TEMPLATE_IDS)
    problem = api.call("GET", "/protocols", "monitor", 422, params={"after": "nope"}).json()
    assert problem["field"] == "after"
