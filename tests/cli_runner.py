"""Runs the ``doseledger`` CLI in-process and checks the shape of its answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.bootstrap import build_ledger
from adapters.cli import main
from adapters.persistence.environment import persistence_env


class CliRunner:
    """``doseledger`` in-process: JSON answers on stdout, refusals as one stderr line, exit 2."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def run(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = 0
        try:
            main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *argv: str) -> Any:
        code, out, err = self.run(*argv)
        assert code == 0, err
        return json.loads(out)

    def text(self, *argv: str) -> str:
        code, out, err = self.run(*argv)
        assert code == 0, err
        return out

    def refused(self, *argv: str) -> str:
        code, out, err = self.run(*argv)
        assert code == 2, (out, err)
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("doseledger") and ": error: " in lines[0]
        return lines[0]


class StoreCli(CliRunner):
    """The runner against one store (DOSELEDGER_DATABASE_URL): a refusal leaves it unchanged."""

    def __init__(
        self, capsys: pytest.CaptureFixture[str], url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        super().__init__(capsys)
        self.url = url
        monkeypatch.setenv("DOSELEDGER_DATABASE_URL", url)
        monkeypatch.setenv("DOSELEDGER_USER", "cli-tester")

    def refused(self, *argv: str) -> str:
        before = self.events()
        line = super().refused(*argv)
        assert self.events() == before
        return line

    def events(self) -> int | None:
        app = build_ledger(env=persistence_env(self.url))
        try:
            return app.recorder.max_notification_id()
        finally:
            app.close()
