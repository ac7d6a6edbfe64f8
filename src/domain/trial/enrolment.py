# mypy: disable-error-code="misc"
# Why: the methods below are the aggregate's own and annotate ``self: Trial``; mypy reports a
# self type that is a subclass of the mixin as [misc] ("not a supertype of its class") though it
# checks the bodies and every call against Trial. That report is the only [misc] in the module.
"""The Trial's enrolment commands: a patient into the open cohort, a site's time zone.

A mixin of :class:`~domain.trial.aggregate.Trial` (the events and the state they build live there;
the aggregate's metaclass needs its ``@event`` methods on the class itself).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from domain.actors import Actor
from domain.errors import CommandRefused
from domain.site_time import check_time_zone

if TYPE_CHECKING:
    from domain.trial.aggregate import Trial


class EnrolmentCommands:
    """Enrolment into the open cohort, and the zone each site's clinical dates are read in."""

    def site_time_zone(self: Trial, site_id: str) -> str:
        """The site's IANA time zone: as recorded at its first use, else the protocol's default."""
        return self.site_time_zones.get(site_id, self.protocol.default_site_time_zone)

    def check_site_time_zone(self: Trial, site_id: str, time_zone: str | None) -> str:
        """The zone an enrolment at the site is under; refuses an unknown zone, or another
        zone than the one already recorded for the site (that would be a correction)."""
        if time_zone is None:
            return self.site_time_zone(site_id)
        check_time_zone(time_zone, field="site_time_zone")
        recorded = self.site_time_zones.get(site_id)
        if recorded is not None and recorded != time_zone:
            raise CommandRefused(
                f"site {site_id} is already recorded in time zone {recorded}, not {time_zone}",
                rule="site_time_zone_differs",
                field="site_time_zone",
            )
        return time_zone

    def enrol(
        self: Trial,
        patient_id: UUID,
        subject_id: str,
        site_id: str,
        actor: Actor,
        *,
        site_time_zone: str | None = None,
    ) -> int:
        """Assign a patient to the open cohort; returns the dose level they receive.

        A site's first enrolment records its time zone: ``site_time_zone``, else the protocol's
        default.
        """
        self._check_escalating()
        time_zone = self.check_site_time_zone(site_id, site_time_zone)
        cohort = self.open_cohort
        if cohort.open_places <= 0:
            state = "awaiting outcomes" if cohort.awaiting_outcome else "awaiting the SRC decision"
            raise CommandRefused(
                f"cohort {cohort.number} at dose level {cohort.level} is full "
                f"({len(cohort.active)} of {cohort.size}, {state})",
                rule="cohort_full",
            )
        if subject_id in self.subjects:
            raise CommandRefused(
                f"subject id {subject_id} is already used in this trial",
                rule="subject_id_taken",
                field="subject_id",
            )
        if site_id not in self.site_time_zones:
            self._site_time_zone_recorded(
                site_id=site_id,
                time_zone=time_zone,
                source="protocol_default" if site_time_zone is None else "enrolment",
                actor=actor.as_record(),
            )
        self._enrolled(
            patient_id=patient_id,
            subject_id=subject_id,
            site_id=site_id,
            cohort=cohort.number,
            level=cohort.level,
            replaces=cohort.unreplaced_non_evaluable(),
            actor=actor.as_record(),
        )
        return cohort.level
