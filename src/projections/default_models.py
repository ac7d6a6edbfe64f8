"""Which read models a store has by default, in the order their runner feeds them.

Apart from ``read_models`` so that the second process of a parallel rebuild
(``projections.parallel_rebuild``) builds the same models without importing the runner's owner.
"""

from __future__ import annotations

from projections.models.audit_trail import AuditPatients, AuditTrail
from projections.models.base import ReadModel
from projections.models.cohort_summary import CohortSummary
from projections.models.directory import PatientDirectory
from projections.models.patient_timeline import PatientTimeline, TimelineDoses
from projections.models.reminder_index import ReminderIndex
from projections.models.safety_table import SafetyTable
from projections.models.trial_overview import TrialOverview
from projections.store import Store

DEFAULT_CACHE_SIZE = 50_000


def default_read_models(store: Store, *, cache_size: int = DEFAULT_CACHE_SIZE) -> list[ReadModel]:
    """Every read model, each after those it looks things up in."""
    directory = PatientDirectory(store, capacity=cache_size)
    audit_patients = AuditPatients(store, capacity=cache_size)
    cohorts = CohortSummary(store, capacity=max(1, cache_size // 5))
    return [
        directory,
        TrialOverview(store, capacity=max(1, cache_size // 5)),
        cohorts,
        ReminderIndex(store, cohorts, capacity=cache_size),
        PatientTimeline(store, directory),
        SafetyTable(store, directory),
        audit_patients,
        AuditTrail(store, audit_patients),
        TimelineDoses(store, audit_patients),
    ]
