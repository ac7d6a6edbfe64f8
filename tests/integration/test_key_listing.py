"""``doseledger keys list`` reads the keys' ids from the aggregate index (a read model), not
the log by topic; a key issued later is listed after the catch-up that reads it."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.application import DoseLedger
from adapters.bootstrap import build_key_ring
from adapters.read_models import service_read_models
from projections.read_models import ReadModels
from projections.store import open_store
from support import ADMIN


def test_keys_are_listed_from_the_aggregate_index_not_the_log(
    ledger: DoseLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = build_key_ring(ledger)
    for name in ("ops", "crm"):
        keys.issue(name, "admin", None, ADMIN)
    read_by_topic: list[Any] = []
    select = ledger.recorder.select_notifications

    def spied(*args: Any, topics: Any = (), **kwargs: Any) -> Any:
        if topics:
            read_by_topic.append(topics)
        return select(*args, topics=topics, **kwargs)

    monkeypatch.setattr(ledger.recorder, "select_notifications", spied)
    with ReadModels(ledger, open_store(ledger.env), models=service_read_models) as read_models:
        read_models.catch_up()
        listed = keys.list(read_models.queries.aggregate_ids("api_key"))
        assert [key["name"] for key in listed] == ["ops", "crm"]
        keys.issue("edc", "integration", None, ADMIN)
        read_models.catch_up()
        later = keys.list(read_models.queries.aggregate_ids("api_key"))
        assert [key["name"] for key in later] == ["ops", "crm", "edc"]
        assert read_models.check().equal
    assert read_by_topic == []
