"""`cfgroll update`"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cfgroll.cli.common import (
    EnvFiles,
    Files,
    HookTimeout,
    LockTimeout,
    NoHooks,
    NoRollback,
    OrchestratorOption,
    ProjectDir,
    ProjectName,
    RecordUnchanged,
    ServicesOption,
    Settle,
    StorePath,
    Timeout,
    Yes,
    chosen,
    complete_service,
    confirm,
    context,
    nothing_changed,
    out,
    report_setup,
    split_services,
)


def update(
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
    orchestrator: OrchestratorOption = None,
    record_unchanged: RecordUnchanged = False,
    project_dir: ProjectDir = None,
    file: Files = None,
    env_file: EnvFiles = None,
    project_name: ProjectName = None,
    store: StorePath = None,
    timeout: Timeout = None,
    settle: Settle = None,
    lock_timeout: LockTimeout = None,
    hook_timeout: HookTimeout = None,
    no_hooks: NoHooks = False,
) -> None:
    """Update a few services without touching the rest of the stack.

    Builds only SERVICE… (`--services a,b` works too), recreates only them
    (`docker compose up -d --no-deps`), health-checks them, and records a release of action
    `update`; the other services' entries carry over from the live release. If that fails,
    only the updated services are put back (exit 3; exit 4 if that fails too).
    """
    from cfgroll.context import Flags

    names = list(service or []) + split_services(services)
    flags = Flags(timeout, settle, lock_timeout, hook_timeout, no_hooks, chosen(orchestrator))
    ctx = context(project_dir, file, project_name, store, flags, env_file, model=True)
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
