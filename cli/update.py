"""`cfgroll update`"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cfgroll.cli.common import (
    confirm,
    nothing_changed,
    out,
    report_setup,
    split_services,
)
from cfgroll.cli.options import (
    GATE_SETTINGS,
    DryRunOption,
    Json,
    NoRollback,
    RecordUnchanged,
    ServicesOption,
    ShowSecrets,
    Yes,
    complete_service,
    project_command,
)

if TYPE_CHECKING:
    from cfgroll.context import Context


@project_command(settings=(*GATE_SETTINGS, "orchestrator"), model=True)
def update(
    ctx: Context,
    service: Annotated[
        Optional[list[str]],
        typer.Argument(
            help="The services to update.", show_default=False, autocompletion=complete_service
        ),
    ] = None,
    services: ServicesOption = None,
    no_build: Annotated[
        bool, typer.Option("--no-build", help="Recreate the services without building them.")
    ] = False,
    yes: Yes = False,
    no_rollback: NoRollback = False,
    record_unchanged: RecordUnchanged = False,
    dry_run: DryRunOption = False,
    json_: Json = False,
    show_secrets: ShowSecrets = False,
) -> None:
    """Update a few services without touching the rest of the stack.

    Builds only SERVICE… (`--services a,b` works too), recreates only them
    (`docker compose up -d --no-deps`), health-checks them, and records a release of action
    `update`; the other services' entries carry over from the live release. If that fails,
    only the updated services are put back (exit 3; exit 4 if that fails too).

    With --dry-run: every check, then what the update would change, changing nothing.
    """

    names = list(service or []) + split_services(services)
    if dry_run:
        from cfgroll.cli.dry_run import render
        from cfgroll.transactions.dry_run import dry_run as preview

        render(preview(ctx, names, no_build, show_secrets), json_)
        return
    confirm(f"update {', '.join(names) or 'no service'}?", yes)
    from cfgroll.transactions.deploy import (
        update as run_update,  # imported while Compose reads the model
    )

    result = run_update(ctx, names, no_build, no_rollback, record_unchanged)
    report_setup(result)
    if result.unchanged:
        out(nothing_changed(result.entry.tag))
        return
    out(f"updated {', '.join(names)} as {result.entry.tag}")
    if result.whole:  # a stack goes back whole
        out("roll back with: cfgroll rollback previous")
    else:
        out(f"roll back with: cfgroll rollback previous --services {','.join(names)}")
