"""`cfgroll deploy`"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cfgroll.cli.common import (
    nothing_changed,
    out,
    report_setup,
    split_services,
)
from cfgroll.cli.options import (
    GATE_SETTINGS,
    DryRunOption,
    HostsOption,
    Json,
    NoRollback,
    RecordUnchanged,
    ShowSecrets,
    Yes,
    project_command,
)

if TYPE_CHECKING:
    from cfgroll.context import Context

GroupOption = Annotated[
    Optional[str],
    typer.Option("--group", metavar="NAME", help="Only the fleet's hosts in this group."),
]


@project_command(settings=(*GATE_SETTINGS, "orchestrator"), model=True)
def deploy(
    ctx: Context,
    no_rollback: NoRollback = False,
    record_unchanged: RecordUnchanged = False,
    yes: Yes = False,
    dry_run: DryRunOption = False,
    json_: Json = False,
    show_secrets: ShowSecrets = False,
    hosts: HostsOption = None,
    group: GroupOption = None,
    skip_unreachable: Annotated[
        bool,
        typer.Option(
            "--skip-unreachable",
            help="Deploy to the fleet's hosts that answer; the others are recorded as missed "
            "(without it, one unreachable host refuses the deploy before anything changes).",
        ),
    ] = False,
    no_build: Annotated[
        bool, typer.Option("--no-build", help="Start the images as they are; build nothing.")
    ] = False,
) -> None:
    """Build, start and health-check the stack, then record it as a new release.

    Runs `docker compose up -d --build --remove-orphans` (one Compose run: builds, then starts;
    and recreates the services whose mounted files changed, which Compose alone leaves running),
    waits until every service runs (and is healthy where it has a healthcheck), then commits
    every file of the configuration (compose files and their includes, env files, mounted files
    and read-only folders, configs, secrets, tracked files; see docs/recording.md) and a
    services manifest to the store with an annotated tag, and puts the same tag on every
    service image. If the build, the start or the health gate fails (or on Ctrl-C), the
    attempt is kept as a failed_… tag and the live release is put back (exit 3). The project's
    hooks run around it (pre-deploy, check, post-deploy, on-failure; see docs/hooks.md). Asks
    no questions (--yes is accepted for scripts).

    With --dry-run: every check, then what the deploy would change (files, masked; services
    built, recreated or left running; hooks; data dumped), changing nothing; exit 1 when the
    deploy would be refused. For a fleet: each host's own dry run.

    A project that names a fleet (x-cfgroll: hosts:) deploys one release to its hosts: the
    first builds, the canary group goes first and is watched, then the rest in waves; a host
    that fails stops the rollout and, all or nothing, the hosts already on it go back
    (exit 3, naming each host). See docs/fleet.md.
    """
    from cfgroll.operations.fleet_plan import Choice, FleetDeployed

    choice = Choice(tuple(split_services(hosts)), group, skip_unreachable)
    if dry_run:
        from cfgroll.cli.dry_run import render, render_fleet
        from cfgroll.operations.fleet_preview import FleetPreview
        from cfgroll.operations.fleet_preview import dry_run as preview

        shown = preview(ctx, choice, show_secrets, json_)
        if isinstance(shown, FleetPreview):
            render_fleet(shown, json_)
        else:
            render(shown, json_)
        return
    from cfgroll.operations import fleet  # imported while Compose reads the model

    result = fleet.deploy(ctx, choice, no_rollback, record_unchanged, no_build)
    if isinstance(result, FleetDeployed):
        for run in result.runs:
            out(run.describe())
        whole = "" if result.complete else " (not on every host: `cfgroll status` shows which)"
        out(f"deployed {result.release} to the fleet{whole}")
        return
    report_setup(result)
    if result.unchanged:
        out(nothing_changed(result.entry.tag))
        return
    m = result.entry.manifest
    changed = ", ".join(m.services_changed) or "no image changed"
    out(f"deployed {m.tag} ({changed})")
    if ctx.host is None:  # a fleet's host run: the fleet says how
        out(f"roll back with: cfgroll rollback previous   (or: cfgroll rollback {m.tag})")
