"""The packet's pictures, drawn with matplotlib as SVG text: the escalation plot and the swimmer
plot (the HTML audit report's escalation chart is the same escalation plot).

Deterministic: the Agg-free SVG backend on a bare ``Figure`` (no pyplot, no global state), a fixed
``svg.hashsalt`` per plot (the ids matplotlib writes), no date in the metadata, text kept as text.
The same facts give the same bytes, so a packet's SHA-256 depends only on its record.

Colour-blind safe: the Okabe–Ito palette, and every kind also has its own marker shape. Each
marker is its own artist with a ``gid`` (the SVG ``id`` of its group), so the SVG can be read
back: ``esc-<kind>-<x>`` on the escalation plot, and on the swimmer plot ``lane-<n>``,
``window-<n>``, ``dose-<n>-<i>``, ``hold-<n>-<i>``, ``ae-<n>-<i>-g<grade>``, ``dlt-<n>``,
``end-<n>-<what>`` (n: the patient's order of enrolment, from 1).

matplotlib is imported when a plot is drawn, not when this module is: importing the ledger or the
HTTP app does not pay for it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
# kind: (label, marker, face colour, edge colour)
MARKERS: dict[str, tuple[str, str, str, str]] = {
    "dlt": ("DLT", "X", OKABE_ITO["vermillion"], OKABE_ITO["black"]),
    "no_dlt": ("no DLT", "o", OKABE_ITO["green"], OKABE_ITO["black"]),
    "not_evaluable": ("not evaluable (replaced)", "s", "white", OKABE_ITO["black"]),
    "in_window": ("in DLT window / awaited", "^", OKABE_ITO["sky_blue"], OKABE_ITO["black"]),
}
# CTCAE grade: (marker, colour)
GRADE_MARKERS: dict[int, tuple[str, str]] = {
    1: ("o", OKABE_ITO["sky_blue"]),
    2: ("s", OKABE_ITO["yellow"]),
    3: ("^", OKABE_ITO["orange"]),
    4: ("D", OKABE_ITO["vermillion"]),
    5: ("v", OKABE_ITO["black"]),
}
LEVEL_COLOURS = (
    OKABE_ITO["blue"],
    OKABE_ITO["green"],
    OKABE_ITO["purple"],
    OKABE_ITO["orange"],
    OKABE_ITO["sky_blue"],
    OKABE_ITO["vermillion"],
)
RUNG_HATCHES = ("", "////", "xxxx", "....")
END_MARKERS = {"discontinued": "X", "died": "P", "left the study": "s", "ongoing": ">"}
END_FACE = {"ongoing": "#999999"}
WIDTH_IN = 12.0


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _svg(fig: Any, salt: str, title: str) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context(
        {"svg.hashsalt": salt, "svg.fonttype": "none", "font.family": "DejaVu Sans"}
    ):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Title": title})
    text = buffer.getvalue()
    # Inline in an HTML page: from the <svg> element on (no XML declaration, no DOCTYPE), and
    # without the RDF metadata block (its vocabulary URLs are no part of a self-contained page).
    text = text[text.index("<svg") :]
    start, end = text.find(" <metadata>"), text.find("</metadata>\n")
    if start >= 0 and end > start:
        text = text[:start] + text[end + len("</metadata>\n") :]
    return text


def points_from_cohorts(cohorts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Escalation markers from a cohort table's counts alone (the audit report has no patients):
    per cohort its DLTs, its patients without a DLT, those not evaluable, those still awaited."""
    points, spans, x = [], [], 0
    for row in cohorts:
        kinds = (
            ["dlt"] * row["dlts"]
            + ["no_dlt"] * (row["evaluable"] - row["dlts"])
            + ["not_evaluable"] * row["not_evaluable"]
        )
        kinds += ["in_window"] * max(0, row["enrolled"] - len(kinds))
        first = x + 1
        for kind in kinds:
            x += 1
            points.append({"x": x, "cohort": row["cohort"], "level": row["level"], "kind": kind})
        if kinds:
            spans.append(
                {
                    "cohort": row["cohort"],
                    "level": row["level"],
                    "first": first,
                    "last": x,
                    "decision": row["decision"],
                }
            )
    return {"points": points, "cohorts": spans}


