"""Data with the release: before every deploy, update and rollback, each service named in
`x-cfgroll: data:` is dumped (its `dump` command, run in its running container, writes the data
to stdout), compressed (zstd), into the store's private folder beside the git store
(`.cfgroll/data/`: data is not configuration), and linked to the release that was live when
it was taken; a `rollback --with-data` feeds the target's newest dump to `restore`.

A dump is written to a `.partial` file, synced, then renamed: a dump cut short (Ctrl-C, a
kill, a full disk) is never listed, never used. The index (`index.json`) lists the dumps with
their size, checksum and duration; it is rewritten atomically.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from cfgroll.context import STORE_DIR, Context
from cfgroll.errors import CfgrollError, CommandFailed, ProjectError, one_line
from cfgroll.settings import DataCommand, parse
from cfgroll.store.files import fsync_dir, write_atomic
from cfgroll.store.repo import Entry, Store
from cfgroll.store.secrets import redact
from cfgroll.store.system import fsync_file

if TYPE_CHECKING:
    from cfgroll.store.age import Recipients

FOLDER = "data"
INDEX = "index.json"
PARTIAL = ".partial"


class DumpFailed(CfgrollError):
    """A dump (or a restore) did not finish: nothing was changed (exit 1)."""


@dataclass(frozen=True)
class Dump:
    """One service's data, as it was while `tag` was the live release."""

    tag: str  # the release live when it was taken
    service: str
    file: str  # relative to the data folder
    size: int  # bytes, compressed
    sha256: str  # of the compressed file
    seconds: float
    taken_at: str  # UTC, ISO


def commands(block: Any, services: Collection[str]) -> dict[str, DataCommand]:
    """The `x-cfgroll: data:` commands of a settings block; `ProjectError` naming a service the
    project does not have (before anything happens)."""
    found = dict(parse(block).data)
    unknown = sorted(set(found) - set(services))
    if unknown:
        raise ProjectError(
            f"`x-cfgroll: data:` names {', '.join(unknown)}, which the project does not have "
            f"(its services: {', '.join(sorted(services))})"
        )
    return found


def folder(ctx: Context) -> Path:
    """`.cfgroll/data/` for the project's own store (beside `store.git`)."""
    return ctx.store_path.parent / FOLDER


