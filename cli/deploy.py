"""`cfgroll deploy`"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cfgroll.cli.common import (
    nothing_changed,
    out,
    report_setup,
)
from cfgroll.cli.options import (
    GATE_SETTINGS,
    DryRunOption,
    Json,
    NoRollback,
    RecordUnchanged,
    ShowSecrets,
    Yes,
    project_command,
)

if TYPE_CHECKING:
    from cfgroll.context import Context


@project_command(settings=(*GATE_SETTINGS, "orchestrator"), model=True)
def deploy(
    ctx: Context,
    no_rollback: NoRollback = False,
    record_unchanged: RecordUnchanged = False,
    yes: Yes = False,
    dry_run: DryRunOption = False,
    json_: Json = False,
    show_secrets: ShowSecrets = False,
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
    deploy would be refused.
    """
    if dry_run:
        from cfgroll.cli.dry_run import render
        from cfgroll.transactions.dry_run import dry_run as preview

        render(preview(ctx, show_secrets=show_secrets), json_)
        return
    from cfgroll.transactions.deploy import (
        deploy as run_deploy,  # imported while Compose reads the model
    )

    result = run_deploy(ctx, no_rollback, record_unchanged)
    report_setup(result)
    if result.unchanged:
        out(nothing_changed(result.entry.tag))
        return
    m = result.entry.manifest
    changed = ", ".join(m.services_changed) or "no image changed"
    out(f"deployed {m.tag} ({changed})")
    out(f"roll back with: cfgroll rollback previous   (or: cfgroll rollback {m.tag})")
