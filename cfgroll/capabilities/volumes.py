"""A copy of a data service's volumes that does not depend on its restore command: before a
restore touches a service, it is stopped and every folder it writes to (its volumes and
bind-mounted folders) is copied, file by file, through the engine (`docker cp`: owners and
modes kept), into `.cfgroll/data/copies/`. Whatever the restore then does (fails half way,
times out, is interrupted, or cfgroll is killed), putting the copy back leaves those folders
exactly as they were: each emptied by a one-off container of the service's own image, then
filled from the copy.

A journal (`.cfgroll/restore.json`, beside the store) says a restore is under way, which
release was live, and where the copies are. It is written before the first service stops and
removed once the rollback is recorded or the copies are back; a journal found with no cfgroll
holding the store's lock is a restore that was cut short (`kill -9`, a power cut): `resume`
puts the copies back and the live release with them, before the next command does anything.
"""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cfgroll.capabilities.data import folder as data_folder
from cfgroll.context import Context
from cfgroll.engine.daemon import Container
from cfgroll.engine.folders import Mount
from cfgroll.errors import CfgrollError, one_line
from cfgroll.store.files import fsync_dir, write_atomic
from cfgroll.store.system import fsync_file

COPIES = "copies"
COPY_TIMEOUT = 3600.0  # seconds one folder's copy may take, out or back
KINDS = ("volume", "bind")  # what holds data; tmpfs does not outlive the container


class CopyFailed(CfgrollError):
    """The copy of a service's folders could not be taken (nothing was restored yet)."""


class PutBackFailed(CfgrollError):
    """The copy could not be put back: the journal and the copies stay for the next try."""

    exit_code = 4


@dataclass(frozen=True)
class Folder:
    mount: Mount
    file: str  # the tar copy, relative to the data folder


@dataclass(frozen=True)
class Saved:
    """One service's folders, copied with the service stopped."""

    service: str
    image: str  # the image of the container they were copied from (`find` and `rm` in it)
    folders: tuple[Folder, ...]


@dataclass(frozen=True)
class Journal:
    project: str
    live: str  # the release that was live, to put back with the copies
    target: str  # the release whose data was being restored
    only: tuple[str, ...] | None  # the services the rollback was limited to, if it was
    pid: int
    started: str  # UTC, ISO
    saved: tuple[Saved, ...] = ()


def copies_root(ctx: Context) -> Path:
    """Where every restore keeps its copies: in the data folder, beside the dumps."""
    return data_folder(ctx) / COPIES


def _copies(ctx: Context, journal: Journal) -> Path:
    """The copies one restore took, a folder per service."""
    return copies_root(ctx) / journal.started.replace(":", "")


def folders_of(container: Container) -> list[Mount]:
    """The folders of a container that hold its data: writable volumes and bind mounts."""
    return [m for m in container.mounts if m.kind in KINDS and m.writable]


