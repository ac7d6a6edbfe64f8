"""The audit trail of one trial as CSV, JSON lines, or a self-contained HTML report."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from projections.audit_rows import AUDIT_COLUMNS
from projections.csv_cells import write_csv
from projections.src_packet import plots

FORMATS = ("csv", "jsonl", "html")
# The audit table fits a 1,280-pixel screen (and a landscape page): fixed layout, these column
# widths (percent), long cells wrapped; ids in a smaller monospace font.
_WIDTHS = {
    "position": 3,
    "recorded_at": 8,
    "aggregate": 4,
    "aggregate_id": 8,
    "version": 3,
    "event": 7,
    "clinical_date": 6,
    "user_id": 5,
    "role": 6,
    "user_name": 6,
    "client": 5,
    "request_id": 7,
    "change": 9,
    "reason": 11,
    "summary": 12,
}
_HEADINGS = {"position": "pos.", "version": "ver."}
_CLASS = {"aggregate_id": ' class="id"', "request_id": ' class="id"'}


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """One header line, then one line per event (text cells neutralised: csv_cells)."""
    return write_csv(rows, AUDIT_COLUMNS)


def to_jsonl(rows: Sequence[dict[str, Any]]) -> str:
    """One JSON object per line, per event."""
    return "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)


def _design_html(trial: dict[str, Any]) -> tuple[str, str, bool]:
    """The design's paragraph, the level table's extra headings, and whether it is an
    interval design (whose levels show their boundaries, eliminations and estimates)."""
    e = html.escape
    design = trial.get("design") or {"kind": "3+3"}
    if design["kind"] == "3+3":
        variant = "with" if design.get("deescalate", True) else "without"
        return f"<p>Design: 3+3, {variant} de-escalation.</p>", "", False
    shown = {k: v for k, v in design.items() if k not in ("kind", "eliminated") and v is not None}
    terms = ", ".join(f"{e(k)} {e(str(v))}" for k, v in shown.items())
    eliminated = ", ".join(f"DL{lv}" for lv in design.get("eliminated", [])) or "none"
    text = (
        f"<p>Design: {e(design['kind'])} ({terms}); eliminated dose levels: {eliminated}. "
        "Boundaries in force at each level's evaluated patients: escalate with at most, "
        "de-escalate with at least, eliminate with at least this many DLTs; isotonic "
        "estimates once the trial has ended.</p>"
    )
    heads = (
        "<th>evaluated</th><th>escalate ≤</th><th>de-escalate ≥</th><th>eliminate ≥</th>"
        "<th>eliminated</th><th>isotonic estimate</th>"
    )
    return text, heads, True


def _level_cells(level: dict[str, Any]) -> str:
    bounds = level.get("boundaries") or {}

    def cell(value: Any) -> str:
        return f"<td>{'-' if value is None else value}</td>"

    return (
        cell(level.get("evaluated"))
        + cell(bounds.get("escalate_at_most"))
        + cell(bounds.get("deescalate_at_least"))
        + cell(bounds.get("eliminate_at_least"))
        + cell("yes" if level.get("eliminated") else "no")
        + cell(level.get("estimate"))
    )


def to_html(trial: dict[str, Any], rows: Sequence[dict[str, Any]]) -> str:
    """A printable, self-contained report: summary, design, escalation chart, audit table."""
    e = html.escape
    mtd = trial.get("mtd_dose") or "not declared"
    design_text, design_heads, interval = _design_html(trial)
    levels = "".join(
        f"<tr><td>DL{lv['level']}</td><td>{e(lv['dose'])}</td><td>{lv['patients']}</td>"
        f"<td>{lv['dlts']}</td>{_level_cells(lv) if interval else ''}</tr>"
        for lv in trial["levels"]
    )
    cohorts = "".join(
        f"<tr><td>{c['cohort']}</td><td>DL{c['level']}</td><td>{c['enrolled']}</td>"
        f"<td>{c['evaluable']}</td><td>{c['dlts']}</td><td>{e(c['recommendation'] or '-')}</td>"
        f"<td>{e(c['decision'] or '-')}</td><td>{e(c['signed_by'] or '-')}</td>"
        f"<td>{e(c['reason'] or '')}</td></tr>"
        for c in trial["cohorts"]
    )
    header = "".join(
        f"<th>{e(_HEADINGS.get(col, col.replace('_', ' ')))}</th>" for col in AUDIT_COLUMNS
    )
    widths = "".join(f'<col style="width: {_WIDTHS[col]}%">' for col in AUDIT_COLUMNS)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{_CLASS.get(c, '')}>{e('' if row[c] is None else str(row[c]))}</td>"
            for c in AUDIT_COLUMNS
        )
        + "</tr>"
        for row in rows
    )
    # The SRC packet's escalation plot (matplotlib SVG), from the cohorts' counts.
    chart = plots.escalation_svg(plots.points_from_cohorts(trial["cohorts"]), len(trial["levels"]))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Audit trail: {e(trial["name"])}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 12px; }}
th, td {{ border: 1px solid #bbb; padding: 3px 6px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; word-break: break-word; white-space: pre-line; }}
th {{ background: #eee; }}
table.audit {{ table-layout: fixed; width: 100%; font-size: 11px; }}
table.audit th, table.audit td {{ padding: 2px 3px; }}
figure svg {{ max-width: 100%; height: auto; }}
table.audit td.id {{ font-family: ui-monospace, monospace; font-size: 10px; color: #555; }}
@media print {{ @page {{ size: landscape; }} body {{ margin: 0; }}
  table {{ page-break-inside: auto; }} tr {{ page-break-inside: avoid; }} }}
</style></head><body>
<h1>Audit trail: {e(trial["name"])}</h1>
<p>Trial {e(trial["id"])}, protocol {e(trial["protocol"])}; status {e(trial["status"])};
MTD: {e(mtd)}; path <code>{e(trial["outcomes"] or "(none)")}</code>;
{len(rows)} recorded events (times are UTC, as recorded by the server).</p>
<h2>Dose levels</h2>
{design_text}
<table><tr><th>level</th><th>dose</th><th>patients</th><th>DLTs</th>{design_heads}</tr>{levels}</table>
<h2>Escalation</h2>
<p>One marker per patient in order of enrolment, by DLT-window outcome (shape and colour);
dashed lines separate cohorts, each with the SRC's decision above it.</p>
<figure style="margin: 0">{chart}</figure>
<table><tr><th>cohort</th><th>level</th><th>enrolled</th><th>evaluable</th><th>DLTs</th>
<th>recommended</th><th>SRC decision</th><th>signed by</th><th>reason</th></tr>{cohorts}</table>
<h2>Audit trail</h2>
<table class="audit"><colgroup>{widths}</colgroup><tr>{header}</tr>{body}</table>
</body></html>
"""
