"""`cfgroll status`: the live release, and how the project has drifted from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from cfgroll import orchestrators
from cfgroll.context import Context
from cfgroll.history.log import Side, working_side
from cfgroll.orchestrators import ServiceState as ServiceState  # re-exported for the CLI
from cfgroll.settings import parse
from cfgroll.store.files import changed_files
from cfgroll.store.manifest import Role, Unrecorded
from cfgroll.store.repo import Entry, Store
from cfgroll.store.secrets import EnvChanges as EnvChanges  # re-exported for the CLI
from cfgroll.store.secrets import env_changes, is_env, text_of

if TYPE_CHECKING:
    from cfgroll.history.fleet_status import HostState
    from cfgroll.history.following import Following

# `added`: the stack reads a file now that the live release does not hold (a new bind source,
# a new include); `mode`: only the executable bit or the link target kind changed.
DriftState = Literal["modified", "added", "removed", "mode"]


@dataclass(frozen=True)
class FileDrift:
    path: str
    state: DriftState
    role: Role | None = None
    env: EnvChanges | None = None  # key changes of a `.env`-style file (values never kept)


@dataclass(frozen=True)
class Status:
    live: Entry | None
    files: list[FileDrift] = field(default_factory=list)
    services: list[ServiceState] = field(default_factory=list)
    not_recorded: tuple[Unrecorded, ...] = ()  # read by the stack, not versioned, and why
    problem: str = ""  # why the project as it is now could not be resolved
    engine: str = ""  # the engine asked: `name (context …)`
    engine_changed: str = ""  # the engine the live release ran on, when it is another
    following: Following | None = None  # the branch `cfgroll pull` follows, and its hold
    hosts: list[HostState] = field(default_factory=list)  # a fleet's, instead of `services`

    @property
    def label(self) -> str:
        """What the live release runs as, when it is not a plain Compose project."""
        return orchestrators.of(self.live.manifest.orchestrator).label if self.live else ""

    @property
    def drifted(self) -> bool:
        return (
            bool(self.files)
            or bool(self.engine_changed)
            or any(not s.ok for s in self.services)
            or any(not h.ok for h in self.hosts)
        )


def status(ctx: Context) -> Status:
    """The live release, the project files that differ from it, and for each service whether
    its containers run the image the release recorded, are running and healthy."""
    store = ctx.open_store()
    live = store.live()
    if live is None:
        return Status(None)
    working = working_side(ctx, store, live)
    fleet = parse(live.manifest.layout.settings).hosts
    if fleet and ctx.host is None:  # a fleet's: each host's engine, not the one chosen
        from cfgroll.history.fleet_status import host_states

        drift = file_drift(store, live, working)
        return Status(
            live,
            drift,
            [],
            working.not_recorded,
            working.problem,
            hosts=host_states(store, live, fleet),
        )
    info = ctx.daemon.engine()
    recorded = live.manifest.engine
    other = ""
    if recorded is not None and recorded.id != info.id:
        other = f"{recorded.name} (context {recorded.context})"
    runner = orchestrators.of(live.manifest.orchestrator)
    from cfgroll.history.following import following

    return Status(
        live,
        file_drift(store, live, working),
        runner.states(ctx, store, live),
        working.not_recorded,
        working.problem,
        f"{info.name} (context {info.context})",
        other,
        following(ctx, store),
    )


def file_drift(store: Store, live: Entry, working: Side) -> list[FileDrift]:
    recorded = store.files(live)
    on_disk, roles = working.files, working.roles
    drift = []
    for path in changed_files(recorded, on_disk):
        old, new = recorded.get(path), on_disk.get(path)
        state: DriftState = "added" if old is None else "removed" if new is None else "modified"
        if old and new and old.data == new.data:
            state = "mode"
        env = None
        if is_env(path, roles.get(path)):
            env = env_changes(text_of(old.data if old else b""), text_of(new.data if new else b""))
        drift.append(FileDrift(path, state, roles.get(path), env))
    return drift
