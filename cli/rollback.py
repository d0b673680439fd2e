"""`cfgroll rollback`"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cfgroll.cli.common import (
    confirm,
    err,
    is_tty,
    local_time,
    out,
    split_services,
    table,
)
from cfgroll.cli.options import (
    GATE_SETTINGS,
    DryRunOption,
    HostsOption,
    ServicesOption,
    ShowSecrets,
    Yes,
    complete_release,
    project_command,
)
from cfgroll.errors import UsageError

if TYPE_CHECKING:
    from cfgroll.context import Context


@project_command(settings=GATE_SETTINGS)
def rollback(
    ctx: Context,
    tag: Annotated[
        Optional[str],
        typer.Argument(
            help="Release tag, its timestamp (20261126_221530), or `previous`. Without it, "
            "the releases are listed and you are asked which (on a terminal only).",
            autocompletion=complete_release,
        ),
    ] = None,
    services: ServicesOption = None,
    yes: Yes = False,
    dry_run: DryRunOption = False,
    show_secrets: ShowSecrets = False,
    engine_change: Annotated[
        bool,
        typer.Option(
            "--engine-change",
            help="Put the release onto this engine even though it ran on another one (the "
            "manifest records each release's engine).",
        ),
    ] = False,
    with_data: Annotated[
        bool,
        typer.Option(
            "--with-data",
            help="Also put back the release's data (x-cfgroll data:): the data written since "
            "is replaced (dumped first, under .cfgroll/data/).",
        ),
    ] = False,
    hosts: HostsOption = None,
) -> None:
    """Put a recorded release back: its images, its files, its containers.

    With `--services a,b` only those services go back to the release's images and are
    recreated; the project files stay as they are.

    Checks that every image of the release still exists (else changes nothing), retags them
    under the references Compose uses, writes the release's files into the project (edits that
    were never deployed are saved first as a draft), runs `docker compose up -d` without build
    or pull, passes the health gate, and records the rollback as a new release. If that fails,
    the release that was live is put back (exit 3; exit 4 if that fails too). The hooks run
    around it (pre-rollback, check, post-rollback, on-failure; see docs/hooks.md).

    A Swarm stack's release goes back whole: its files, then its recorded stack file (images
    pinned by digest) with `docker stack deploy`, gated. A release made on another engine is
    refused unless --engine-change.

    A fleet (x-cfgroll: hosts:) goes back host after host, every host or those of --hosts;
    `previous` is the release before the fleet's. See docs/fleet.md.
    """
    from cfgroll.transactions.rollback import Plan, plan, preview
    from cfgroll.transactions.rollback import rollback as run_rollback

    only = split_services(services) or None
    ref = tag if tag is not None else _choose(ctx)
    if _fleet(ctx, ref, hosts, yes, dry_run or bool(only) or with_data):
        return
    if dry_run:
        planned = plan(ctx, ref, only, engine_change)
        t = planned.target.manifest
        out(f"rollback of {t.project} from {planned.live.tag} to {t.tag} would change:")
        for line in preview(ctx, planned, show_secrets):
            out(line)
        return

    def ask(planned: Plan) -> None:
        t = planned.target.manifest
        which = ", ".join(only) if only else f"all {len(t.services)} service(s)"
        lost = (
            f"; the data written since {t.tag} is replaced by its dump (the current data is "
            "saved first)"
            if with_data
            else ""
        )
        confirm(f"roll {t.project} back from {planned.live.tag} to {t.tag} ({which}){lost}?", yes)

    result = run_rollback(ctx, ref, only, engine_change, ask, with_data)
    if result.draft:
        out(
            f"your edits were saved as {result.draft.tag}; `cfgroll checkout "
            f"{result.draft.tag}` writes them back"
        )
    if only:
        out(f"the project files were left as they are; only {', '.join(only)} changed")
    out(f"rolled back to {result.entry.manifest.target}; recorded as {result.entry.tag}")


def _fleet(ctx: Context, ref: str, hosts: str | None, yes: bool, one_host_only: bool) -> bool:
    """A fleet's rollback, when the project names a fleet; whether it was one."""
    from cfgroll.operations import fleet, fleet_rollback
    from cfgroll.operations.fleet_plan import Choice

    project = fleet.configured(ctx)
    if project is None:
        if hosts:
            raise UsageError("--hosts chooses hosts of a fleet; this project names none")
        return False
    if one_host_only:
        raise UsageError(
            "--dry-run, --services and --with-data do not take a fleet yet (docs/fleet.md, "
            "Not yet); nothing was changed"
        )
    named = tuple(split_services(hosts))
    confirm(f"roll {', '.join(named) or 'every host'} back to {ref}?", yes)
    result = fleet_rollback.rollback(ctx, project, ref, Choice(named))
    for run in result.runs:
        out(run.describe())
    out(f"rolled back; recorded as {result.release}")
    return True


RESTORABLE = {"yes": "yes", "pull": "yes (pull)", "no": "no: image gone"}


def _choose(ctx: Context) -> str:
    """List the releases and ask which one; only on a terminal."""
    from cfgroll.transactions.rollback import choices

    if not is_tty():
        raise UsageError(
            "which release? give a TAG (`cfgroll log` lists them, `previous` is the one "
            "before the live one); without a terminal cfgroll cannot ask"
        )
    options = choices(ctx)
    if not options:
        raise UsageError("the store has no release yet; run `cfgroll deploy` first")
    rows = [["#", "TAG", "TIME", "ACTION", "SERVICES", "RESTORABLE"]]
    for i, c in enumerate(options, 1):
        m = c.entry.manifest
        action = f"{m.action} to {m.target}" if m.target else m.action
        rows.append(
            [
                str(i),
                m.tag + (" (live)" if c.live else ""),
                local_time(m.created_at),
                action,
                ", ".join(m.services_changed) or "-",
                RESTORABLE[c.restorable],
            ]
        )
    for line in table(rows):
        err(line)
    number = int(typer.prompt("roll back to which release (number)", type=int, err=True))
    if not 1 <= number <= len(options):
        raise UsageError(f"there is no release number {number}; nothing was changed")
    return options[number - 1].entry.tag
