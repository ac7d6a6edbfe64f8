"""The README's layout table matches the tree: every path it names exists, and every layer and
package under ``src`` has a row."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _rows() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| path | what |") :].split("\n\n", 1)[0]
    return [re.findall(r"`([^`]+)`", line.split("|")[1]) for line in table.splitlines()[2:]]


def test_every_path_the_layout_names_exists() -> None:
    named = [path for row in _rows() for path in row]
    assert "src/adapters/application/" in named
    missing = [path for path in named if not (ROOT / path).exists()]
    assert missing == []


def test_every_package_folder_under_src_is_in_the_layout() -> None:
    """Layers (``src/x``) and their packages (``src/x/y``) each have a row; deeper packages
    (``src/adapters/http/routes``) are described by their parent's."""
    folders = {path.rstrip("/") for row in _rows() for path in row if path.endswith("/")}
    packages = sorted(
        str(init.parent.relative_to(ROOT)) for init in (ROOT / "src").rglob("__init__.py")
    )
    unnamed = [p for p in packages if len(Path(p).parts) <= 3 and p not in folders]
    assert unnamed == []
