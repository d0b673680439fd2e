"""Creating the store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cfgroll.context import STORE_DIR, Context
from cfgroll.store.files import write_atomic
from cfgroll.store.repo import Store


@dataclass(frozen=True)
class Initialised:
    store: Store
    created: bool
    gitignore: Path | None  # the .gitignore that now names the store folder, if one was edited


def ensure_store(ctx: Context) -> Initialised:
    """Create the store (private, 0700) if it does not exist yet; idempotent.

    When the project folder is inside a git work tree and the store lives in the project,
    `.cfgroll/` is added to the project's `.gitignore`, so `.env` copies never reach that repo.
    """
    store, created = ctx.create_store()
    gitignore = None
    inside_project = ctx.store_path.is_relative_to(ctx.directory / STORE_DIR)
    if inside_project and _in_git_work_tree(ctx.directory):
        gitignore = _ignore(ctx.directory / ".gitignore", f"/{STORE_DIR}/")
    return Initialised(store, created, gitignore)


def _in_git_work_tree(folder: Path) -> bool:
    return any((p / ".git").exists() for p in (folder, *folder.parents))


def _ignore(gitignore: Path, pattern: str) -> Path | None:
    """Add `pattern` to `gitignore` unless a line already ignores it; the file if edited."""
    old = gitignore.read_bytes() if gitignore.is_file() else b""
    lines = {line.strip() for line in old.decode(errors="replace").splitlines()}
    bare = pattern.strip("/")
    if lines & {bare, bare + "/", "/" + bare, "/" + bare + "/"}:
        return None
    sep = b"" if not old or old.endswith(b"\n") else b"\n"
    note = b"# cfgroll's store: release history, including .env copies\n"
    write_atomic(gitignore, old + sep + note + pattern.encode() + b"\n")
    return gitignore
