"""The API's contract: offline docs pages, response schemas, operationIds, request shapes."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from pydantic import BaseModel

from adapters.application import DoseLedger
from adapters.http import views
from adapters.http.app import DOCS_ASSETS
from http_api import Api


@pytest.fixture
def api(ledger: DoseLedger) -> Api:
    return Api(ledger, {"admin": ("admin", None), "monitor": ("monitor", None)})


def _operations(api: Api) -> list[tuple[str, str, dict[str, Any]]]:
    paths = api.client.get("/openapi.json").json()["paths"]
    return [
        (method.upper(), path, operation)
        for path, item in paths.items()
        for method, operation in item.items()
    ]


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        return dict(spec["components"]["schemas"][ref.rsplit("/", 1)[-1]])
    return schema


def test_every_json_answer_has_a_schema(api: Api) -> None:
    """Every operation's 2xx answers with a described shape: a JSON one names its properties
    (or its items'), never an empty or free-form schema."""
    spec = api.client.get("/openapi.json").json()
    for method, path, operation in _operations(api):
        answers = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        assert answers, (method, path)
        for code, answer in answers.items():
            content = answer.get("content")
            assert content, (method, path, code)
            for media, body in content.items():
                # An event stream describes each of its messages (OpenAPI 3.2 itemSchema).
                schema = body.get("itemSchema" if media == "text/event-stream" else "schema")
                assert schema is not None, (method, path, code, media)
                if media != "application/json":
                    continue
                shape = _resolve(schema, spec)
                if shape.get("type") == "array":
                    shape = _resolve(shape["items"], spec)
                assert shape.get("properties"), (method, path, code, shape)


def test_operation_ids_are_unique_camel_case(api: Api) -> None:
    ids = [operation["operationId"] for _, _, operation in _operations(api)]
    assert len(ids) == len(set(ids))
    for ident in ids:
        assert re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)+", ident), ident


def test_the_headers_are_documented(api: Api) -> None:
    """POSTs take Idempotency-Key; routes with If-Match take it; ETag and Location answers
    are declared where the route sends them."""
    operations = {(m, p): op for m, p, op in _operations(api)}
    for (method, path), operation in operations.items():
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        if method == "POST":
            assert "Idempotency-Key" in headers, path
        if method == "POST" and path.startswith(("/trials/", "/patients/")):
            assert "If-Match" in headers, path
            answer = next(r for c, r in operation["responses"].items() if c.startswith("2"))
            assert "ETag" in answer.get("headers", {}), path
    created = {("POST", "/trials"), ("POST", "/trials/{trial_id}/patients"), ("POST", "/webhooks")}
    for key in created:
        assert "Location" in operations[key]["responses"]["201"]["headers"], key
    for key in [("GET", "/trials/{trial_id}"), ("GET", "/patients/{patient_id}")]:
        assert "ETag" in operations[key]["responses"]["200"]["headers"], key


@pytest.mark.parametrize("model", list(views.EXAMPLES), ids=lambda m: m.__name__)
def test_every_example_fits_its_model(model: type[BaseModel]) -> None:
    example = views.EXAMPLES[model]
    assert model.model_json_schema()["examples"] == [example]
    model.model_validate(example)


def test_the_examples_are_what_the_server_answers(api: Api) -> None:
    """The protocol example registers a trial; the answer fits the Trial model and has every
    field of the Trial example; the listed protocols fit theirs."""
    body = {"protocol": views.protocol_example(), "name": "from the example"}
    trial = api.call("POST", "/trials", "admin", 201, json=body).json()
    views.Trial.model_validate(trial)
    assert set(views.TRIAL_EXAMPLE) <= set(trial)
    for row in api.call("GET", "/protocols", "monitor", 200).json()["protocols"]:
        views.ProtocolSummary.model_validate(row)
    page = api.call("GET", "/trials", "monitor", 200).json()
    views.TrialPage.model_validate(page)
    assert set(views.TRIAL_ROW_EXAMPLE) == set(page["trials"][0])
    assert set(views.READINESS_EXAMPLE) == set(api.call("GET", "/readyz", None, 200).json())


