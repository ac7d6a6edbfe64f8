"""The words the Patient's commands name: the two CTCAE terms graded from measurements, the
eyes, and why an on-treatment eye exam was done."""

from __future__ import annotations

BLURRED_VISION = "Blurred vision"
RASH = "Rash acneiform"
EYES = ("right", "left")
EYE_EXAM_PURPOSES = ("follow_up", "referral")
"""Why an on-treatment eye exam was done: the scheduled follow-up, or a visual-AE referral."""
