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
    # GitPython: the store's git layer (reading and refs, writing objects, upkeep)
    doors = {
        "git": [
            "store/mirror.py",
            "store/objects.py",
            "store/remote.py",
            "store/repo.py",
            "store/upkeep.py",
            "store/worktree.py",
        ],
        "docker": ["cfgroll/engine/transport.py"],
    }
    for module, door in doors.items():
        users = [
            str(p.relative_to(REPO))
            for p in sources(*PACKAGE)
            if any(m == module or m.startswith(module + ".") for m in imports(p))
        ]
        assert users == door, module


def test_one_door_for_age() -> None:
    """Only `cfgroll.store.age` runs age: no other module seals or opens anything."""
    runs_age = [
        str(p.relative_to(REPO))
        for p in sources(*PACKAGE)
        if '"--encrypt"' in p.read_text() or '"--decrypt"' in p.read_text()
    ]
    assert runs_age == ["store/age.py"]


def test_no_fmt_skip_in_the_package() -> None:
    assert [
        str(p.relative_to(REPO)) for p in sources(*PACKAGE) if "fmt: skip" in p.read_text()
    ] == []


def _module_of(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[0] in ("cli", "store"):
        parts = ["cfgroll", *parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path, known: set[str]) -> set[str]:
    """The package's modules `path` imports when it runs (not those under TYPE_CHECKING)."""
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            found.update(a.name for a in node.names)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.module:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)

    Visitor().visit(ast.parse(path.read_text()))
    return {m for m in found & known}


def test_no_import_circle() -> None:
    """No module imports, through others, one that imports it back (importing one's own
    package is not a circle)."""
    paths = {_module_of(p): p for p in sources(*PACKAGE)}
    graph = {
        m: {d for d in _runtime_imports(p, set(paths)) if d != m and not m.startswith(d + ".")}
        for m, p in paths.items()
    }
    circles = []
    for start in graph:
        seen, todo = set(), list(graph[start])
        while todo:
            m = todo.pop()
            if m == start:
                circles.append(start)
                break
            if m not in seen:
                seen.add(m)
                todo.extend(graph[m])
    assert circles == []


def test_no_module_over_400_lines() -> None:
    long = {
        str(p.relative_to(REPO)): n
        for p in sources(*PACKAGE)
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert long == {}


def test_no_http_written_by_hand() -> None:
    """The engine's HTTP is `http.client`'s (or the SDK's): no status line, header or chunk
    is written or parsed in the package. The webhook's server is `http.server`'s: it only
    names the length of the body it reads and of the answer it sends."""
    hand = [
        str(p.relative_to(REPO))
        for p in sources(*PACKAGE)
        if any(s in p.read_text() for s in ("HTTP/1.", "Transfer-Encoding", "Content-Length"))
    ]
    assert hand == ["cfgroll/operations/webhook.py"]
    assert not any(s in (REPO / hand[0]).read_text() for s in ("HTTP/1.", "Transfer-Encoding"))


def test_the_orchestrator_is_told_apart_in_two_places_at_most() -> None:
    """`orchestrators.of` chooses; the manifest's format number is the other place."""
    tests = [
        f"{p.relative_to(REPO)}:{n}"
        for p in sources(*PACKAGE)
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if '== "swarm"' in line or '!= "swarm"' in line or 'orchestrator == "compose"' in line
    ]
    assert len(tests) <= 2, tests


def test_the_shared_options_are_declared_in_one_module() -> None:
    declared = [
        str(p.relative_to(REPO))
        for p in sources("cli")
        if '"--project-dir"' in p.read_text() or '"--timeout"' in p.read_text()
    ]
    assert declared == ["cli/options.py"]


# the floors, top first: a module imports only from its own floor or those below it (what
# drives the transactions sits above them, what they call sits below); the rest of the package
# (the store, the engine, the project, the settings, the context) is the ground floor
FLOORS = (
    "__main__",
    "cli",
    "operations",
    "transactions",
    "history",
    "orchestrators",
    "capabilities",
)


def _floor(module: str) -> int:
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else ""
    return FLOORS.index(name) if name in FLOORS else len(FLOORS)


def test_every_import_runs_down_the_floors() -> None:
    """At any depth (function bodies and TYPE_CHECKING too): no import runs back up."""
    paths = {_module_of(p): p for p in sources(*PACKAGE)}
    up = sorted(
        f"{m} -> {d}"
        for m, p in paths.items()
        for d in _named(p)
        if d.startswith("cfgroll.") and _floor(d) < _floor(m)
    )
    assert up == []


def _named(path: Path) -> set[str]:
    """`imports(path)`, with `from cfgroll import x` read as `cfgroll.x`."""
    found = imports(path)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "cfgroll":
            found |= {f"cfgroll.{a.name}" for a in node.names}
    return found
