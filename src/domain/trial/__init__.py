"""The Trial aggregate, its commands by concern, and the pure rules of SRC decisions."""

from domain.trial.aggregate import Trial, TrialStatus
from domain.trial.decision_rules import DECISIONS, REVIEW_OUTCOMES, SIGNING_ROLES, Decision

__all__ = ["DECISIONS", "REVIEW_OUTCOMES", "SIGNING_ROLES", "Decision", "Trial", "TrialStatus"]
