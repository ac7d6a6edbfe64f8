"""The API's contract: offline docs pages, response schemas, operationIds, request shapes."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from adapters.http.app import DOCS_ASSETS
from adapters.services import DoseLedger
from http_api import Api


@pytest.fixture
def api(ledger: DoseLedger) -> Api:
    return Api(ledger, {"admin": ("admin", None), "monitor": ("monitor", None)})


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
