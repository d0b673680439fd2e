"""Checks made before a command changes anything: it must fail before it acts.

Every command that changes the stack or the project's files calls `check` before its first
build, stop, retag or write: the store must be writable with room for what the command will
record, the project folder writable when files will be written, the engine must answer.
Each failure is one line saying which check failed, on which path, and what to do (exit 1).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cfgroll.context import Context
from cfgroll.errors import CfgrollError, os_error
from cfgroll.store.files import FileData, Files
from cfgroll.store.names import size_text

MIB = 1024 * 1024
MIN_FREE_ENV = "CFGROLL_MIN_FREE"  # the margin, in bytes or with a unit: 512K, 10M, 1G
MIN_FREE = MIB  # the least margin: git also needs room to repack
OVERHEAD = 64 * 1024  # a release's manifest, trees, commit, tag and refs


class PreflightFailed(CfgrollError):
    """A check before the command failed; nothing was changed."""


@dataclass(frozen=True)
class Needs:
    """What a command will need. `store_bytes`: about what it records (loose, uncompressed);
    `project`: it writes files into the project folder; `engine`: it talks to the engine."""

    store_bytes: int = 0
    project: bool = False
    engine: bool = True
    copy_bytes: int = 0  # a restore's copy of the data services' folders, kept beside the store


def size_of(files: Mapping[str, FileData]) -> int:
    """The bytes a release of these files may add to the store, at the most."""
    return OVERHEAD + Files.of(files).size()


def check(ctx: Context, needs: Needs) -> None:
    """Raise `PreflightFailed` (or `EngineUnreachable`) unless the command can run."""
    store = _existing(ctx.store_path)
    _writable(store, "the store's folder")
    margin = min_free()
    free = shutil.disk_usage(store).free
    if free < needs.store_bytes + margin:
        raise PreflightFailed(
            f"not enough room for the store: {size_text(free)} free on the file system of {store}, "
            f"the release needs about {size_text(needs.store_bytes)} plus a margin of "
            f"{size_text(margin)} ({MIN_FREE_ENV}); free some space, or keep the store elsewhere "
            "(--store); nothing was changed"
        )
    if needs.copy_bytes and free < needs.store_bytes + needs.copy_bytes + margin:
        raise PreflightFailed(
            f"not enough room for the copy of the data services' folders that the restore keeps "
            f"first: {size_text(free)} free on the file system of {store}, the copy needs about "
            f"{size_text(needs.copy_bytes)} plus a margin of {size_text(margin)} "
            f"({MIN_FREE_ENV}); free some space, or keep the store elsewhere (--store); nothing "
            "was changed"
        )
    if needs.project:
        _writable(ctx.directory, "the project folder")
    if needs.engine:
        ctx.daemon.ping()


def min_free() -> int:
    """The margin of free space to keep: `CFGROLL_MIN_FREE`, at least 1 MiB."""
    raw = os.environ.get(MIN_FREE_ENV, "").strip().upper()
    if not raw:
        return MIN_FREE
    units = {"K": 1024, "M": MIB, "G": 1024 * MIB}
    try:
        value = int(float(raw[:-1]) * units[raw[-1]]) if raw[-1] in units else int(raw)
    except ValueError:
        raise PreflightFailed(
            f"{MIN_FREE_ENV}={raw!r} is not a size; give bytes or a number with K, M or G"
        ) from None
    return max(value, MIN_FREE)


def _existing(path: Path) -> Path:
    """`path`, or the nearest folder above it that exists (where it would be created)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _writable(folder: Path, what: str) -> None:
    """Prove that `folder` takes a new file with data in it (a full disk often still has
    room for an empty file), then remove it."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".cfgroll-preflight.", dir=folder)
        try:
            os.write(fd, b"x" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(tmp)
    except OSError as exc:
        raise PreflightFailed(f"{what} {folder} cannot be written: {os_error(exc)}") from exc
