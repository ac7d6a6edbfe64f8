"""The Patient aggregate and the pure rules it applies (requirements, DLT window, dates)."""

from domain.patient.aggregate import Patient
from domain.patient.terms import BLURRED_VISION, EYE_EXAM_PURPOSES, EYES, RASH

__all__ = ["BLURRED_VISION", "EYES", "EYE_EXAM_PURPOSES", "RASH", "Patient"]
