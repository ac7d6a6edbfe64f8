"""adapters.bootstrap is the only composition root: nothing else constructs a DoseLedger."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = ROOT / "src" / "adapters" / "bootstrap.py"


def _constructions(path: Path) -> list[int]:
    """Lines where the module calls ``DoseLedger(...)`` (by name or as an attribute)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name == "DoseLedger":
                lines.append(node.lineno)
    return lines


def test_only_the_composition_root_constructs_a_dose_ledger() -> None:
    found = {
        f"{path.relative_to(ROOT)}:{line}"
        for folder in ("src", "scripts", "tests")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != BOOTSTRAP
        for line in _constructions(path)
    }
    assert found == set()


def test_the_scan_sees_a_construction() -> None:
    assert _constructions(BOOTSTRAP)


def test_the_composition_root_imports_neither_fastapi_nor_apscheduler_until_asked() -> None:
    # (A DoseLedger itself still imports FastAPI today: its constructor imports
    # adapters.http.idempotency to decode that module's older events.)
    code = (
        "import sys\n"
        "import adapters.bootstrap\n"
        "print(sorted(m for m in ('fastapi', 'apscheduler') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_neither_the_ledger_nor_the_http_app_imports_matplotlib_until_a_packet_is_drawn() -> None:
    code = (
        "import sys\n"
        "import adapters.bootstrap\n"
        "from adapters.bootstrap import build_app, build_ledger\n"
        "from adapters.persistence.environment import persistence_env\n"
        "from projections import audit_report\n"
        "ledger = build_ledger(env=persistence_env('sqlite:///:memory:'))\n"
        "build_app(ledger)\n"
        "print('matplotlib' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_cli_commands_on_a_sqlite_store_import_no_postgresql_driver(tmp_path: Path) -> None:
    # The audit verifier and the chain links recognise a chained recorder by its shape: a
    # SQLite process has no use for psycopg (about 70 ms of every command's start-up).
    code = (
        "import sys\n"
        "from adapters.cli import main\n"
        "for argv in (['demo'], ['audit', 'verify'], ['trials']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert not exc.code, (argv, exc.code)\n"
        "print('psycopg' in sys.modules, file=sys.stderr)\n"
    )
    env = {**os.environ, "DOSELEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "False"
    assert '"ok": true' in done.stdout  # the chain was verified
