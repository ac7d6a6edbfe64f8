"""Tamper evidence: every stored event is chained, and changing, removing, inserting or
reordering stored rows behind the ledger's back is caught and named (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import PersistenceError
from psycopg import sql

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger
from adapters.demo import record_demo_trial
from adapters.persistence import (
    audit_verifier,
    factories,
    postgres_factory,
    postgres_recorder,
    sqlite_recorder,
)
from adapters.persistence.audit_links import ChainLink, latest_link
from adapters.persistence.audit_verifier import AuditResult, verify
from adapters.persistence.environment import AUDIT_KEY_VAR, persistence_env
from adapters.persistence.postgres_recorder import ChainedPostgresApplicationRecorder
from adapters.persistence.sqlite_recorder import ChainedSQLiteApplicationRecorder
from adapters.settings import Settings
from domain.protocol import template
from support import ADMIN, DAY0, INVESTIGATOR

# ------------------------------------------------------------------ raw access to the store


@dataclass(frozen=True)
class Row:
    position: int
    originator_id: str
    version: int
    topic: str

    @property
    def kind(self) -> str:
        return self.topic.split(":")[1].split(".")[0]


class RawStore:
    """The database as someone with direct access (but without the audit key) sees it."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite")
        if self.sqlite:
            self.path = url.removeprefix("sqlite:///")
            self.events, self.chain, self.pos = "stored_events", "audit_chain", "rowid"
        else:
            env = persistence_env(url)
            schema = parse_qs(urlsplit(url).query)["schema"][0]
            self.conninfo = (
                f"host={env['POSTGRES_HOST']} port={env['POSTGRES_PORT']} "
                f"dbname={env['POSTGRES_DBNAME']} user={env['POSTGRES_USER']} "
                f"password={env['POSTGRES_PASSWORD']}"
            )
            quoted = sql.Identifier(schema).as_string()
            self.events = f"{quoted}.doseledger_events"
            self.chain = f"{quoted}.doseledger_audit_chain"
            self.pos = "notification_id"

    def run(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        statement = statement.format(events=self.events, chain=self.chain, pos=self.pos)
        if self.sqlite:
            with closing(sqlite3.connect(self.path)) as conn:
                rows = conn.execute(statement, params).fetchall()
                conn.commit()
                return rows
        with psycopg.connect(self.conninfo, autocommit=True) as pg:
            cursor = pg.execute(statement.replace("?", "%s").encode(), params)
            return cursor.fetchall() if cursor.description else []

    def oid(self, originator_id: str) -> Any:
        return UUID(originator_id).hex if self.sqlite else UUID(originator_id)

    def rows(self) -> list[Row]:
        found = self.run("SELECT {pos}, originator_id, originator_version, topic FROM {events}")
        return [Row(p, str(UUID(str(o))), v, t) for p, o, v, t in sorted(found)]

    def state(self, row: Row) -> bytes:
        (state,) = self.run(
            "SELECT state FROM {events} WHERE originator_id=? AND originator_version=?",
            self.oid(row.originator_id),
            row.version,
        )[0]
        return bytes(state)

    def set_state(self, row: Row, state: bytes) -> None:
        self.run(
            "UPDATE {events} SET state=? WHERE originator_id=? AND originator_version=?",
            state,
            self.oid(row.originator_id),
            row.version,
        )

    def delete(self, row: Row) -> None:
        self.run(
            "DELETE FROM {events} WHERE originator_id=? AND originator_version=?",
            self.oid(row.originator_id),
            row.version,
        )

    def move(self, row: Row, position: int) -> None:
        self.run("UPDATE {events} SET {pos}=? WHERE {pos}=?", position, row.position)

    def set_version(self, row: Row, version: int) -> None:
        self.run(
            "UPDATE {events} SET originator_version=? "
            "WHERE originator_id=? AND originator_version=?",
            version,
            self.oid(row.originator_id),
            row.version,
        )

    def insert(self, originator_id: str, version: int, topic: str, state: bytes) -> None:
        self.run(
            "INSERT INTO {events} (originator_id, originator_version, topic, state) "
            "VALUES (?, ?, ?, ?)",
            self.oid(originator_id),
            version,
            topic,
            state,
        )


# ------------------------------------------------------------------ fixtures and helpers


@dataclass
class Story:
    ledger: DoseLedger
    raw: RawStore
    trial_id: str
    rows: list[Row]

    def of(self, aggregate_id: str) -> list[Row]:
        return [r for r in self.rows if r.originator_id == aggregate_id]

    def patients(self) -> list[str]:
        return list(dict.fromkeys(r.originator_id for r in self.rows if r.kind == "patient"))

    def verify(self, **kwargs: Any) -> AuditResult:
        return verify(self.ledger.recorder, **kwargs)


@pytest.fixture
def story(ledger: DoseLedger, database_url: str) -> Story:
    """The demo escalation (114 events, 1 trial and 13 patients) recorded on a fresh store;
    two of them record its sites' time zones."""
    trial_id = str(record_demo_trial(ledger))
    raw = RawStore(database_url)
    return Story(ledger, raw, trial_id, raw.rows())


def assert_fault(result: AuditResult, kind: str, row: Row, *, checked: int) -> None:
    assert not result.ok
    assert result.fault is not None, result
    fault = result.fault
    assert (fault.kind, fault.aggregate, fault.aggregate_id, fault.version) == (
        kind,
        row.kind,
        row.originator_id,
        row.version,
    ), fault
    assert f"{row.kind} {row.originator_id} version {row.version}" in fault.message
    assert result.events_checked == checked


# ------------------------------------------------------------------ intact stores


def test_the_intact_story_verifies_with_every_event_counted(story: Story) -> None:
    assert len(story.rows) == 114
    assert story.ledger.recorder.max_notification_id() == story.rows[-1].position
    result = story.verify()
    assert (result.ok, result.events_checked, result.fault) == (True, 114, None)
    assert result.head is not None and len(result.head) == 64
    for page_size in (1, 2, 7, 113, 114, 115):
        assert story.verify(page_size=page_size) == result
    assert result.as_json() == {"ok": True, "events_checked": 114, "head": result.head}


def test_an_empty_store_verifies_with_no_events(ledger: DoseLedger) -> None:
    result = verify(ledger.recorder)
    assert (result.ok, result.events_checked) == (True, 0)


def test_the_head_moves_with_each_save_and_earlier_heads_stay_in_the_chain(
    story: Story,
) -> None:
    before = story.verify()
    story.ledger.register_trial(template("defactinib-paclitaxel"), ADMIN)
    after = story.verify()
    assert after.ok and after.events_checked == before.events_checked + 1
    assert after.head != before.head
    assert story.verify(expect_head=before.head).ok
    assert story.verify(expect_head=after.head.upper() if after.head else None).ok
    wrong = story.verify(expect_head="ab" * 32)
    assert not wrong.ok and wrong.fault is not None and wrong.fault.kind == "head_mismatch"
    assert wrong.events_checked == after.events_checked


def test_the_recorders_are_the_chained_ones(story: Story, database_url: str) -> None:
    expected = (
        ChainedSQLiteApplicationRecorder
        if database_url.startswith("sqlite")
        else ChainedPostgresApplicationRecorder
    )
    assert type(story.ledger.recorder) is expected
    chained = story.raw.run("SELECT COUNT(*), MIN(seq), MAX(seq) FROM {chain}")
    assert tuple(chained[0]) == (115, 0, 114)  # the genesis row and one row per event


def _chain_rows_by_seq(story: Story) -> dict[int, tuple[str, int, str]]:
    found = story.raw.run("SELECT seq, originator_id, originator_version, chain_hash FROM {chain}")
    return {int(q): (str(UUID(str(o))), int(v), str(h)) for q, o, v, h in found if q}


def _link(story: Story, row: Row) -> ChainLink | None:
    return latest_link(story.ledger.recorder, [(row.originator_id, row.version)])


def test_each_event_links_to_its_own_chain_row(story: Story) -> None:
    """The row found for an event (an SRC packet's binding) is the one chained for it: on
    SQLite found from its log position, without an index on the chain's columns."""
    chain = _chain_rows_by_seq(story)
    for seq, row in enumerate(story.rows, start=1):
        link = _link(story, row)
        assert link is not None
        assert (link.position, link.seq) == (row.position, seq)
        assert chain[seq] == (row.originator_id, row.version, link.chain_hash)
    latest = latest_link(
        story.ledger.recorder, [(r.originator_id, r.version) for r in story.rows[3:9]]
    )
    assert latest is not None and latest.seq == 9  # the latest of them by log position


def test_links_are_found_after_an_event_inserted_outside_the_ledger(story: Story) -> None:
    """An unchained row shifts every later event's position against its chain row: the row
    found is still the event's own (looked for), and the forged event has none."""
    last = story.rows[-1]
    story.raw.insert(story.trial_id, 999, last.topic, b"{}")
    story.ledger.register_trial(template("defactinib-paclitaxel"), ADMIN)
    story.ledger.register_trial(template("defactinib-paclitaxel"), ADMIN)
    rows = story.raw.rows()
    forged, after = rows[-3], rows[-2:]
    assert (forged.originator_id, forged.version) == (story.trial_id, 999)
    assert _link(story, forged) is None
    chain = _chain_rows_by_seq(story)
    for seq, row in enumerate(after, start=115):
        link = _link(story, row)
        assert link is not None and (link.position, link.seq) == (row.position, seq)
        assert chain[seq][:2] == (row.originator_id, row.version)
    assert _link(story, story.rows[5]) == ChainLink(
        story.rows[5].position,
        6,
        chain[6][2],
        story.rows[5].originator_id,
        story.rows[5].version,
    )


def test_the_sqlite_chain_keeps_no_index_on_its_columns(sqlite_url: str) -> None:
    """Each commit would write two more random index pages for it (sqlite_recorder)."""
    ledger = build_ledger(env=persistence_env(sqlite_url))
    try:
        ledger.register_trial(template("defactinib-paclitaxel"), ADMIN)
        indexes = RawStore(sqlite_url).run("SELECT name FROM sqlite_master WHERE type='index'")
    finally:
        ledger.close()
    assert [name for (name,) in indexes] == ["sqlite_autoindex_stored_events_1"]


# ------------------------------------------------------------------ tampering


def test_a_changed_payload_is_named(story: Story) -> None:
    patient = story.of(story.patients()[4])
    eye_exam = next(r for r in patient if r.topic.endswith("BaselineEyeExamRecorded"))
    state = story.raw.state(eye_exam)
    assert b'"20/20"' in state
    story.raw.set_state(eye_exam, state.replace(b'"20/20"', b'"20/16"'))
    result = story.verify()
    assert_fault(result, "changed", eye_exam, checked=story.rows.index(eye_exam))
    assert result.head is not None


def test_a_changed_topic_is_named(story: Story) -> None:
    target = story.of(story.trial_id)[6]
    story.raw.run(
        "UPDATE {events} SET topic=? WHERE originator_id=? AND originator_version=?",
        "doseledger:trial.CohortOpened",
        story.raw.oid(target.originator_id),
        target.version,
    )
    changed = Row(target.position, target.originator_id, target.version, target.topic)
    assert_fault(story.verify(), "changed", changed, checked=story.rows.index(target))


def test_an_event_removed_from_the_middle_is_named(story: Story) -> None:
    trial = story.of(story.trial_id)
    target = trial[len(trial) // 2]
    story.raw.delete(target)
    assert_fault(story.verify(), "removed", target, checked=story.rows.index(target))


def test_the_removed_last_event_of_an_older_aggregate_is_named(story: Story) -> None:
    first_patient = story.of(story.patients()[0])
    target = first_patient[-1]
    assert target != story.rows[-1]
    story.raw.delete(target)
    assert_fault(story.verify(), "removed", target, checked=story.rows.index(target))


def test_swapped_payloads_are_named_at_the_first(story: Story) -> None:
    first, second = (
        next(r for r in story.of(p) if r.topic.endswith("BaselineSkinExamRecorded"))
        for p in story.patients()[1:3]
    )
    a, b = story.raw.state(first), story.raw.state(second)
    story.raw.set_state(first, b)
    story.raw.set_state(second, a)
    assert_fault(story.verify(), "changed", first, checked=story.rows.index(first))


def test_swapped_positions_are_named(story: Story) -> None:
    first, second = story.rows[20], story.rows[30]
    spare = story.rows[-1].position + 1000
    story.raw.move(first, spare)
    story.raw.move(second, first.position)
    story.raw.run("UPDATE {events} SET {pos}=? WHERE {pos}=?", second.position, spare)
    assert [r.position for r in story.raw.rows()] == [r.position for r in story.rows]
    result = story.verify()
    assert_fault(result, "reordered", first, checked=20)
    assert result.fault is not None
    assert f"{second.originator_id} version {second.version}" in result.fault.message


def test_swapped_versions_of_one_aggregate_are_named(story: Story) -> None:
    trial = story.of(story.trial_id)
    first, second = trial[3], trial[5]
    story.raw.set_version(first, 10_000)
    story.raw.set_version(second, first.version)
    story.raw.run(
        "UPDATE {events} SET originator_version=? WHERE originator_id=? AND originator_version=?",
        second.version,
        story.raw.oid(first.originator_id),
        10_000,
    )
    assert_fault(story.verify(), "reordered", first, checked=story.rows.index(first))


def test_a_forged_event_is_named(story: Story) -> None:
    trial = story.of(story.trial_id)
    state = story.raw.state(trial[-1])
    story.raw.insert(story.trial_id, trial[-1].version + 1, trial[-1].topic, state)
    forged = Row(0, story.trial_id, trial[-1].version + 1, trial[-1].topic)
    assert_fault(story.verify(), "inserted", forged, checked=114)


def test_a_forged_aggregate_is_named(story: Story) -> None:
    patient = story.of(story.patients()[0])
    forged_id = str(uuid4())
    story.raw.insert(forged_id, 1, patient[0].topic, story.raw.state(patient[0]))
    forged = Row(0, forged_id, 1, patient[0].topic)
    assert_fault(story.verify(), "inserted", forged, checked=114)


def test_a_forged_event_with_its_own_chain_row_is_caught(story: Story) -> None:
    """Without the key, a forger cannot compute a chain row that links."""
    last = story.rows[-1]
    story.raw.insert(story.trial_id, 999, last.topic, b"{}")
    story.raw.run(
        "INSERT INTO {chain} VALUES (?, ?, 999, ?, ?, ?)",
        115,
        story.trial_id,
        last.topic,
        "0" * 64,
        "1" * 64,
    )
    forged = Row(0, story.trial_id, 999, last.topic)
    result = story.verify()
    assert_fault(result, "chain_broken", forged, checked=114)


def test_an_edited_chain_row_is_named(story: Story) -> None:
    target = story.of(story.patients()[2])[1]
    seq = story.rows.index(target) + 1
    story.raw.run("UPDATE {chain} SET event_hash=? WHERE seq=?", "f" * 64, seq)
    assert_fault(story.verify(), "chain_broken", target, checked=seq - 1)


def test_a_chain_row_pointed_at_another_event_names_the_event_in_its_place(story: Story) -> None:
    target = story.rows[40]
    story.raw.run("UPDATE {chain} SET originator_version=? WHERE seq=?", 77, 41)
    assert_fault(story.verify(), "chain_broken", target, checked=40)


def test_a_removed_chain_row_is_named(story: Story) -> None:
    target = story.rows[50]
    story.raw.run("DELETE FROM {chain} WHERE seq=?", 51)
    result = story.verify()
    assert_fault(result, "chain_broken", target, checked=50)
    assert "51-51 are missing" in (result.fault.message if result.fault else "")


def test_an_event_removed_with_its_chain_row_is_caught_at_the_next(story: Story) -> None:
    removed, following = story.rows[60], story.rows[61]
    story.raw.delete(removed)
    story.raw.run("DELETE FROM {chain} WHERE seq=?", 61)
    assert_fault(story.verify(), "chain_broken", following, checked=60)


def test_removing_the_newest_events_with_their_chain_rows_needs_an_anchored_head(
    story: Story,
) -> None:
    """The known limit: a truncated store verifies; only a head recorded elsewhere shows it."""
    anchored = story.verify().head
    assert anchored is not None
    for row in story.rows[-3:]:
        story.raw.delete(row)
    story.raw.run("DELETE FROM {chain} WHERE seq > ?", 111)
    truncated = story.verify()
    assert (truncated.ok, truncated.events_checked) == (True, 111)
    assert truncated.head != anchored
    result = story.verify(expect_head=anchored)
    assert not result.ok and result.fault is not None
    assert result.fault.kind == "head_mismatch" and anchored in result.fault.message
    assert result.fault.aggregate_id is None


def test_an_emptied_chain_is_reported(story: Story) -> None:
    story.raw.run("DELETE FROM {chain}")
    result = story.verify()
    assert not result.ok and result.fault is not None and result.fault.kind == "chain_broken"
    assert "genesis" in result.fault.message


# ------------------------------------------------------------------ keys


def test_the_key_comes_from_the_settings_and_a_wrong_key_is_reported(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(AUDIT_KEY_VAR, raising=False)
    secret = "s3cret-audit-key-of-this-site"
    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv(AUDIT_KEY_VAR, secret)
    env = Settings().persistence_env()
    assert env[AUDIT_KEY_VAR] == secret
    monkeypatch.delenv(AUDIT_KEY_VAR)
    keyed = build_ledger(env=env)
    default = build_ledger(env=persistence_env(database_url, audit_key="another-key-0123456789"))
    try:
        assert keyed.recorder.audit_key == secret.encode()  # type: ignore[attr-defined]
        assert default.recorder.audit_key != secret.encode()  # type: ignore[attr-defined]
        keyed.register_trial(template("defactinib-paclitaxel"), ADMIN)
        assert verify(keyed.recorder).ok
        wrong = verify(default.recorder)
        assert not wrong.ok and wrong.fault is not None
        assert wrong.fault.kind == "chain_broken" and AUDIT_KEY_VAR in wrong.fault.message
        # A writer with the wrong key refuses to extend the chain, and records nothing.
        with pytest.raises(PersistenceError, match=f"{AUDIT_KEY_VAR} is not the key"):
            default.register_trial(template("defactinib-paclitaxel"), ADMIN)
        result = verify(keyed.recorder)
        assert (result.ok, result.events_checked) == (True, 1)
    finally:
        keyed.close()
        default.close()


def test_a_short_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUDIT_KEY_VAR, "short")
    with pytest.raises(ValueError, match="at least 16"):
        Settings()


def test_the_factory_topics_resolve() -> None:
    from eventsourcing.utils import resolve_topic

    from adapters.persistence.environment import POSTGRES_FACTORY, SQLITE_FACTORY

    assert resolve_topic(SQLITE_FACTORY) is factories.ChainedSQLiteFactory
    assert resolve_topic(POSTGRES_FACTORY) is postgres_factory.ChainedPostgresFactory
    assert audit_verifier.AUDIT_KEY_VAR is AUDIT_KEY_VAR  # one constant, defined once


# ------------------------------------------------------------------ stores without a chain


def _plain_env(url: str) -> dict[str, str]:
    env = persistence_env(url)
    sqlite = env["PERSISTENCE_MODULE"].endswith("SQLiteFactory")
    return env | {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite" if sqlite else "eventsourcing.postgres"
    }


def test_a_store_from_before_the_chain_is_reported_not_crashed_on(database_url: str) -> None:
    old = build_ledger(env=_plain_env(database_url))
    try:
        old.register_trial(template("defactinib-paclitaxel"), ADMIN)
        old.register_trial(template("defactinib-paclitaxel"), ADMIN)
        no_chain = verify(old.recorder)
        assert not no_chain.ok and no_chain.fault is not None
        assert no_chain.fault.kind == "no_chain"
    finally:
        old.close()
    unopened = build_ledger(env=persistence_env(database_url) | {"CREATE_TABLE": "no"})
    try:
        result = verify(unopened.recorder)
        assert not result.ok and result.fault is not None and result.fault.kind == "no_chain"
        assert "no audit chain" in result.fault.message
    finally:
        unopened.close()
    upgraded = build_ledger(env=persistence_env(database_url))
    try:
        trial_id = upgraded.register_trial(template("defactinib-paclitaxel"), ADMIN)
        upgraded.enrol_patient(trial_id, "S01", INVESTIGATOR, enrolment_date=DAY0)
        result = verify(upgraded.recorder)
        assert not result.ok and result.fault is not None
        # SiteTimeZoneRecorded (S01's first enrolment), PatientEnrolled, Enrolled
        assert result.fault.kind == "unchained" and result.events_checked == 4
        assert "first 2 stored events are not covered" in result.fault.message
    finally:
        upgraded.close()


# ------------------------------------------------------------------ atomicity and concurrency


def test_a_failed_chain_write_records_nothing(
    ledger: DoseLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger.register_trial(template("defactinib-paclitaxel"), ADMIN)
    before = ledger.recorder.max_notification_id()

    def broken(*args: Any) -> Any:
        raise RuntimeError("disk on fire")

    for recorder in (sqlite_recorder, postgres_recorder):
        monkeypatch.setattr(recorder, "chain_rows", broken)
    with pytest.raises(PersistenceError, match="nothing was recorded: disk on fire"):
        ledger.register_trial(template("defactinib-paclitaxel"), ADMIN)
    monkeypatch.undo()
    assert ledger.recorder.max_notification_id() == before
    ledger.register_trial(template("defactinib-paclitaxel"), ADMIN)
    result = verify(ledger.recorder)
    assert (result.ok, result.events_checked) == (True, 2)


def _in_threads(work: Callable[[int], None], threads: int) -> None:
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            work(n)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    started = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    assert not errors, errors


def test_two_ledgers_writing_at_once_keep_one_linear_chain(two_ledgers: list[DoseLedger]) -> None:
    protocol = template("defactinib-avutometinib")
    per_thread = 15

    def work(n: int) -> None:
        ledger = two_ledgers[n % 2]
        for _ in range(per_thread):
            trial_id = ledger.register_trial(protocol, ADMIN)
            ledger.enrol_patient(trial_id, "S01", INVESTIGATOR, enrolment_date=DAY0)

    _in_threads(work, 4)
    # 4 threads x 15 x (Registered + SiteTimeZoneRecorded + PatientEnrolled + Enrolled)
    result = verify(two_ledgers[0].recorder)
    assert (result.ok, result.events_checked) == (True, 4 * per_thread * 4), result
