"""The house rules of the code's layout, checked on the source: the CLI reaches the store and
the engine only through the core; GitPython, the Docker SDK and the Compose CLI each have one
door; the package holds no `# fmt: skip`."""

from __future__ import annotations

import ast
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# the package's real folders (cfgroll/cli, cfgroll/store and cfgroll/samples link to the
# card's top-level folders)
PACKAGE = ("cfgroll", "cli", "store")


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (TYPE_CHECKING and function bodies too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def sources(*folders: str) -> list[Path]:
    found = []
    for folder in folders:
        for root, _dirs, names in os.walk(REPO / folder):  # links to folders are not followed
            found += [Path(root) / n for n in names if n.endswith(".py")]
    return sorted(found)


def test_the_cli_reaches_the_store_and_the_engine_only_through_the_core() -> None:
    offenders = {
        str(p.relative_to(REPO)): sorted(
            m for m in imports(p) if m.startswith(("cfgroll.store", "cfgroll.engine"))
        )
        for p in sources("cli")
    }
    assert {p: m for p, m in offenders.items() if m} == {}


def test_one_door_each_for_gitpython_the_docker_sdk_and_subprocesses_of_compose() -> None:
    doors = {"git": "store/repo.py", "docker": "cfgroll/engine/transport.py"}
    for module, door in doors.items():
        users = [
            str(p.relative_to(REPO))
            for p in sources(*PACKAGE)
            if any(m == module or m.startswith(module + ".") for m in imports(p))
        ]
        assert users == [door], module


def test_no_fmt_skip_in_the_package() -> None:
    assert [
        str(p.relative_to(REPO)) for p in sources(*PACKAGE) if "fmt: skip" in p.read_text()
    ] == []
