"""The safety review committee's packet: what a dose-escalation meeting reads (issue 16).

Built in steps, each a function of the one before: ``record`` (a trial and its patients replayed
up to an instant, as plain data), ``content`` (the facts: header, recommendation and rule,
cohorts, escalation markers, swimmer lanes, DLT listing, AE summary, open items, changes since
the last decision, binding), ``plots`` (the pictures, matplotlib SVG), ``html`` (one
self-contained page carrying its own SHA-256). ``designs`` is where a design states its terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.errors import InvalidInput
from projections.src_packet import html, plots
from projections.src_packet.content import packet_content

__all__ = ["Packet", "build_packet"]


@dataclass(frozen=True)
class Packet:
    """One packet: the page, its SHA-256 (as its footer states it) and the facts it shows."""

    html: str
    sha256: str
    content: dict[str, Any]


def build_packet(record: Mapping[str, Any], *, paper: str = "a4") -> Packet:
    """The packet of a record (``record.packet_record``), for A4 or Letter paper."""
    if paper not in html.PAPERS:
        raise InvalidInput(f"paper: one of {', '.join(html.PAPERS)}, got {paper!r}", field="paper")
    content = packet_content(record)
    levels = content["escalation"]["num_levels"]
    page = html.render(
        content,
        plots.escalation_svg(content["escalation"], levels),
        plots.swimmer_svg(content["lanes"], levels),
        paper,
    )
    return Packet(page, html.stated_sha256(page), content)
