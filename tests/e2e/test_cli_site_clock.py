"""patient enrol --site-time-zone and --enrolment-date as run by a user: exit 2 names the field."""

from __future__ import annotations

from test_cli import cli  # noqa: F401  (the fixture)

from cli_runner import StoreCli as Cli


def test_enrol_with_a_site_zone_and_a_past_enrolment_date(cli: Cli) -> None:  # noqa: F811
    trial = cli.json("trial", "register", "--template", "defactinib-avutometinib")["trial_id"]
    enrolled = cli.json(
        "--role", "investigator", "patient", "enrol", trial, "--site", "S01",
        "--site-time-zone", "Asia/Kolkata", "--enrolment-date", "2026-01-05",
    )  # fmt: skip
    assert (enrolled["site_time_zone"], enrolled["enrolment_date"]) == (
        "Asia/Kolkata",
        "2026-01-05",
    )
    line = cli.refused(
        "--role", "investigator", "patient", "enrol", trial, "--site", "S02",
        "--site-time-zone", "Mars/Olympus_Mons",
    )  # fmt: skip
    assert "site_time_zone" in line or "IANA" in line
    line = cli.refused(
        "--role", "investigator", "patient", "enrol", trial, "--site", "S02",
        "--enrolment-date", "9999-12-20",
    )  # fmt: skip
    assert "enrolment_date" in line and "on or before" in line
