"""The domain package stays small-moduled and pure: a guard on its layout (issue 13)."""

from __future__ import annotations

import ast
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "src" / "domain"
MAX_LINES = 500
LONGER: dict[str, str] = {}
"""Modules allowed over MAX_LINES, each with the reason it cannot be split."""
FORBIDDEN = {
    "adapters",
    "projections",
    "fastapi",
    "starlette",
    "apscheduler",
    "psycopg",
    "sqlite3",
    "uvicorn",
    "httpx",
}


def modules() -> list[Path]:
    return sorted(DOMAIN.rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Top-level names of every module the file imports (relative imports stay in domain)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_domain_module_is_under_500_lines_but_the_listed_ones() -> None:
    long = {
        str(path.relative_to(DOMAIN)): n
        for path in modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert set(long) <= set(LONGER), f"over {MAX_LINES} lines: {long}"


def test_the_allowlist_names_only_modules_that_are_still_long() -> None:
    for name in LONGER:
        lines = len((DOMAIN / name).read_text(encoding="utf-8").splitlines())
        assert lines > MAX_LINES, f"{name} has {lines} lines: take it off the allowlist"


def test_the_domain_imports_no_adapter_web_scheduler_or_database_module() -> None:
    found = {
        str(path.relative_to(DOMAIN)): sorted(imported(path) & FORBIDDEN) for path in modules()
    }
    assert {name: bad for name, bad in found.items() if bad} == {}
