"""adapters.bootstrap is the only composition root: nothing else constructs a DoseLedger."""

from __future__ import annotations

import ast
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
