"""How a release is started and judged: as a Compose project (`docker compose up` and the
container health gate) or as a Swarm stack (`docker stack deploy` and the stack's gate).

Both implement `Orchestrator`. Which one runs is chosen once, by `of`, from the settings (a
deploy) or from the release (a rollback, a status): the rest of cfgroll never asks which.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from cfgroll import faults
from cfgroll.errors import CfgrollError
from cfgroll.store.manifest import Orchestrator as Name

if TYPE_CHECKING:
    from cfgroll.capabilities.gate import Limits
    from cfgroll.capabilities.hooks import Hooks
    from cfgroll.context import Context
    from cfgroll.engine.compose import Compose
    from cfgroll.engine.daemon import Container
    from cfgroll.orchestrators.swarm.render import Rendered
    from cfgroll.project import ProjectFiles
    from cfgroll.settings import RolloutSettings
    from cfgroll.store.manifest import ServiceRecord
    from cfgroll.store.repo import Entry, Store


@dataclass(frozen=True)
class ServiceState:
    """How one service runs against the live release (`cfgroll status`)."""

    service: str
    ok: bool
    state: str  # a short phrase: "running, healthy", "stopped (exit 3)", "image differs", …
    image_id: str | None = None  # what its containers run
    recorded_id: str | None = None  # what the live release recorded


# What a deploy would do to a service (`deploy --dry-run`): create its first container,
# replace its containers, start its stopped ones, update it (a Swarm service, if its spec
# changed), or leave it running.
Change = Literal["create", "recreate", "start", "update", "unchanged"]


@dataclass(frozen=True)
class ServiceChange:
    """One service in a dry run: what the deploy would do to it and why; `build`: its image
    is built first (and, if the image changes, its containers are replaced too)."""

    service: str
    change: Change
    why: str = ""
    build: bool = False


@dataclass(frozen=True)
class Asked:
    """A deploy a dry run asks about: the project as Compose resolved it, the services it
    would start (`only`: an update's), those whose mounted files changed, and `--no-build`."""

    compose: Compose
    config: Mapping[str, Any]
    services: Sequence[str]
    mounted: Collection[str]
    no_build: bool
    only: bool = False


@dataclass(frozen=True)
class Rollout:
    """One deploy (or, with `only`, update) as the orchestrator starts it: the project as
    Compose resolved it, the services to start, the gate's limits and the hooks, and the
    release that is live."""

    compose: Compose
    config: Mapping[str, Any]
    services: Sequence[str]
    only: Sequence[str] | None
    no_build: bool
    limits: Limits
    hooks: Hooks
    store: Store
    live: Entry | None
    files: ProjectFiles
    settings: RolloutSettings  # start-first or stop-first, the drain, pre-stop commands


@dataclass(frozen=True)
class Comeback:
    """A recorded release made live again (a rollback, or the live one put back after a
    failure): its services `chosen` (`only`: just those, recreated without their deps), its
    files in `paths` written back (None: the files stay), gated with `limits` and `hooks`."""

    store: Store
    entry: Entry
    paths: Iterable[str] | None
    chosen: Sequence[str]
    only: Iterable[str] | None
    limits: Limits
    hooks: Hooks | None
    rollout: RolloutSettings
    intact: Collection[str] = ()  # containers that never saw other files (a failed deploy's)


class Orchestrator(Protocol):
    name: Name
    label: str  # how `show` and `status` name what a release runs as ("" for plain Compose)
    whole: bool  # a release goes back whole only (no `rollback --services`)

    def check(
        self,
        ctx: Context,
        config: Mapping[str, Any],
        services: Sequence[str],
        rollout: RolloutSettings,
    ) -> None:
        """Refuse, before anything changes, a deploy that cannot work here."""

    def check_engine(self, ctx: Context) -> None:
        """Refuse, before anything changes, an engine a release cannot go back onto."""

    def running(self, ctx: Context, project: str) -> list[Container]:
        """The containers the project runs before a deploy (a baseline records them)."""

    def deploy(self, ctx: Context, rollout: Rollout) -> Rendered | None:
        """Start the new release and pass its gate; the stack file deployed, if any."""

    def preview(self, ctx: Context, asked: Asked) -> list[ServiceChange]:
        """What a deploy of `asked.services` would do to each, asking the engine only:
        nothing built, nothing started."""

    def restore(self, ctx: Context, back: Comeback) -> None:
        """Make the release live again, its files written back, gated."""

    def kept(self, store: Store, entry: Entry) -> Rendered | None:
        """What a release keeps besides the project's files (a stack's rendered file)."""

    def records(
        self, ctx: Context, project: str, services: Sequence[str], stack: Rendered | None, tag: str
    ) -> dict[str, ServiceRecord]:
        """The manifest's services of a release, read from what runs now."""

    def states(self, ctx: Context, store: Store, live: Entry) -> list[ServiceState]:
        """Each service against what the live release recorded."""

    def after_release(self, ctx: Context, store: Store, project: str, block: Any) -> None:
        """Tidy up after a release (a failure is a warning)."""

    def leftovers(self, ctx: Context, project: str) -> list[Container]:
        """Containers an interrupted rollout left beside the live release's (`doctor`)."""

    def remove_first(self, ctx: Context, project: str) -> bool:
        """After a failed first deploy: remove what it started, if this orchestrator does
        that whole (True); False leaves it to the caller."""


def of(name: Name) -> Orchestrator:
    """The orchestrator a setting or a release names."""
    if name == "swarm":
        from cfgroll.orchestrators.swarm import SWARM

        return SWARM
    from cfgroll.orchestrators.compose import COMPOSE

    return COMPOSE


def check_switch(live: Entry | None, chosen: Orchestrator) -> None:
    """Refuse to deploy a project on another orchestrator than its live release ran on: the
    old one's containers or services would keep running beside the new ones."""
    if live is None or live.manifest.orchestrator == chosen.name:
        return
    was = live.manifest.orchestrator
    raise CfgrollError(
        f"the live release {live.tag} runs on {was.title()}, and this deploy is for "
        f"{chosen.name.title()}; cfgroll does not move a project between them: stop it there "
        f"first, and keep the new one in its own store (--store) or project (-p)"
    )


def write_files(ctx: Context, store: Store, entry: Entry, paths: Iterable[str]) -> list[str]:
    """Make the project files those of `entry` (files in `paths` it did not have are removed);
    the paths that changed."""
    from cfgroll import project

    files = store.files(entry)
    ctx.reporter.step(f"writing the files of {entry.tag}")
    wanted = {p: files.get(p) for p in set(paths) | set(files)}
    written = project.write(ctx.directory, wanted, entry.manifest.files)
    faults.point("restore:files-written")
    return written
