"""docs/ARCHITECTURE.md stays true: every module of the package is named in it, and every
module it names exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "src" / "gumshoe"
DOC = REPO / "docs" / "ARCHITECTURE.md"


def named_modules() -> set[str]:
    """Module paths (relative to src/gumshoe) written in backticks in the document."""
    return set(re.findall(r"`([\w/]+\.py)`", DOC.read_text()))


def package_modules() -> set[str]:
    return {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
            if p.name != "__init__.py" and "__pycache__" not in p.parts}


def test_every_module_is_named_in_the_architecture():
    missing = package_modules() - named_modules()
    assert not missing, f"docs/ARCHITECTURE.md does not name: {sorted(missing)}"


def test_every_module_the_architecture_names_exists():
    gone = {name for name in named_modules() if not (PACKAGE / name).is_file()}
    assert not gone, f"docs/ARCHITECTURE.md names modules that do not exist: {sorted(gone)}"
