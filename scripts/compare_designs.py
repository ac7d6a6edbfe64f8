"""Print docs/designs.md's comparison of the 3+3, BOIN, i3+3 and mTPI-2, computed exactly.

Usage: .venv/bin/python scripts/compare_designs.py

Two tables. The first takes the five dose-toxicity curves of Zhao, Yuan, Korn & Freidlin (2024),
"Backfilling patients in phase I dose-escalation trials using Bayesian optimal interval design
(BOIN)", Clin Cancer Res 30:673-679, Table 3, with the paper's settings (target 0.25, ten cohorts
of 3, n_earlystop 9), and prints beside ours the one BOIN row of the paper's Table 4 that could be
read from here (PUBLISHED). The second is this project's own set of scenarios. Our figures are
exact (dynamic programming over trial states); the published ones are simulation estimates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from domain.designs import interval_operating_characteristics as interval_oc
from domain.designs import operating_characteristics as three_plus_three_oc
from domain.designs.catalogue import interval_design
from domain.designs.interval_designs import DoseRule, Move
from domain.designs.operating_characteristics import OperatingCharacteristics


@dataclass(frozen=True)
class Scenario:
    name: str
    target: float
    true_tox: tuple[float, ...]
    max_n: int
    n_earlystop: int = 100

    @property
    def mtd(self) -> int:
        """The true MTD: the dose whose true DLT rate is closest to the target."""
        gaps = [abs(p - self.target) for p in self.true_tox]
        return gaps.index(min(gaps)) + 1


@dataclass(frozen=True)
class Published:
    """One design's row of a paper's table, in the paper's units (percent, mean patients)."""

    source: str
    select_mtd: float
    select_above: float
    patients_below: float
    patients_at: float
    patients_above: float
    sample_size: float


def _zhao(number: int, true_tox: tuple[float, ...]) -> Scenario:
    return Scenario(f"Zhao et al. 2024, Table 3, DLT curve {number}", 0.25, true_tox, 30, 9)


ZHAO_2024 = (
    _zhao(1, (0.25, 0.41, 0.45, 0.49, 0.53)),
    _zhao(2, (0.12, 0.25, 0.42, 0.49, 0.55)),
    _zhao(3, (0.04, 0.12, 0.25, 0.43, 0.63)),
    _zhao(4, (0.02, 0.06, 0.10, 0.25, 0.40)),
    _zhao(5, (0.02, 0.05, 0.08, 0.11, 0.25)),
)

# Zhao et al. 2024, Table 4, scenario 3, BOIN without backfilling, as quoted in the CRAN package
# simFastBOIN 2.1.0, vignette "simFastBOIN-backfill" (row "BOIN, Table 4"). The paper's own PDF
# could not be read from this workplace; no 3+3, i3+3 or mTPI-2 figure is published there.
PUBLISHED = {
    (ZHAO_2024[2].name, "boin"): Published(
        "Zhao et al. 2024, Table 4 (simulated)", 56.7, 12.3, 11.4, 8.0, 4.6, 23.9
    ),
}

PROJECT = (
    Scenario("R BOIN ?get.oc example", 0.30, (0.05, 0.15, 0.30, 0.45, 0.60), 30),
    Scenario("MTD at dose 1 (this project)", 0.25, (0.25, 0.35, 0.50, 0.60, 0.70, 0.80), 36),
    Scenario("MTD at the top (this project)", 0.30, (0.02, 0.05, 0.08, 0.12, 0.30), 30),
    Scenario("MTD at dose 2 (this project)", 0.30, (0.10, 0.30, 0.50, 0.60, 0.70), 30),
)


@dataclass(frozen=True)
class StayOnOneOfThree:
    """BOIN as Zhao et al. (2024) ran it at target 0.25: 1 DLT in 3 stays (BOIN de-escalates).

    A check of the published row, local to this script: the engines are not changed.
    """

    inner: DoseRule

    @property
    def kind(self) -> str:
        return self.inner.kind

    @property
    def target(self) -> float:
        return self.inner.target

    def parameters(self) -> dict[str, object]:
        return self.inner.parameters()

    def move(self, patients: int, dlts: int) -> Move:
        if patients == 3 and dlts == 1:
            return "stay"
        return self.inner.move(patients, dlts)


def characteristics(scenario: Scenario) -> dict[str, OperatingCharacteristics]:
    """Exact characteristics of every design under the scenario."""
    found = {
        "3+3": three_plus_three_oc.exact(scenario.true_tox, deescalate=False),
        "3+3 (Korn)": three_plus_three_oc.exact(scenario.true_tox, deescalate=True),
    }
    for kind in ("boin", "i3+3", "mtpi2"):
        design = interval_design(
            kind, scenario.target, max_n=scenario.max_n, n_earlystop=scenario.n_earlystop
        )
        found[kind] = interval_oc.exact(design, scenario.true_tox)
        if kind == "boin" and (scenario.name, kind) in PUBLISHED:
            variant = replace(design, rule=StayOnOneOfThree(design.rule))
            found["boin, 1/3 stays"] = interval_oc.exact(variant, scenario.true_tox)
    return found


def _row(design: str, oc: OperatingCharacteristics, mtd: int) -> list[str]:
    below = sum(lc.expected_patients for lc in oc.levels if lc.level < mtd)
    at = oc.levels[mtd - 1].expected_patients
    above = sum(lc.expected_patients for lc in oc.levels if lc.level > mtd)
    select_above = sum(lc.p_select for lc in oc.levels if lc.level > mtd)
    return [
        design,
        f"{100 * oc.levels[mtd - 1].p_select:.1f}",
        f"{100 * select_above:.1f}",
        f"{below:.1f}",
        f"{at:.1f}",
        f"{above:.1f} ({above / oc.expected_sample_size:.0%})",
        f"{100 * oc.p_no_mtd:.1f}",
        f"{oc.expected_sample_size:.1f}",
    ]


def _published_row(pub: Published) -> list[str]:
    above = f"{pub.patients_above:.1f} ({pub.patients_above / pub.sample_size:.0%})"
    return [
        f"↳ {pub.source}",
        f"{pub.select_mtd:.1f}",
        f"{pub.select_above:.1f}",
        f"{pub.patients_below:.1f}",
        f"{pub.patients_at:.1f}",
        above,
        "–",
        f"{pub.sample_size:.1f}",
    ]


def table(scenarios: tuple[Scenario, ...]) -> None:
    """Print one Markdown table: a row per design, the published row under ours where known."""
    print(
        "| scenario | design | % select true MTD | % select above it | patients below "
        "| patients at | patients above (share) | % no MTD | E[N] |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for scenario in scenarios:
        stop = "" if scenario.n_earlystop >= 100 else f", n_earlystop {scenario.n_earlystop}"
        label = (
            f"{scenario.name}: target {scenario.target}, p = {scenario.true_tox}, "
            f"n ≤ {scenario.max_n}{stop}, true MTD {scenario.mtd}"
        )
        for design, oc in characteristics(scenario).items():
            print(f"| {label} | " + " | ".join(_row(design, oc, scenario.mtd)) + " |")
            label = ""
            published = PUBLISHED.get((scenario.name, "boin")) if "1/3" in design else None
            if published is not None:
                print("|  | " + " | ".join(_published_row(published)) + " |")


def main() -> None:
    """Print both tables in Markdown."""
    table(ZHAO_2024)
    print()
    table(PROJECT)


if __name__ == "__main__":
    main()
