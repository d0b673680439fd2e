"""`rollback --with-data`: which of the target's dumps go back (checked before anything
changes), and putting them back: each data service is stopped and its folders copied
(`cfgroll.capabilities.volumes`) before its restore runs, so that any failure puts the copy
back, never a restore command trusted to undo itself."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from cfgroll.capabilities.data import Dump, DumpFailed, dumps, folder, newest, opened, take
from cfgroll.context import Context
from cfgroll.errors import CfgrollError
from cfgroll.settings import DataCommand, Limits, parse
from cfgroll.store.repo import Entry, Store

if TYPE_CHECKING:
    from cfgroll.capabilities.volumes import Journal
    from cfgroll.engine.daemon import Container


@dataclass(frozen=True)
class Restoring:
    """What a `rollback --with-data` will restore, checked before anything changes: the
    target's newest dump of each service (those of `only`, if given), the commands that
    restore them, and the room the copy of their folders takes."""

    wanted: dict[str, Dump]
    commands: dict[str, DataCommand]
    copy_bytes: int = 0


def restoring(
    ctx: Context, live: Entry, target: Entry, with_data: bool, only: Collection[str] | None
) -> Restoring:
    """Check that `target`'s data can be restored (`DumpFailed`, before anything changes,
    when it cannot), and how much room the copy of the services' folders needs."""
    from cfgroll.capabilities import volumes

    commands = dict(parse(target.manifest.layout.settings).data)
    made = target.manifest.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if not with_data:
        if any(d.taken_at > made for d in dumps(ctx)):
            ctx.reporter.warn(
                f"the data has changed since {target.tag} (a dump was taken after it); this "
                f"rollback leaves the data as it is: `--with-data` restores {target.tag}'s"
            )
        return Restoring({}, commands)
    wanted = newest(ctx, target.tag)
    if not wanted:
        raise DumpFailed(
            f"{target.tag} has no data to restore (no dump was taken while it was live); "
            "roll back without --with-data"
        )
    if only is not None:
        wanted = {s: d for s, d in wanted.items() if s in only}
        if not wanted:
            raise DumpFailed(
                f"{target.tag} has no dump of {', '.join(sorted(only))}; nothing was changed"
            )
    missing = sorted(set(wanted) - set(commands))
    if missing:
        raise DumpFailed(
            f"{target.tag}'s `x-cfgroll: data:` has no restore command for "
            f"{', '.join(missing)}; nothing was changed"
        )
    if any(d.file.endswith(".age") for d in wanted.values()):
        from cfgroll.store import age

        if not age.identities(()):
            raise DumpFailed(
                f"{target.tag}'s dumps are sealed with age (x-cfgroll: recipients:); set "
                "CFGROLL_IDENTITY to an identity file that opens them; nothing was changed"
            )
    running = _running(ctx, live.manifest.project)
    room = 0
    for service in sorted(wanted):
        container = running.get(service)
        if container is None:
            raise DumpFailed(
                f"cannot restore {service}'s data: it has no running container; nothing was changed"
            )
        if not volumes.folders_of(container):
            raise DumpFailed(
                f"{service} keeps its data in no volume, so a restore could not be undone; give "
                "it a volume (docs/data.md); nothing was changed"
            )
        room += volumes.size(ctx, container)
    return Restoring(wanted, commands, room)


def _running(ctx: Context, project: str) -> dict[str, Container]:
    return {c.service: c for c in ctx.daemon.containers(project) if c.state == "running"}


@dataclass
class Planned:
    """What a rollback does with the data: the live release's dumps it took first, and the
    target's dumps it puts back, each after a copy of the service's folders (`journal`) that
    `undo` puts back should anything fail."""

    project: str
    live: str
    target: str
    only: tuple[str, ...] | None
    saved: tuple[Dump, ...]  # taken now, under the live release
    restoring: Restoring
    journal: Journal | None = None  # the copies taken, once the restore began

    @classmethod
    def of(
        cls,
        ctx: Context,
        store: Store,
        live: Entry,
        target: Entry,
        restoring: Restoring,
        secrets: list[str],
        only: Collection[str] | None = None,
    ) -> Planned:
        """Dump the live release's data (before anything changes)."""
        block = live.manifest.layout.settings
        saved = take(ctx, store, live, dict(parse(block).data), secrets, block)
        kept = None if only is None else tuple(sorted(only))
        return cls(live.manifest.project, live.tag, target.tag, kept, tuple(saved), restoring)

    def put_back(self, ctx: Context, limits: Limits) -> None:
        """Each of the target's dumps into its service, after a copy of its folders: the
        service is stopped, copied, then restored (started first, or after, for an `offline`
        restore); then the gate on those services, and each one's `check`."""
        from cfgroll.capabilities import gate, volumes

        wanted = self.restoring.wanted
        if not wanted:
            return
        self.journal = volumes.begin(ctx, self.project, self.live, self.target, self.only)
        running = _running(ctx, self.project)
        for service, dump in sorted(wanted.items()):
            command = self.restoring.commands[service]
            container = running.get(service)
            if container is None:
                raise DumpFailed(f"cannot restore {service}'s data: it has no running container")
            self.journal = volumes.take(ctx, self.journal, container)
            ctx.reporter.step(f"restoring {service}'s data from {dump.tag} ({dump.taken_at})")
            with opened(folder(ctx) / dump.file) as raw, _unpacked(raw, dump.file) as source:
                if command.offline:
                    volumes.run_offline(
                        ctx, self.journal.saved[-1], command.restore, source, command.timeout
                    )
                    ctx.daemon.folders.start([container.id])
                else:
                    ctx.daemon.folders.start([container.id])
                    before = gate.baseline(ctx.daemon, self.project)
                    gate.wait_healthy(
                        ctx.daemon, self.project, [service], limits, before, ctx.reporter.states
                    )
                    ctx.daemon.exec_in(container.id, command.restore, source, command.timeout)
        ctx.reporter.step(f"waiting for {', '.join(sorted(wanted))} after the restore")
        before = gate.baseline(ctx.daemon, self.project)
        gate.wait_healthy(
            ctx.daemon, self.project, sorted(wanted), limits, before, ctx.reporter.states
        )
        for service in sorted(wanted):  # once they pass the gate: an offline one is up by now
            if check := self.restoring.commands[service].check:
                ctx.reporter.step(f"checking {service}'s data ({' '.join(check)})")
                timeout = self.restoring.commands[service].timeout
                ctx.daemon.exec(running[service].id, check, timeout)

    def undo(self, ctx: Context) -> CfgrollError | None:
        """After a failure: the copies back into their folders (the live release then starts
        on them); the error to raise when they could not go back, the journal kept."""
        from cfgroll.capabilities import volumes

        if self.journal is None:
            return None
        try:
            volumes.put_back(ctx, self.journal)
        except volumes.PutBackFailed as exc:
            return exc
        return None

    def done(self, ctx: Context) -> None:
        """The rollback is recorded, or undone: the copies and the journal go."""
        from cfgroll.capabilities import volumes

        if self.journal is not None:
            volumes.finish(ctx, self.journal)


@contextmanager
def _unpacked(raw: IO[bytes], name: str) -> Iterator[IO[bytes]]:
    """A dump's data: zstd (`….zst`), or gzip for the dumps taken before zstd."""
    if ".zst" in name:
        import zstandard

        with zstandard.ZstdDecompressor().stream_reader(raw, closefd=False) as source:
            yield source
    else:
        import gzip

        with gzip.GzipFile(fileobj=raw, mode="rb") as source:
            yield source  # type: ignore[misc]
