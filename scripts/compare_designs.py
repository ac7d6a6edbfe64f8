"""Print docs/designs.md's comparison of the 3+3, BOIN, i3+3 and mTPI-2, computed exactly.

Usage: .venv/bin/python scripts/compare_designs.py
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.designs import interval_operating_characteristics as interval_oc
from domain.designs import operating_characteristics as three_plus_three_oc
from domain.designs.catalogue import interval_design
from domain.designs.operating_characteristics import OperatingCharacteristics


@dataclass(frozen=True)
class Scenario:
    name: str
    target: float
    true_tox: tuple[float, ...]
    max_n: int

    @property
    def mtd(self) -> int:
        """The true MTD: the dose whose true DLT rate is closest to the target."""
        gaps = [abs(p - self.target) for p in self.true_tox]
        return gaps.index(min(gaps)) + 1


SCENARIOS = (
    Scenario("R BOIN ?get.oc example", 0.30, (0.05, 0.15, 0.30, 0.45, 0.60), 30),
    Scenario(
        "Liu & Yuan 2015, Table 4, scenario 1", 0.25, (0.25, 0.35, 0.50, 0.60, 0.70, 0.80), 36
    ),
    Scenario("MTD at the top (this project)", 0.30, (0.02, 0.05, 0.08, 0.12, 0.30), 30),
    Scenario("MTD at dose 2 (this project)", 0.30, (0.10, 0.30, 0.50, 0.60, 0.70), 30),
)


def characteristics(scenario: Scenario) -> dict[str, OperatingCharacteristics]:
    """Exact characteristics of every design under the scenario."""
    found = {
        "3+3": three_plus_three_oc.exact(scenario.true_tox, deescalate=False),
        "3+3 (Korn)": three_plus_three_oc.exact(scenario.true_tox, deescalate=True),
    }
    for kind in ("boin", "i3+3", "mtpi2"):
        design = interval_design(kind, scenario.target, max_n=scenario.max_n)
        found[kind] = interval_oc.exact(design, scenario.true_tox)
    return found


def main() -> None:
    """Print the table in Markdown."""
    print("| scenario | design | P(select true MTD) | patients above the MTD | P(no MTD) | E[N] |")
    print("|---|---|---|---|---|---|")
    for scenario in SCENARIOS:
        label = (
            f"{scenario.name}: target {scenario.target}, p = {scenario.true_tox}, "
            f"n ≤ {scenario.max_n}, true MTD {scenario.mtd}"
        )
        for design, oc in characteristics(scenario).items():
            above = sum(lc.expected_patients for lc in oc.levels if lc.level > scenario.mtd)
            select = oc.levels[scenario.mtd - 1].p_select
            print(
                f"| {label} | {design} | {select:.3f} | {above:.2f} "
                f"({above / oc.expected_sample_size:.0%}) | {oc.p_no_mtd:.3f} "
                f"| {oc.expected_sample_size:.2f} |"
            )
            label = ""


if __name__ == "__main__":
    main()
