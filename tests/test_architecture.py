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


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The gumshoe modules a module imports (at any depth of its body, lazy imports too);
    ``from package import submodule`` imports the submodule, not the package's face."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gumshoe"):
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & modules
            found.update(submodules)
            if len(submodules) < len(node.names):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("gumshoe"))
    return found


def module_graph() -> dict[str, set[str]]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        names[name] = path
    return {name: {m for m in imports_of(path, set(names)) if m in names and m != name} for name, path in names.items()}


def test_the_modules_import_one_way():
    """No cycle among the modules: each can be understood from the ones below it."""
    graph = module_graph()
    done: set[str] = set()

    def visit(name: str, stack: list[str]) -> None:
        if name in stack:
            raise AssertionError(f"an import cycle: {' -> '.join(stack[stack.index(name):] + [name])}")
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, [*stack, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_the_command_line_reaches_the_server_only_to_start_it():
    """cli/ talks to a server over HTTP; its one import of the server is ``gumshoe serve``
    starting the application (and ``ingest --data-dir`` uses the data plane directly)."""
    server = ("gumshoe.web", "gumshoe.api", "gumshoe.console", "gumshoe.protocol", "gumshoe.identity")
    for name, imported in module_graph().items():
        if name.startswith("gumshoe.cli"):
            assert not [m for m in imported if m.startswith(server)], (name, imported)
            assert "gumshoe.app" not in imported or name == "gumshoe.cli.serve", name
