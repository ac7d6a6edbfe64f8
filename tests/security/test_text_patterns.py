"""The schema says what text the server takes: each text field's ``pattern`` accepts exactly
the strings the server's validator accepts, so a generated client refuses the same strings the
server would, before sending them."""

from __future__ import annotations

import re
import tempfile
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from adapters.bootstrap import build_app, build_ledger
from adapters.http.schemas import FREE_TEXT_PATTERN, PLAIN_TEXT_PATTERN
from adapters.persistence.environment import persistence_env
from domain.strict_input import free_text_problem, plain_text_problem

# Mostly the characters at stake (controls, line breaks, DEL, C1), some of anything.
TEXT = st.text(
    st.one_of(
        st.sampled_from("\x00\t\n\r\x0b\x1f\x7f\x85\x9f\xa0a -=é"),
        st.characters(codec="utf-8"),
    ),
    max_size=12,
)


@given(TEXT)
def test_the_plain_text_pattern_accepts_what_the_server_accepts(text: str) -> None:
    assert (re.search(PLAIN_TEXT_PATTERN, text) is not None) == (plain_text_problem(text) is None)


@given(TEXT)
def test_the_free_text_pattern_accepts_what_the_server_accepts(text: str) -> None:
    assert (re.search(FREE_TEXT_PATTERN, text) is not None) == (free_text_problem(text) is None)


def _strings(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every string schema under ``node``, with where it is."""
    found = []
    if isinstance(node, dict):
        if node.get("type") == "string" and not {"enum", "format", "const"} & set(node):
            found.append((path, node))
        for key, value in node.items():
            found += _strings(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _strings(value, f"{path}/{index}")
    return found


def test_every_free_string_of_a_request_body_has_a_pattern_and_a_bound() -> None:
    with tempfile.TemporaryDirectory() as folder:
        ledger = build_ledger(env=persistence_env(f"sqlite:///{folder}/s.db"))
        try:
            schema = build_app(ledger).openapi()
        finally:
            ledger.close()
    components = schema["components"]["schemas"]
    waiting = [
        ref.rsplit("/", 1)[-1]
        for path in schema["paths"].values()
        for operation in path.values()
        for content in operation.get("requestBody", {}).get("content", {}).values()
        for ref in re.findall(r"#/components/schemas/[\w.-]+", str(content["schema"]))
    ]
    bodies: set[str] = set()
    while waiting:  # every component a request body refers to, however deep
        name = waiting.pop()
        if name not in bodies:
            bodies.add(name)
            waiting += [
                r.rsplit("/", 1)[-1]
                for r in re.findall(r"#/components/schemas/[\w.-]+", str(components[name]))
            ]
    assert {"Protocol", "Agent", "DltCriteria", "AdverseEventBody"} <= bodies
    unbounded = [
        f"{name}{where}"
        for name in sorted(bodies)
        for where, node in _strings(components[name])
        if "pattern" not in node or "maxLength" not in node
    ]
    assert unbounded == []
    patterns = {node.get("pattern") for _, node in _strings(schema)}
    assert {PLAIN_TEXT_PATTERN, FREE_TEXT_PATTERN} <= patterns


def test_every_bound_is_a_json_schema_keyword() -> None:
    """An optional number's bounds read ``minimum``/``maximum``, not pydantic's ``ge``/``le``
    (which no client or generator knows: found by the stateful schemathesis run)."""
    with tempfile.TemporaryDirectory() as folder:
        ledger = build_ledger(env=persistence_env(f"sqlite:///{folder}/s.db"))
        try:
            schema = build_app(ledger).openapi()
        finally:
            ledger.close()
    raw: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("integer", "number") or "anyOf" in node:
                raw.extend(f"{path}/{k}" for k in ("ge", "le", "gt", "lt") if k in node)
            for key, value in node.items():
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}/{index}")

    walk(schema["components"], "")
    assert raw == []
    grade = schema["components"]["schemas"]["GradeChange"]["properties"]["grade"]
    bounded = grade["anyOf"][0]
    assert (bounded["minimum"], bounded["maximum"]) == (0, 5)