def escalation_svg(escalation: Mapping[str, Any], num_levels: int) -> str:
    """Patients in order of enrolment (x) at their dose level (y), one marker per patient by
    its DLT-window outcome, cohorts separated and each decision written above its cohort."""
    points, spans = escalation["points"], escalation["cohorts"]
    count = max(len(points), 1)
    fig = _figure(min(WIDTH_IN, 3.0 + 0.32 * count), 1.6 + 0.55 * num_levels)
    ax = fig.add_subplot()
    for span in spans[1:]:
        ax.axvline(span["first"] - 0.5, color="#999999", linewidth=0.8, linestyle="--")
    for span in spans:
        mid = (span["first"] + span["last"]) / 2
        ax.text(
            mid,
            num_levels + 0.55,
            f"C{span['cohort']}" + (f"\n{span['decision']}" if span["decision"] else ""),
            ha="center",
            va="bottom",
            fontsize=7.5,
        )
    seen: set[str] = set()
    for pt in points:
        label, marker, face, edge = MARKERS[pt["kind"]]
        (artist,) = ax.plot(
            [pt["x"]],
            [pt["level"]],
            linestyle="none",
            marker=marker,
            markersize=9,
            markerfacecolor=face,
            markeredgecolor=edge,
            markeredgewidth=0.9,
            label=None if pt["kind"] in seen else label,
        )
        artist.set_gid(f"esc-{pt['kind']}-{pt['x']}")
        seen.add(pt["kind"])
    ax.set_xlim(0.3, count + 0.7)
    ax.set_ylim(0.4, num_levels + 1.3)
    ax.set_yticks(range(1, num_levels + 1), [f"DL{lv}" for lv in range(1, num_levels + 1)])
    ax.set_xticks(range(1, count + 1), [str(i) for i in range(1, count + 1)], fontsize=7)
    ax.set_xlabel("patients in order of enrolment")
    ax.set_ylabel("dose level")
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.spines[["top", "right"]].set_visible(False)
    if points:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    return _svg(fig, "doseledger-escalation", "Escalation plot")


