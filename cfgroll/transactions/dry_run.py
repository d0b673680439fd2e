"""`cfgroll deploy --dry-run` (and `update --dry-run`): every check a deploy makes before it
acts, then what it would change against the live release: the files (masked), the services it
would build, recreate or leave alone, the hooks it would run, the data it would dump first.

It changes nothing: no store is created or written, no lock taken, nothing built, started,
tagged or removed; the engine and Compose are only asked (`docker compose --dry-run up`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cfgroll import orchestrators
from cfgroll.capabilities.hooks import Hooks, Occasion
from cfgroll.context import Context
from cfgroll.errors import ProjectError
from cfgroll.history.log import Side, diff, entry_side
from cfgroll.history.status import FileDrift, file_drift
from cfgroll.orchestrators import Asked, startfirst
from cfgroll.orchestrators import ServiceChange as ServiceChange  # re-exported for the CLI
from cfgroll.store.manifest import Action, HookPoint
from cfgroll.store.repo import Store
from cfgroll.transactions.deploy import checked

HOOKS: dict[Action, tuple[HookPoint, ...]] = {
    "deploy": ("pre-deploy", "check", "post-deploy", "on-failure"),
    "update": ("pre-deploy", "check", "post-deploy", "on-failure"),
}


@dataclass(frozen=True)
class DryRun:
    """What a deploy or update would do now, had it run instead."""

    action: Action
    project: str
    live: str | None  # the live release's tag; None before the first deploy
    baseline: bool  # containers run without a release: they would be recorded first
    files: list[FileDrift] = field(default_factory=list)
    diff: list[str] = field(default_factory=list)  # masked unless asked
    services: list[ServiceChange] = field(default_factory=list)
    untouched: list[str] = field(default_factory=list)  # an update's other services
    hooks: list[HookPoint] = field(default_factory=list)
    data: list[str] = field(default_factory=list)  # services whose data is dumped first
    start_first: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        """Whether the deploy would change anything that can be known without building."""
        return bool(self.files) or any(s.change != "unchanged" or s.build for s in self.services)


def dry_run(
    ctx: Context,
    only: Sequence[str] | None = None,
    no_build: bool = False,
    show_secrets: bool = False,
) -> DryRun:
    """What `deploy` (`only`: `update` of those services) would do; raises what would refuse
    it, as the deploy would, before anything changes."""
    c = checked(ctx, only)
    store = ctx.open_store() if Store.exists(ctx.store_path) else None
    live = store.live() if store is not None else None
    orchestrators.check_switch(live, c.orchestrator)
    if live is None and only is not None:
        raise ProjectError("nothing is deployed yet to update; run `cfgroll deploy` first")
    existing = c.orchestrator.running(ctx, c.project)
    drift: list[FileDrift] = []
    lines: list[str] = []
    mounted: set[str] = set()
    if store is not None and live is not None:
        now = Side("working files", c.files.content, dict(c.files.roles), None)
        drift = file_drift(store, live, now)
        lines = list(diff(entry_side(store, live, f"{live.tag} (live)"), now, show_secrets))
        mounted = c.files.layout.services_using(f.path for f in drift)
    asked = Asked(c.compose, c.config, c.services, mounted, no_build, only is not None)
    services = c.orchestrator.preview(ctx, asked)
    notes: list[str] = []
    first: list[str] = []
    if c.orchestrator.name == "compose":
        way = startfirst.plan(c.config, c.services, c.settings.rollout)
        first, notes = list(way.services), list(way.notes)
    occasion = Occasion(c.action, "", live.tag if live else "", tuple(c.services), c.project)
    hooks = Hooks(ctx, c.settings.hooks, occasion)
    run = [] if hooks.skipped else [p for p in HOOKS[c.action] if hooks.command(p) is not None]
    return DryRun(
        c.action,
        c.project,
        live.tag if live else None,
        live is None and bool(existing),
        drift,
        lines,
        services,
        c.untouched,
        run,
        sorted(c.data_commands) if live is not None else [],
        first,
        notes,
    )
