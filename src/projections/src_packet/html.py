"""The packet as one self-contained HTML page: inline SVG, inline CSS, no script, no external
URL; readable on a 1,280-pixel screen and printable on A4 or Letter, landscape.

The page ends with its binding: the log position and the audit-chain head of the record, and the
packet's own SHA-256, which covers the page's bytes (UTF-8) up to and including
:data:`SHA256_MARKER` (``packet_sha256`` recomputes it from a page).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

SHA256_MARKER = "<!-- packet-sha256 -->"
PAPERS = {"a4": "A4 landscape", "letter": "letter landscape"}

_CSS = """
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", system-ui, sans-serif; color: #1a1a1a; margin: 0;
  font-size: 13px; line-height: 1.35; }
main { max-width: 1240px; margin: 0 auto; padding: 12px 20px 24px; }
h1 { font-size: 21px; margin: 4px 0 2px; }
h2 { font-size: 15px; margin: 18px 0 6px; border-bottom: 2px solid #0072B2; padding-bottom: 2px;
  break-after: avoid; }
.sub { color: #444; margin: 0 0 8px; }
.status { display: inline-block; padding: 1px 8px; border-radius: 3px; background: #e8f1f8;
  border: 1px solid #0072B2; font-weight: 600; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 6px 24px; }
.rec { border: 2px solid #0072B2; background: #f4f9fd; padding: 8px 12px; margin: 10px 0;
  break-inside: avoid; }
.rec .action { font-size: 18px; font-weight: 700; }
table { border-collapse: collapse; margin: 4px 0 8px; width: 100%; }
th, td { border: 1px solid #c4c4c4; padding: 2px 5px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { background: #efefef; font-weight: 600; }
td.num, th.num { text-align: right; }
table.terms td:first-child { width: 11em; font-weight: 600; }
table.compact { width: auto; }
.hash { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 11px;
  overflow-wrap: anywhere; }
figure { margin: 4px 0 8px; break-inside: avoid; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: #444; font-size: 12px; }
.none { color: #666; font-style: italic; }
.overdue { color: #D55E00; font-weight: 600; }
footer { margin-top: 20px; border-top: 2px solid #1a1a1a; padding-top: 6px; font-size: 12px;
  break-inside: avoid; }
@page { size: A4 landscape; margin: 10mm; }
@page letter { size: letter landscape; margin: 10mm; }
body.letter { page: letter; }
@media print {
  main { max-width: none; padding: 0; }
  body { font-size: 10.5px; }
  tr { break-inside: avoid; }
  section.listing { break-before: auto; }
}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, numeric: Iterable[int] = ()
) -> str:
    nums = set(numeric)
    head = "".join(
        f'<th class="num">{_e(h)}</th>' if i in nums else f"<th>{_e(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_e(c)}</td>' if i in nums else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    if not body:
        return '<p class="none">None.</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _terms(rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="terms">{body}</table>'


def _header(h: Mapping[str, Any], recommendation: str) -> str:
    cut = f"as of {h['as_of']}" if h["as_of"] else "latest record"
    schedule = h["schedule"]
    sched = f"{schedule['cycle_length_days']}-day cycle, {schedule['days_on']} days on"
    if schedule["days_off"]:
        sched += f", {schedule['days_off']} off"
    mtd = h["mtd_dose"] or "not declared"
    levels = h["dose_levels"]
    dose_rows = [[f"DL{r['level']}", *(d or "—" for d in r["doses"])] for r in levels["levels"]]
    return f"""<header>
<h1>SRC packet: {_e(h["name"]) or _e(h["protocol_title"])}</h1>
<p class="sub">Protocol {_e(h["protocol_id"])} v{_e(h["protocol_version"])}
({_e(h["protocol_title"])}) · trial <span class="hash">{_e(h["trial_id"])}</span> ·
record: {_e(cut)}, up to {_e(h["at"])} (UTC)</p>
<p><span class="status">{_e(h["status"].replace("_", " "))}</span>
current level DL{_e(h["current_level"])} · MTD: {_e(mtd)} · {h["patients"]} patients ·
path <code>{_e(h["outcomes"] or "(no outcomes yet)")}</code></p>
{recommendation}
<div class="grid"><div>
<h2>Design: {_e(h["design"])}</h2>{_terms(h["design_parameters"])}
<p>Schedule: {_e(sched)}; DLT window {h["dlt_window_days"]} days.</p>
</div><div>
<h2>Dose levels</h2>{_table(["level", *levels["agents"]], dose_rows)}
</div></div>
</header>"""


def _recommendation(rec: Mapping[str, Any], header: Mapping[str, Any]) -> str:
    if header["status"] == "mtd_declared":
        action = f"Escalation ended: MTD declared, {header['mtd_dose']}"
    elif header["status"] == "stopped":
        action = "Escalation ended: stopped without an MTD"
    elif rec["action"] is None:
        action = "No recommendation due yet"
    else:
        action = rec["action"].replace("_", " ")
        if rec["next_dose"] is not None and rec["action"] != "enrol":
            action += f" → DL{rec['next_dose']}"
        if rec["mtd"] is not None:
            action += f" (MTD DL{rec['mtd']})"
    return f"""<section class="rec" id="recommendation">
<div>Current recommendation</div><div class="action">{_e(action)}</div>
<h2>The rule that fired</h2>{_terms(rec["rule"])}
</section>"""


def _cohorts(rows: Sequence[Mapping[str, Any]]) -> str:
    table = _table(
        [
            "cohort",
            "level",
            "enrolled",
            "evaluable",
            "not evaluable",
            "DLTs",
            "recommended",
            "decision",
            "signed by",
            "signed at (UTC)",
            "reason",
            "packet cited",
        ],
        (
            [
                r["cohort"],
                f"DL{r['level']}",
                r["enrolled"],
                r["evaluable"],
                r["not_evaluable"],
                r["dlts"],
                r["recommendation"] or "—",
                r["decision"] or "—",
                r["signer_name"] or r["signed_by"] or "—",
                (r["signed_at"] or "—")[:19],
                r["reason"] or "",
                (r["packet_sha256"] or "")[:12],
            ]
            for r in rows
        ),
        numeric=(0, 2, 3, 4, 5),
    )
    return f'<section id="cohorts"><h2>Cohorts</h2>{table}</section>'


def _dlts(rows: Sequence[Mapping[str, Any]]) -> str:
    table = _table(
        [
            "patient",
            "level",
            "term",
            "grade",
            "onset",
            "day",
            "attribution",
            "criterion",
            "adjudication",
        ],
        (
            [
                r["subject_id"],
                f"DL{r['level']}",
                r["term"],
                r["grade"],
                r["onset"],
                r["onset_day"],
                r["attribution"],
                r["criterion"],
                r["adjudication"],
            ]
            for r in rows
        ),
        numeric=(3, 5),
    )
    return f'<section class="listing" id="dlts"><h2>DLT listing</h2>{table}</section>'


def _ae_summary(summary: Mapping[str, Any]) -> str:
    levels = summary["levels"]
    head = ["term", "level (n)", *(f"G{g}" for g in range(1, 6)), "any", "G≥3"]
    rows = []
    for term in summary["terms"]:
        for row in term["levels"]:
            n = next((lv["patients"] for lv in levels if lv["level"] == row["level"]), 0)
            rows.append(
                [
                    term["term"],
                    f"DL{row['level']} (n={n})",
                    *(row["grades"][str(g)] or "" for g in range(1, 6)),
                    row["any_grade"],
                    row["grade_3_or_worse"],
                ]
            )
    table = _table(head, rows, numeric=range(2, 9))
    deviations = _table(
        ["date", "patient", "level", "reason"],
        (
            [d["clinical_date"], d["subject_id"], f"DL{d['level']}", d["reason"]]
            for d in summary["deviations"]
        ),
    )
    return f"""<section class="listing" id="ae-summary">
<h2>Adverse events: patients by term × worst CTCAE grade × dose level</h2>{table}
<h2>Doses given against an open requirement (protocol deviations)</h2>{deviations}
</section>"""


def _open(items: Mapping[str, Any]) -> str:
    reqs = _table(
        [
            "patient",
            "AE",
            "requires",
            "since",
            "until / condition",
            "deadline",
            "met on",
            "rule",
        ],
        (
            [
                r["subject_id"],
                r["term"],
                r["action"],
                r["since"],
                r["condition"],
                r["deadline"] or "",
                r["met_on"] or "",
                r["rule"],
            ]
            for r in items["requirements"]
        ),
    )
    rems = "".join(
        f"<tr><td>{_e(r['kind'].replace('_', ' '))}</td><td>{_e(r['subject_id'])}</td>"
        f"<td>{_e(r['due_at'][:16])}</td>"
        + ('<td class="overdue">due</td>' if r["overdue"] else "<td>open</td>")
        + "</tr>"
        for r in items["reminders"]
    )
    reminders = (
        "<table><thead><tr><th>reminder</th><th>patient</th><th>due (UTC)</th><th>state</th>"
        f"</tr></thead><tbody>{rems}</tbody></table>"
        if rems
        else '<p class="none">None.</p>'
    )
    return f"""<section id="open"><h2>Open requirements</h2>{reqs}
<h2>Open reminders (holds, CPK windows, eye exams, DLT windows, SRC)</h2>{reminders}</section>"""


def _since(since: Mapping[str, Any]) -> str:
    when = since["since"] or "the start of the trial (no decision yet)"
    table = _table(
        ["recorded (UTC)", "patient", "what", "change", "reason", "by"],
        (
            [r["recorded_at"][:19], r["subject_id"], r["kind"], r["what"], r["reason"], r["by"]]
            for r in since["rows"]
        ),
    )
    return f"""<section id="since"><h2>Deviations and corrections since the last decision</h2>
<p class="sub">Recorded after {_e(when)}.</p>{table}</section>"""


def _footer(binding: Mapping[str, Any]) -> str:
    return f"""<footer id="binding">
<p><strong>Bound to the record.</strong> Built from the trial's events up to log position
{_e(binding["position"])} (audit-chain row {_e(binding["chain_seq"])}, recorded
{_e(binding["recorded_at"])}). Audit-chain head at that position:
<span class="hash" id="chain-head">{_e(binding["chain_head"])}</span>
(<code>doseledger audit verify --expect-head</code> it to show the record is unchanged).</p>
<p>Packet SHA-256 (of this file up to here): {SHA256_MARKER}"""


def render(content: Mapping[str, Any], escalation_svg: str, swimmer_svg: str, paper: str) -> str:
    """The whole page, its SHA-256 in the footer."""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SRC packet: {_e(content["header"]["name"])}</title>
<style>{_CSS}</style></head>
<body class="{_e(paper)}"><main>
{_header(content["header"], _recommendation(content["recommendation"], content["header"]))}
{_cohorts(content["cohorts"])}
<section id="escalation"><h2>Escalation</h2>
<figure class="escalation">{escalation_svg}<figcaption>One marker per patient, in order of
enrolment; dashed lines separate cohorts, each with the SRC's decision above it.</figcaption>
</figure></section>
<section id="swimmer"><h2>Patients on treatment</h2>
<figure class="swimmer">{swimmer_svg}<figcaption>One lane per patient (top: first enrolled),
days from the first dose; bars coloured by dose level, hatched by reduction rung.</figcaption>
</figure></section>
{_dlts(content["dlts"])}
{_ae_summary(content["ae_summary"])}
{_open(content["open"])}
{_since(content["since_last_decision"])}
{_footer(content["binding"])}"""
    digest = hashlib.sha256(page.encode("utf-8")).hexdigest()
    tail = "</p>\n</footer>\n</main></body></html>\n"
    return f'{page}<span class="hash" id="packet-sha256">{digest}</span>{tail}'


def packet_sha256(page: str) -> str:
    """The SHA-256 a packet page states for itself: of its UTF-8 bytes up to the marker."""
    end = page.index(SHA256_MARKER) + len(SHA256_MARKER)
    return hashlib.sha256(page[:end].encode("utf-8")).hexdigest()


def stated_sha256(page: str) -> str:
    """The SHA-256 printed in a packet page's footer."""
    start = page.index('id="packet-sha256">') + len('id="packet-sha256">')
    return page[start : start + 64]