def swimmer_svg(lanes: Sequence[Mapping[str, Any]], num_levels: int) -> str:
    """One lane per patient, days from the first dose: dosing bars by dose level (colour) and
    rung (hatch), holds, AEs by worst grade, the DLT window shaded, the DLT and the end of
    treatment marked."""
    count = max(len(lanes), 1)
    lane_h = 0.3 if count <= 60 else 0.16
    fig = _figure(WIDTH_IN, 1.9 + lane_h * count)
    ax = fig.add_subplot()
    right = 28
    for n, ln in enumerate(lanes, start=1):
        y = count - n + 1  # the first enrolled at the top
        guide = ax.axhline(y, color="#dddddd", linewidth=0.5, zorder=-1)
        guide.set_gid(f"lane-{n}")
        if not ln["started"]:
            continue
        right = max(right, ln["end_day"] + 2, ln["window_days"] + 2)
        window = ax.broken_barh(
            [(0.5, ln["window_days"])], (y - 0.45, 0.9), facecolors="#ececec", zorder=0
        )
        window.set_gid(f"window-{n}")
        colour = LEVEL_COLOURS[(ln["level"] - 1) % len(LEVEL_COLOURS)]
        for i, seg in enumerate(ln["segments"]):
            bar = ax.broken_barh(
                [(seg["start"] - 0.5, seg["end"] - seg["start"])],
                (y - 0.22, 0.44),
                facecolors=colour,
                edgecolors="white",
                hatch=RUNG_HATCHES[min(seg["rung"], len(RUNG_HATCHES) - 1)],
                linewidth=0.4,
                zorder=1,
            )
            bar.set_gid(f"dose-{n}-{i}")
        for i, hold in enumerate(ln["holds"]):
            gap = ax.broken_barh(
                [(hold["start"] - 0.5, hold["end"] - hold["start"])],
                (y - 0.22, 0.44),
                facecolors="white",
                edgecolors="#555555",
                hatch="----",
                linewidth=0.5,
                zorder=2,
            )
            gap.set_gid(f"hold-{n}-{i}")
        for i, ae in enumerate(ln["aes"]):
            marker, face = GRADE_MARKERS[max(1, min(ae["grade"], 5))]
            (dot,) = ax.plot(
                [ae["day"]],
                [y + 0.3],
                linestyle="none",
                marker=marker,
                markersize=6.5,
                markerfacecolor=face,
                markeredgecolor="black",
                markeredgewidth=0.6,
                zorder=4,
            )
            dot.set_gid(f"ae-{n}-{i}-g{ae['grade']}")
        for d in ln["dlt_days"]:
            (star,) = ax.plot(
                [d],
                [y],
                linestyle="none",
                marker="*",
                markersize=13,
                markerfacecolor=OKABE_ITO["vermillion"],
                markeredgecolor="black",
                markeredgewidth=0.7,
                zorder=5,
            )
            star.set_gid(f"dlt-{n}")
        if ln["end"] is not None:
            (end,) = ax.plot(
                [ln["end_day"] + 0.5],
                [y],
                linestyle="none",
                marker=END_MARKERS[ln["end"]],
                markersize=7,
                markerfacecolor=END_FACE.get(ln["end"], "black"),
                markeredgecolor="black",
                zorder=5,
            )
            end.set_gid(f"end-{n}-{ln['end'].replace(' ', '_')}")
    labels = [f"{ln['subject_id']} (DL{ln['level']}, C{ln['cohort']})" for ln in lanes]
    ax.set_yticks(range(count, count - len(lanes), -1), labels, fontsize=7)
    ax.set_ylim(0.4, count + 0.75)
    ax.set_xlim(0, right)
    ax.set_xlabel("study day (day 1 = first dose; shaded: DLT window)")
    ax.grid(axis="x", color="#eeeeee", linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(
        handles=_swimmer_legend(num_levels),
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=7.5,
        frameon=False,
    )
    fig.tight_layout()
    return _svg(fig, "doseledger-swimmer", "Swimmer plot")


def _swimmer_legend(num_levels: int) -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [
        Patch(facecolor=LEVEL_COLOURS[(lv - 1) % len(LEVEL_COLOURS)], label=f"dosing at DL{lv}")
        for lv in range(1, num_levels + 1)
    ]
    handles += [
        Patch(facecolor="#888888", hatch=RUNG_HATCHES[1], edgecolor="white", label="1 rung down"),
        Patch(facecolor="#888888", hatch=RUNG_HATCHES[2], edgecolor="white", label="2 rungs down"),
        Patch(facecolor="white", hatch="----", edgecolor="#555555", label="dose held"),
        Patch(facecolor="#ececec", label="DLT window"),
    ]
    handles += [
        Line2D(
            [],
            [],
            linestyle="none",
            marker=m,
            markerfacecolor=c,
            markeredgecolor="black",
            label=f"AE grade {g}",
        )
        for g, (m, c) in GRADE_MARKERS.items()
    ]
    handles += [
        Line2D(
            [],
            [],
            linestyle="none",
            marker="*",
            markersize=11,
            markerfacecolor=OKABE_ITO["vermillion"],
            markeredgecolor="black",
            label="DLT",
        ),
    ]
    handles += [
        Line2D(
            [],
            [],
            linestyle="none",
            marker=m,
            markerfacecolor=END_FACE.get(what, "black"),
            markeredgecolor="black",
            label="on study (last contact)" if what == "ongoing" else what,
        )
        for what, m in END_MARKERS.items()
    ]
    return handles
