"""Modules stay small enough to read in one sitting (issue 13): none in ``src`` or ``scripts``
is over MAX_LINES, but those named here, each with the reason it is longer."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 500
LONGER = {
    "scripts/bench_projections.py": (
        "a benchmark that generates realistic trial histories (patients, AEs, holds, "
        "corrections) and times five phases over them; its generator is not split out yet"
    ),
    "scripts/bench_api.py": (
        "a benchmark that starts a real service and drives it with concurrent clients through "
        "a clinic's whole workflow; its workload is not split out yet"
    ),
}
"""Modules allowed over MAX_LINES, and why."""


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def _modules() -> list[Path]:
    return sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "scripts").glob("*.py")])


def test_no_module_is_longer_than_a_sitting_without_a_reason() -> None:
    long = {
        str(path.relative_to(ROOT)): _lines(path)
        for path in _modules()
        if _lines(path) > MAX_LINES and str(path.relative_to(ROOT)) not in LONGER
    }
    assert long == {}


def test_every_module_allowed_to_be_longer_still_is() -> None:
    shorter = [name for name in LONGER if _lines(ROOT / name) <= MAX_LINES]
    assert shorter == [], "drop these from LONGER"