def dumps(ctx: Context) -> list[Dump]:
    """Every dump kept, oldest first."""
    try:
        raw = json.loads((folder(ctx) / INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [Dump(**d) for d in raw.get("dumps", [])]


def newest(ctx: Context, tag: str) -> dict[str, Dump]:
    """Service -> the newest dump taken while `tag` was live."""
    found: dict[str, Dump] = {}
    for d in dumps(ctx):
        if d.tag == tag:
            found[d.service] = d
    return found


def damaged(ctx: Context) -> list[str]:
    """The recorded dumps whose file is gone or differs from its checksum."""
    import hashlib

    bad = []
    for d in dumps(ctx):
        path = folder(ctx) / d.file
        try:
            ok = hashlib.sha256(path.read_bytes()).hexdigest() == d.sha256
        except OSError:
            ok = False
        if not ok:
            bad.append(f"{d.service} of {d.tag} ({d.file})")
    return bad


def partials(ctx: Context) -> list[Path]:
    """Dumps an interrupted run cut short (never listed, never used)."""
    where = folder(ctx)
    return sorted(where.rglob("*" + PARTIAL)) if where.is_dir() else []


def forget(ctx: Context, keep: Collection[str]) -> list[Dump]:
    """Remove the dumps of every release not in `keep` (prune: the releases that keep their
    images, the live one and the last good one among them); those removed."""
    every = dumps(ctx)
    gone = [d for d in every if d.tag not in keep]
    if gone:
        _save(ctx, [d for d in every if d.tag in keep])
        for d in gone:
            (folder(ctx) / d.file).unlink(missing_ok=True)
    return gone


def _save(ctx: Context, kept: list[Dump]) -> None:
    text = json.dumps({"dumps": [asdict(d) for d in kept]}, indent=1) + "\n"
    write_atomic(folder(ctx) / INDEX, text.encode(), private=True)


def _private(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def take(
    ctx: Context,
    store: Store,
    live: Entry,
    commands: Mapping[str, DataCommand],
    secrets: list[str],
    block: Any = None,
) -> list[Dump]:
    """Dump every service of `commands` from its running container, linked to the `live`
    release (its tag, and a note on its commit);
    `DumpFailed` (nothing kept of it) when one fails, times out or has no running container.
    With `x-cfgroll: recipients:` in `block`, each dump is sealed with age as it is written."""
    import hashlib

    import zstandard

    from cfgroll.store import age

    if not commands:
        return []
    keys = parse(block).recipients
    recipients = age.Recipients.of(keys, ctx.directory) if keys else None
    where = folder(ctx)
    _private(where)
    if where.parent.name == STORE_DIR:  # the project's `.cfgroll/` holds data now: private too
        os.chmod(where.parent, 0o700)
    project = live.manifest.project
    running = {c.service: c for c in ctx.daemon.containers(project) if c.state == "running"}
    taken: list[Dump] = []
    for service, command in sorted(commands.items()):
        container = running.get(service)
        if container is None:
            raise DumpFailed(
                f"cannot dump {service}'s data: it has no running container; start it, or "
                f"remove it from `x-cfgroll: data:`; nothing was changed"
            )
        ctx.reporter.step(f"dumping {service}'s data ({' '.join(command.dump)})")
        moment = datetime.now(timezone.utc)
        sealed = ".age" if recipients else ""
        name = f"{live.tag}/{service}.{moment.strftime('%Y%m%dT%H%M%S%fZ')}.zst{sealed}"
        path = where / name
        _private(path.parent)
        partial = path.with_name(path.name + PARTIAL)
        started = time.monotonic()
        try:
            with _written(partial, recipients) as raw:
                # zstd level 3 keeps up with the dump (gzip 3 added 45% to a 1 GB pg_dump)
                with zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False) as packed:
                    ctx.daemon.exec_out(container.id, command.dump, packed, command.timeout)
            fsync_file(partial)
        except BaseException as exc:
            partial.unlink(missing_ok=True)  # a dump cut short is never kept
            if not isinstance(exc, (CfgrollError, OSError)):
                raise
            detail = exc.stderr if isinstance(exc, CommandFailed) else ""
            raise _failed(service, exc, detail, secrets) from exc
        os.replace(partial, path)
        fsync_dir(path.parent)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        taken.append(
            Dump(
                live.tag,
                service,
                name,
                path.stat().st_size,
                digest,
                round(time.monotonic() - started, 2),
                moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
        )
    _save(ctx, [*dumps(ctx), *taken])
    note = "".join(
        f"data: {d.service} dumped {d.taken_at}, {d.size} bytes, sha256 {d.sha256}, "
        f"{d.seconds:g} s ({FOLDER}/{d.file})\n"
        for d in taken
    )
    store.add_note(live.commit, note)  # `git log` shows it on the release
    return taken


def _failed(service: str, exc: BaseException, detail: str, secrets: list[str]) -> DumpFailed:
    """One line (masked), and the dump's last stderr lines (masked) below it."""
    error = DumpFailed(
        f"the dump of {service} failed ({redact(one_line(exc), secrets)}); nothing was changed"
    )
    error.details = redact("\n".join(detail.strip().splitlines()[-5:]), secrets)
    return error


@contextmanager
def _written(path: Path, recipients: Recipients | None) -> Iterator[IO[bytes]]:
    """A file to write a dump into, sealed with age to `recipients` if any."""
    from cfgroll.store import age

    if recipients is None:
        with open(path, "wb") as fh:
            yield fh
    else:
        with age.sealing_to(path, recipients) as fh:
            yield fh


@contextmanager
def opened(path: Path) -> Iterator[IO[bytes]]:
    """A dump's bytes, opened with `CFGROLL_IDENTITY` when sealed."""
    from cfgroll.store import age

    if path.name.endswith(".age"):
        with age.opening(path, age.identities(())) as fh:
            yield fh
    else:
        with open(path, "rb") as fh:
            yield fh