def read(ctx: Context) -> Journal | None:
    """The journal of a restore under way or cut short, if there is one."""
    try:
        raw = json.loads(ctx.restore_journal.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise PutBackFailed(
            f"the restore journal {ctx.restore_journal} is unreadable: {exc}"
        ) from exc
    saved = tuple(
        Saved(
            s["service"],
            s["image"],
            tuple(Folder(Mount(**f["mount"]), f["file"]) for f in s["folders"]),
        )
        for s in raw.pop("saved", [])
    )
    only = raw.pop("only", None)
    return Journal(**raw, only=None if only is None else tuple(only), saved=saved)


def _write(ctx: Context, journal: Journal) -> None:
    text = json.dumps(asdict(journal), indent=1) + "\n"
    write_atomic(ctx.restore_journal, text.encode(), private=True)


def begin(
    ctx: Context, project: str, live: str, target: str, only: Iterable[str] | None
) -> Journal:
    """Say, durably, that a restore starts: before any service stops."""
    journal = Journal(
        project,
        live,
        target,
        None if only is None else tuple(only),
        os.getpid(),
        datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    _write(ctx, journal)
    return journal


def size(ctx: Context, container: Container) -> int:
    """Bytes the copy of the container's folders takes (`du` in a one-off container of its
    image, on its folders: nothing stops)."""
    import io

    folders = folders_of(container)
    if not folders:
        return 0
    out = io.BytesIO()
    with _one_off(ctx, container.image_id, folders, ["du", "-sk", *_dests(folders)]) as helper:
        ctx.daemon.folders.run_one_off(helper, COPY_TIMEOUT, "the size of the copy", sink=out)
    return sum(int(line.split()[0]) * 1024 for line in out.getvalue().decode().splitlines())


def take(ctx: Context, journal: Journal, container: Container) -> Journal:
    """Stop the service's container and copy its folders; the journal names the copy before
    anything else happens to it. `CopyFailed` (the service started again) when it cannot."""
    folders = folders_of(container)
    where = _copies(ctx, journal) / container.service
    where.mkdir(mode=0o700, parents=True, exist_ok=True)
    ctx.reporter.step(
        f"stopping {container.service} and copying its folders ({', '.join(_dests(folders))})"
    )
    ctx.daemon.stop([container.id])
    kept = []
    try:
        for n, mount in enumerate(folders):
            path = where / f"{n}.tar"
            partial = path.with_name(path.name + ".partial")
            with open(partial, "wb") as fh:
                ctx.daemon.folders.copy_out(container.id, mount.destination, fh, COPY_TIMEOUT)
            fsync_file(partial)
            os.replace(partial, path)
            if _is_folder(path):
                kept.append(Folder(mount, str(path.relative_to(data_folder(ctx)))))
            else:
                path.unlink()  # a file mounted writable (a socket, say) is not data
        fsync_dir(where)
    except (Exception, KeyboardInterrupt) as exc:
        ctx.daemon.folders.start([container.id])
        raise CopyFailed(
            f"cannot copy {container.service}'s folders before the restore ({one_line(exc)}); "
            "nothing was restored"
        ) from exc
    saved = Saved(container.service, container.image_id, tuple(kept))
    journal = replace(journal, saved=(*journal.saved, saved))
    _write(ctx, journal)
    return journal


def put_back(ctx: Context, journal: Journal) -> None:
    """Every copy of the journal back into its folders, each service's containers stopped
    first (a restore still running in one ends with it); `PutBackFailed` names the copies
    that did not go back."""
    for saved in journal.saved:
        ctx.reporter.step(f"putting {saved.service}'s folders back from the copy")
        try:
            running = [
                c.id for c in ctx.daemon.containers(journal.project, saved.service) if c.state
            ]
            ctx.daemon.stop(running)
            mounts = [f.mount for f in saved.folders]
            # (`-delete` is not in every find: busybox's lacks it)
            wipe = ["find", *_dests(mounts), "-mindepth", "1", "-maxdepth", "1"]
            wipe += ["-exec", "rm", "-rf", "{}", "+"]
            with _one_off(ctx, saved.image, mounts, wipe) as helper:
                ctx.daemon.folders.run_one_off(helper, COPY_TIMEOUT, "emptying the folders")
                for folder in saved.folders:
                    parent = str(Path(folder.mount.destination).parent.as_posix())
                    with open(data_folder(ctx) / folder.file, "rb") as fh:
                        ctx.daemon.folders.copy_in(helper, parent, fh, COPY_TIMEOUT)
        except (Exception, KeyboardInterrupt) as exc:
            files = ", ".join(str(data_folder(ctx) / f.file) for f in saved.folders)
            raise PutBackFailed(
                f"the copy of {saved.service}'s folders could not be put back ({one_line(exc)}); "
                f"it is kept in {files}; `cfgroll doctor --fix` tries again (docs/data.md, "
                '"When a restore fails")'
            ) from exc


def finish(ctx: Context, journal: Journal) -> None:
    """The restore is over (recorded, or its copies are back): the journal and copies go."""
    import shutil

    ctx.restore_journal.unlink(missing_ok=True)
    fsync_dir(ctx.restore_journal.parent)
    shutil.rmtree(_copies(ctx, journal), ignore_errors=True)


def describe(journal: Journal) -> str:
    services = ", ".join(s.service for s in journal.saved) or "no service copied yet"
    return (
        f"a restore of {journal.target}'s data (pid {journal.pid}, started {journal.started}; "
        f"{services}) did not finish"
    )


@contextmanager
def _one_off(
    ctx: Context, image: str, mounts: Iterable[Mount], argv: list[str], stdin: bool = False
) -> Iterator[str]:
    helper = ctx.daemon.folders.one_off(image, mounts, argv, stdin)
    try:
        yield helper
    finally:
        ctx.daemon.folders.remove(helper)


def run_offline(
    ctx: Context, saved: Saved, argv: tuple[str, ...], source: Any, timeout: float
) -> None:
    """Run a restore command with the service stopped, in a one-off container of its image
    on its folders, `source` to its stdin."""
    mounts = [f.mount for f in saved.folders]
    with _one_off(ctx, saved.image, mounts, list(argv), stdin=True) as helper:
        ctx.daemon.folders.run_one_off(helper, timeout, "the restore", source=source)


def _dests(mounts: Iterable[Mount]) -> list[str]:
    return [m.destination for m in mounts]


def _is_folder(path: Path) -> bool:
    with tarfile.open(path, "r|") as tar:
        first = next(iter(tar), None)
    return first is not None and first.isdir()
