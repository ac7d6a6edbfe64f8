"""Who may do what: the named role sets of the HTTP routes and of the CLI's commands.

Separation of duties: the sites' investigators record clinical data (enrolment included), the
safety review committee signs its decisions and adjudications, admins manage trials, sites and
keys and record no clinical data, and the other roles read. The HTTP dependencies
(``adapters.http.deps``, ``auth``, the routes) admit these sets; each CLI command that records
names the ``Duty`` it performs, whose roles are the same sets, so that a command is refused on
the console exactly as its HTTP twin is refused over HTTP (the README's access matrix).
"""

from __future__ import annotations

from dataclasses import dataclass

# Every key role reads the trials, the protocols and (investigators: their own site's) patients.
READERS = ("investigator", "src_member", "monitor", "auditor", "integration", "admin")
# Clinical data (enrolment and everything recorded about a patient): the sites' investigators.
CLINICAL_WRITERS = ("investigator",)
# The safety review committee's decisions, re-reviews and DLT adjudications.
SRC = ("src_member",)
# Trials, sites and API keys.
ADMINS = ("admin",)
# Trial-wide reads (read models, replay): every reader but the site-bound investigator.
TRIAL_READERS = tuple(role for role in READERS if role != "investigator")
# The regulatory exports.
AUDITORS = ("auditor",)
# The safety review committee's packet: the committee, and those who review its work.
PACKET_READERS = ("src_member", "monitor", "auditor")
# Every site's events: the feed, its stream and the metrics.
OBSERVERS = ("integration", "monitor", "auditor", "admin")
# Webhook subscriptions.
INTEGRATORS = ("integration", "admin")


@dataclass(frozen=True)
class Duty:
    """What a command that records does, and the roles that may do it."""

    act: str
    roles: tuple[str, ...]

    def refusal(self, command: str, role: str) -> str | None:
        """Why ``role`` may not run ``command`` (one line), or None when it may."""
        if role in self.roles:
            return None
        return f"{command} {self.act}: --role {role} may not (allowed: {', '.join(self.roles)})"


CLINICAL_DATA = Duty("records clinical data", CLINICAL_WRITERS)
SRC_SIGNATURE = Duty("signs for the safety review committee", SRC)
TRIAL_MANAGEMENT = Duty("manages trials", ADMINS)
KEY_MANAGEMENT = Duty("manages API keys", ADMINS)
