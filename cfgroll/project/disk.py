"""Reading the project's files as they are now, and writing recorded files back: byte for
byte, with their kind (executable, link), atomically; nothing outside the given set is
touched."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from cfgroll import faults
from cfgroll.errors import ProjectError
from cfgroll.store import system
from cfgroll.store.files import FileData, read_file, write_file
from cfgroll.store.manifest import Role

PRIVATE: frozenset[Role] = frozenset({"env", "secret"})


def read(directory: Path, paths: Iterable[str]) -> dict[str, FileData]:
    """The current content of those project files that exist."""
    found = {}
    for rel in paths:
        data = read_file(directory / _checked(rel))
        if data is not None:
            found[rel] = data
    return found


def write(
    directory: Path, wanted: Mapping[str, FileData | None], roles: Mapping[str, Role]
) -> list[str]:
    """Make the project files hold `wanted` (None: the file must not exist); the paths that
    changed. New `env` and `secret` files are private (0600)."""
    changed = []
    for rel, file in sorted(wanted.items()):
        path = directory / _checked(rel)
        current = read_file(path)
        if current == file:
            continue
        if file is None:
            path.unlink()
        else:
            if path.is_dir() and not path.is_symlink():
                raise ProjectError(
                    f"cannot write {rel}: a folder of that name is in the way; move it aside "
                    "and run the command again"
                )
            write_file(path, file, private=roles.get(rel) in PRIVATE)
        changed.append(rel)
        faults.point("files:partly-written")  # a target another program holds, a full disk
    return changed


TEMP_SUFFIXES = (".cfgroll-tmp",)
TEMP_PREFIXES = (".cfgroll-preflight.", ".cfgroll-stack-")


def leftovers(directory: Path) -> list[Path]:
    """Temporary files that an interrupted cfgroll left in the project folder (a write
    killed between creating its temporary file and renaming it)."""
    found = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = [d for d in dirs if d not in (".git", "store.git")]
        found += [
            Path(root) / n
            for n in names
            if n.endswith(TEMP_SUFFIXES) or n.startswith(TEMP_PREFIXES)
        ]
    return sorted(found)


def _checked(rel: str) -> str:
    """A path from the store, refused if it would leave the project folder."""
    why = system.outside(rel)
    if why is not None:
        raise ProjectError(
            f"the store names the path {rel!r}, outside the project ({why}); not written"
        )
    return rel
