"""Exports a spreadsheet cannot be attacked through, downloaded as files, readable on a laptop.

CSV cells (audit trail, SDTM AE and EX) starting like a formula are neutralised with a leading
single quote; every export carries ``Content-Disposition: attachment``; the HTML report's audit
table wraps its cells to fit a 1,280-pixel screen. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest

from adapters.application import DoseLedger
from http_api import Api
from projections import audit_report, sdtm
from projections.audit_rows import AUDIT_COLUMNS
from projections.csv_cells import FORMULA_STARTS
from support import DAY0, enrolling

KEYS = {"admin": ("admin", None), "inv": ("investigator", "S01"), "auditor": ("auditor", None)}
# What reaches a CSV cell through the API: free text may start with any of these (a lone CR is
# refused, a CR LF line break is not; a tab is refused), X-Client-App only with - or @.
REASONS = ['=HYPERLINK("http://evil","x")', "+1+2", "-2+3", "@SUM(A1)", "\r\nline"]
CLIENTS = ["-app", "@app"]


def day(n: int) -> str:
    return (DAY0 + dt.timedelta(days=n - 1)).isoformat()


@pytest.fixture
def exported(ledger: DoseLedger) -> tuple[Api, str]:
    """A trial whose patient has missed doses with formula-like reasons and client names."""
    api = Api(ledger, KEYS)
    tid = api.call(
        "POST", "/trials", "admin", 201, json={"template_id": "defactinib-avutometinib"}
    ).json()["id"]
    pid = api.call("POST", f"/trials/{tid}/patients", "inv", 201, json=enrolling("S01")).json()[
        "id"
    ]
    eye = {"clinical_date": day(0), "bcva_right": "20/20", "bcva_left": "20/25"}
    api.call("POST", f"/patients/{pid}/eye-exams", "inv", 201, json=eye)
    skin = {"clinical_date": day(0), "findings": "none"}
    api.call("POST", f"/patients/{pid}/skin-exams", "inv", 201, json=skin)
    api.call("POST", f"/patients/{pid}/dosing", "inv", 201, json={"clinical_date": day(1)})
    for i, reason in enumerate(REASONS):
        body = {"clinical_date": day(2 + i), "reason": reason}
        api.call("POST", f"/patients/{pid}/missed-doses", "inv", 201, json=body)
    for i, client in enumerate(CLIENTS):
        body = {"clinical_date": day(10 + i)}
        headers = {"X-Client-App": client}
        api.call("POST", f"/patients/{pid}/doses", "inv", 201, json=body, headers=headers)
    ae = {"term": "Nausea", "grade": 1, "onset": day(12), "attribution": "possible"}
    api.call("POST", f"/patients/{pid}/adverse-events", "inv", 201, json=ae)
    return api, tid


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_audit_csv_neutralises_reasons_and_client_names(exported: tuple[Api, str]) -> None:
    api, tid = exported
    rows = _rows(api.call("GET", f"/trials/{tid}/exports/audit", "auditor", 200).text)
    reasons = [r["reason"] for r in rows if r["event"] == "DoseMissed"]
    assert reasons == ["'" + reason for reason in REASONS]
    clients = [r["client"] for r in rows if r["event"] == "DoseAdministered"]
    assert clients == ["'" + client for client in CLIENTS]
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(FORMULA_STARTS), (column, cell)
    # JSON lines keep the values as recorded: they are not for spreadsheets.
    jsonl = api.call("GET", f"/trials/{tid}/exports/audit?format=jsonl", "auditor", 200).text
    assert '"reason": "=HYPERLINK' in jsonl


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_every_formula_start_is_neutralised_in_every_csv(start: str) -> None:
    value = f"{start}1+2"
    audit = _rows(audit_report.to_csv([dict.fromkeys(AUDIT_COLUMNS, value) | {"position": 1}]))
    assert audit[0]["reason"] == audit[0]["client"] == audit[0]["summary"] == "'" + value
    assert audit[0]["position"] == "1"  # numbers are written as they are
    for variables in (sdtm.AE_VARIABLES, sdtm.EX_VARIABLES):
        row: dict[str, Any] = dict.fromkeys(variables, value)
        written = _rows(sdtm.to_csv([row | {variables[3]: -1}], variables))[0]
        assert written[variables[4]] == "'" + value
        assert written[variables[3]] == "-1"


def test_plain_cells_are_left_as_they_are() -> None:
    written = _rows(audit_report.to_csv([dict.fromkeys(AUDIT_COLUMNS, "a=b, -c @d")]))[0]
    assert written["reason"] == "a=b, -c @d"


@pytest.mark.parametrize(
    ("path", "media", "name"),
    [
        ("exports/audit", "text/csv", "audit.csv"),
        ("exports/audit?format=csv", "text/csv", "audit.csv"),
        ("exports/audit?format=jsonl", "application/x-ndjson", "audit.jsonl"),
        ("exports/audit?format=html", "text/html", "audit.html"),
        ("exports/sdtm/AE", "text/csv", "sdtm-ae.csv"),
        ("exports/sdtm/EX", "text/csv", "sdtm-ex.csv"),
    ],
)
def test_every_export_is_a_named_download(
    exported: tuple[Api, str], path: str, media: str, name: str
) -> None:
    api, tid = exported
    response = api.call("GET", f"/trials/{tid}/{path}", "auditor", 200)
    assert response.headers["content-type"].startswith(media)
    assert response.headers["content-disposition"] == f'attachment; filename="{tid}-{name}"'


def test_sdtm_csv_holds_no_formula_cells(exported: tuple[Api, str]) -> None:
    api, tid = exported
    for domain in ("AE", "EX"):
        rows = _rows(api.call("GET", f"/trials/{tid}/exports/sdtm/{domain}", "auditor", 200).text)
        assert rows
        for row in rows:
            assert not any(cell.startswith(FORMULA_STARTS) for cell in row.values()), row


def test_the_html_audit_table_wraps_to_fit_a_laptop_screen(exported: tuple[Api, str]) -> None:
    api, tid = exported
    html = api.call("GET", f"/trials/{tid}/exports/audit?format=html", "auditor", 200).text
    assert "table.audit { table-layout: fixed; width: 100%;" in html
    assert "overflow-wrap: anywhere" in html
    assert '<table class="audit"><colgroup>' in html
    widths = [int(w) for w in html.split('<col style="width: ')[1:] for w in [w.split("%")[0]]]
    assert len(widths) == len(AUDIT_COLUMNS) and sum(widths) == 100
    assert "&#x27;" not in html.split("<h2>Audit trail</h2>")[1].split("HYPERLINK")[0][-20:]
