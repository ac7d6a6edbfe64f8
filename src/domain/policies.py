"""Cross-aggregate domain policies: what a fact on a Patient means for its Trial's cohort.

Domain services (pure, no I/O): the application loads both aggregates, calls one of these and
saves both in one ``save``, so the Patient and its Trial change together or not at all. An AE's
DLT verdict becomes the cohort's outcome or an SRC candidate; a correction that changes the
window's outcome revises the cohort's and flags a decision already signed on it.

A DLT dated inside the window always reaches the cohort, even when
it is entered after the window closed without one (the outcome is revised, and a decision
already signed on the cohort is flagged for re-review).
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from domain.actors import Actor
from domain.patient import Patient
from domain.patient.results import OutcomeChange
from domain.trial import Trial


def apply_dlt_verdict(trial: Trial, patient: Patient, ae_id: UUID, actor: Actor) -> None:
    """Put an AE's DLT verdict on the cohort: a DLT closes (or revises) the window; a
    candidate goes before the SRC (a window closed without a DLT is open again until the
    SRC adjudicates it)."""
    ae = patient.adverse_events[ae_id]
    if ae.dlt_verdict == "not_dlt":
        return
    reached = ae.dlt_reached_on or ae.onset
    description = f"{ae.term}, grade {ae.worst_grade} (AE {ae_id}): {ae.dlt_criterion}"
    if trial.status != "escalating":
        # The escalation is over (MTD declared or stopped): a DLT dated inside a window still
        # changes its cohort, and flags the decision it was made on for re-review.
        if ae.dlt_verdict == "dlt" and patient.dlt_outcome in (None, "no_dlt"):
            reason = f"DLT dated {reached}, recorded after the escalation ended"
            if patient.dlt_outcome is None:
                patient.record_dlt(ae_id, actor, description=description)
            else:
                patient.revise_outcome_for_dlt(ae, actor, reason)
            trial.revise_outcome(patient.id, "dlt", actor, reason=reason, clinical_date=reached)
        return
    if ae.dlt_verdict == "dlt":
        if patient.dlt_outcome is None:
            patient.record_dlt(ae_id, actor, description=description)
            trial.record_outcome(patient.id, "dlt", reached, actor, description=description)
        elif patient.dlt_outcome == "no_dlt":
            reason = f"DLT dated {reached}, inside the window, recorded after it closed"
            patient.revise_outcome_for_dlt(ae, actor, reason)
            trial.revise_outcome(patient.id, "dlt", actor, reason=reason, clinical_date=reached)
    elif patient.dlt_outcome in (None, "no_dlt") and ae_id in patient.dlt_candidates:
        if patient.dlt_outcome == "no_dlt":
            reason = f"DLT candidate dated {reached}, inside the window, recorded after it closed"
            patient.reopen_window_for_candidate(actor, reason)
            trial.revise_outcome(patient.id, None, actor, reason=reason, clinical_date=reached)
        trial.raise_dlt_candidate(
            patient.id,
            ae_id,
            reached,
            actor,
            description=description,
            criterion=ae.dlt_criterion,
        )


def apply_outcome_change(
    trial: Trial, patient: Patient, change: OutcomeChange | None, actor: Actor, reason: str
) -> None:
    """What a correction changed in the DLT window, carried to the cohort."""
    if change is None:
        return
    if change.outcome is None:
        trial.revise_outcome(
            patient.id, None, actor, reason=f"{reason} (AE {change.ae_id}: {change.criterion})"
        )
    else:
        apply_dlt_verdict(trial, patient, change.ae_id, actor)


def apply_window_outcome(
    trial: Trial,
    patient: Patient,
    clinical_date: dt.date,
    actor: Actor,
    *,
    description: str = "",
    reason: str = "",
) -> None:
    """The DLT window the patient just closed, recorded on its cohort with the same outcome
    (a window closed without one counts as not evaluable)."""
    trial.record_outcome(
        patient.id,
        patient.dlt_outcome or "not_evaluable",
        clinical_date,
        actor,
        description=description,
        reason=reason,
    )


def adjudicate_dlt_candidate(
    trial: Trial, patient: Patient, ae_id: UUID, confirmed: bool, signer: Actor, *, reason: str
) -> None:
    """The SRC's adjudication of a DLT candidate, on the patient and its cohort together: a
    confirmed candidate closes the window with a DLT on both; a rejected one leaves the
    candidate list of both.

    The cohort's DLT is dated as the patient's: when the AE met the DLT criterion (a grade
    change may reach it after the onset), never at the onset alone."""
    if confirmed:
        description = patient.confirm_dlt_candidate(ae_id, signer)
        ae = patient.adverse_events[ae_id]
        trial.adjudicate_dlt_candidate(
            patient.id,
            ae_id,
            True,
            signer,
            reason=reason,
            clinical_date=ae.dlt_reached_on or ae.onset,
            description=description,
        )
    else:
        trial.adjudicate_dlt_candidate(patient.id, ae_id, False, signer, reason=reason)
        patient.reject_dlt_candidate(ae_id, reason, signer)
