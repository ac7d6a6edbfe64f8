"""What an SRC decision may cite: the SHA-256 of the packet the committee decided on.

The packet (``projections.src_packet``) is bound to the record it was built from; a decision
that cites its hash is bound to that packet. The hash is text of a fixed shape, checked before
the decision's event is triggered.
"""

from __future__ import annotations

import re

from domain.errors import InvalidInput

PACKET_SHA256 = re.compile(r"[0-9a-f]{64}")
"""A packet's SHA-256 as the packet prints it: 64 lowercase hexadecimal digits."""


def check_packet_sha256(value: str | None) -> None:
    """Refuse a cited packet hash that is not 64 lowercase hexadecimal digits (None: none cited)."""
    if value is not None and not PACKET_SHA256.fullmatch(value):
        raise InvalidInput(
            "packet_sha256: expected the packet's SHA-256 as 64 lowercase hexadecimal digits, "
            f"got {len(value)} characters",
            field="packet_sha256",
        )