class _Urls(HTMLParser):
    """Every src and href of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_nothing_from_another_origin(api: Api, page: str) -> None:
    html = api.call("GET", page, None, 200).text
    parser = _Urls()
    parser.feed(html)
    # Scripts set up in the page may name URLs too (Swagger UI's openapi url).
    quoted = re.findall(r"""['"]((?:https?:)?//[^'"]+)['"]""", html)
    assert quoted == [], quoted
    assert parser.urls, html
    for url in parser.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        assert url.startswith(DOCS_ASSETS + "/"), url
        served = api.call("GET", url, None, 200)
        assert served.content, url
    scripts = [u for u in parser.urls if u.endswith(".js")]
    assert scripts, html
    if page == "/docs":
        assert any(u.endswith(".css") for u in parser.urls), html


def test_register_trial_takes_a_template_or_a_protocol(api: Api) -> None:
    """POST /trials is one of two closed shapes; both or neither is a 422 that says so."""
    spec = api.client.get("/openapi.json").json()
    body = spec["paths"]["/trials"]["post"]["requestBody"]["content"]["application/json"]
    shapes = [_resolve(s, spec) for s in body["schema"]["oneOf"]]
    assert [sorted(s["required"]) for s in shapes] == [["template_id"], ["protocol"]]
    assert all(s["additionalProperties"] is False for s in shapes)
    protocol = views.protocol_example()
    api.call("POST", "/trials", "admin", 201, json={"template_id": protocol["id"]})
    api.call("POST", "/trials", "admin", 201, json={"protocol": protocol, "name": "P"})
    for refused in [
        {},
        {"name": "no protocol"},
        {"template_id": protocol["id"], "protocol": protocol},
        {"template_id": None, "protocol": None},
    ]:
        problem = api.call("POST", "/trials", "admin", 422, json=refused).json()
        assert problem["detail"] == "body: give exactly one of template_id and protocol", refused
    extra = {"template_id": protocol["id"], "dose_levels": []}
    problem = api.call("POST", "/trials", "admin", 422, json=extra).json()
    assert problem["field"] == "dose_levels", problem
    assert api.call("GET", "/trials", "monitor", 200).json()["trials"][-1]["name"] == "P"


def _pointer(body: Any, expression: str) -> Any:
    """The value a ``$response.body#/a/b`` expression names in an answer."""
    prefix = "$response.body#/"
    assert expression.startswith(prefix), expression
    for part in expression.removeprefix(prefix).split("/"):
        body = body[int(part)] if isinstance(body, list) else body[part]
    return body


def test_links_name_operations_their_parameters_and_real_ids(ledger: DoseLedger) -> None:
    """Every link names an existing operationId and only path parameters it has; on real
    answers (a trial, a patient, an AE, a subscription) each expression names a UUID that the
    linked operation answers 2xx for."""
    api = Api(
        ledger,
        {"admin": ("admin", None), "inv": ("investigator", "S01"), "auditor": ("auditor", None)},
    )
    spec = api.client.get("/openapi.json").json()
    by_id = {op["operationId"]: (m, p, op) for m, p, op in _operations(api)}
    links = {
        op["operationId"]: answer["links"]
        for _, _, op in _operations(api)
        for answer in op["responses"].values()
        if "links" in answer
    }
    assert set(links) >= {"registerTrial", "enrolPatient", "recordAdverseEvent"}
    for source, named in links.items():
        for name, link in named.items():
            assert link["operationId"] in by_id, (source, name)
            _, path, target = by_id[link["operationId"]]
            params = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
            # Path parameters the link does not give (a cohort) are the client's to choose; a
            # link without any gives the body (registerTrial from a template or a protocol).
            assert link.get("parameters") or link.get("requestBody"), (source, name)
            assert set(link.get("parameters", {})) <= params, (source, name)
    assert "links" in spec["paths"]["/trials"]["post"]["responses"]["201"]

    trial = api.call("POST", "/trials", "admin", 201, json={"template_id": "defactinib-paclitaxel"})
    patient = api.call(
        "POST", f"/trials/{trial.json()['id']}/patients", "inv", 201, json={"site_id": "S01"}
    )
    pid, today = patient.json()["id"], patient.json()["enrolment_date"]
    for path, body in (
        ("eye-exams", {"clinical_date": today, "bcva_right": "20/20", "bcva_left": "20/20"}),
        ("skin-exams", {"clinical_date": today, "findings": "none"}),
        ("dosing", {"clinical_date": today}),
    ):
        api.call("POST", f"/patients/{pid}/{path}", "inv", 201, json=body)
    ae = api.call(
        "POST",
        f"/patients/{pid}/adverse-events",
        "inv",
        201,
        json={"term": "Nausea", "onset": today, "grade": 1, "attribution": "possible"},
    )
    subscription = api.call(
        "POST", "/webhooks", "admin", 201, json={"name": "n", "url": "https://example.org/h"}
    )
    protocols = api.call("GET", "/protocols", "admin", 200).json()
    registering = links["listProtocols"]["registerTrial"]["requestBody"]
    body = {field: _pointer(protocols, e) for field, e in registering.items()}
    api.call("POST", "/trials", "admin", 201, json=body)
    read = api.call("GET", f"/protocols/{protocols['protocols'][0]['id']}", "admin", 200).json()
    assert links["getProtocol"]["registerTrial"]["requestBody"] == {"protocol": "$response.body"}
    api.call("POST", "/trials", "admin", 201, json={"protocol": read})
    answers = {
        "registerTrial": trial.json(),
        "enrolPatient": patient.json(),
        "recordAdverseEvent": ae.json(),
        "createSubscription": subscription.json(),
    }
    for source, body in answers.items():
        for link in links[source].values():
            method, path, target = by_id[link["operationId"]]
            values = {p: _pointer(body, e) for p, e in link["parameters"].items()}
            assert all(re.fullmatch(r"[0-9a-f-]{36}", str(v)) for v in values.values()), values
            params = {p["name"] for p in target["parameters"] if p["in"] == "path"}
            if method == "GET" and set(values) == params:
                key = "auditor" if "/exports/" in path else "admin"
                api.call("GET", path.format(**values), key, 200)
