"""One release on several hosts (issue 38). The fleet drives the transactions from above, as
pull does: each host's deploy or rollback is the whole single-host transaction, run for that
host (`fleet_runs`), under the one lock the fleet holds.

A deploy (`fleet_rollout`): the images are built once, on the first host, and sent to each
other host's engine, or pulled by digest from a `registry:` (same bytes, same IDs); each host
deploys them without building, the first host in the project folder, the others from a copy
of its files; the first to pass its gate records the release (one commit, one tag), the
others join it. The canary group goes first and is watched for `soak` seconds; then the
rest, in waves of `parallel`. A host that fails rolls itself back and stops the rollout; all
or nothing, every host already on the new release goes back to the release it ran before.
Each host's live release is `refs/hosts/<name>`; `main` is the fleet's: it moves to the
release once the rollout ends. A rollback: `fleet_rollback`."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from cfgroll import project
from cfgroll.capabilities import mirror, notify
from cfgroll.context import Context
from cfgroll.errors import DeployFailed, EngineUnreachable, UsageError
from cfgroll.fleet_fields import Host
from cfgroll.operations.fleet_plan import Choice, FleetDeployed, plan, select
from cfgroll.operations.fleet_rollout import Rollout
from cfgroll.settings import KEY, Settings, effective, parse
from cfgroll.store.names import names
from cfgroll.transactions.deploy import Deployed
from cfgroll.transactions.deploy import deploy as transactions_deploy
from cfgroll.transactions.init import ensure_store


@dataclass(frozen=True)
class Configured:
    """A project that names a fleet: its settings and Compose's model of it."""

    settings: Settings
    config: dict[str, Any]


def configured(ctx: Context, choice: Choice | None = None) -> Configured | None:
    """The project, when it names a fleet (`hosts:`) and this run is not one of a fleet's
    host runs; else None (and a `UsageError` if `choice` chose hosts)."""
    if ctx.host is not None:
        return None
    config = ctx.compose.config()
    settings = parse(config.get(KEY))
    if not settings.hosts and choice is not None and choice.given:
        raise UsageError(
            "--hosts, --group and --skip-unreachable choose hosts of a fleet; this project "
            f"names none (`{KEY}: hosts:`, docs/fleet.md)"
        )
    return Configured(settings, config) if settings.hosts else None


def down_among(ctx: Context, chosen: Sequence[Host], choice: Choice, what: str) -> dict[str, str]:
    """Why each host of `chosen` that does not answer does not (all asked at once);
    `EngineUnreachable` naming them, before anything changes, unless `choice` skips them (and
    one answers). `what`: the command's verb in that error ("deploys to", "rolls back")."""
    from cfgroll.engine.hosts import unreachable

    ctx.reporter.step(f"asking {len(chosen)} host(s)' engines")
    with ThreadPoolExecutor(max_workers=max(1, len(chosen))) as pool:
        found = dict(zip(chosen, pool.map(lambda h: unreachable(h.endpoint), chosen), strict=True))
    down = {h.name: why for h, why in found.items() if why is not None}
    if down and (not choice.skip_unreachable or len(down) == len(chosen)):
        listed = "; ".join(f"{h}: {why}" for h, why in sorted(down.items()))
        raise EngineUnreachable(
            f"cannot reach host(s) {names(sorted(down))} ({listed}); nothing was changed; "
            f"--skip-unreachable {what} the others and shows those as missed"
        )
    return down


def deploy(
    ctx: Context,
    choice: Choice | None = None,
    no_rollback: bool = False,
    record_unchanged: bool = False,
    no_build: bool = False,
) -> Deployed | FleetDeployed:
    """`cfgroll deploy`: to the fleet when the project names one (`hosts:`), else to the one
    engine chosen (`cfgroll.transactions.deploy`)."""
    choice = choice or Choice()
    fleet = configured(ctx, choice)
    if fleet is None:
        return transactions_deploy(ctx, no_rollback, record_unchanged, no_build=no_build)
    if record_unchanged or no_build:
        raise UsageError("--record-unchanged and --no-build are for a deploy to one host")
    return deploy_fleet(ctx, fleet, choice, no_rollback)


@dataclass(frozen=True)
class Checked:
    """A fleet deploy's checks passed: the context (the model's project name), the hosts to
    deploy to, those missed (unreachable, skipped) and why, the project's files."""

    ctx: Context
    hosts: tuple[Host, ...]
    missed: tuple[Host, ...]
    down: dict[str, str]
    files: project.ProjectFiles


def check(ctx: Context, fleet: Configured, choice: Choice) -> Checked:
    """What a fleet deploy checks before it changes anything (its dry run too): no `data:`,
    the hosts chosen, their env files, the project's files, every host answering (unless
    skipped)."""
    settings, config = fleet.settings, fleet.config
    if settings.data:
        raise UsageError(
            "a fleet deploy does not take `x-cfgroll: data:` yet (each host's dumps would "
            "share one store); nothing was changed (docs/fleet.md, Not yet)"
        )
    chosen = select(settings.hosts, choice.named, choice.group)
    missing = [h.env_file for h in settings.hosts if h.env_file and not _is_file(ctx, h.env_file)]
    if missing:
        raise UsageError(
            f"the host env file(s) {names(missing)} (`{KEY}: hosts:`) are missing; nothing "
            "was changed"
        )
    ctx = replace(ctx, compose=ctx.compose.named(str(config["name"])))
    files = project.resolve(ctx.compose, config, ctx.known())
    down = down_among(ctx, chosen, choice, "deploys to")
    up = tuple(h for h in chosen if h.name not in down)
    return Checked(ctx, up, tuple(h for h in chosen if h.name in down), down, files)


def deploy_fleet(
    ctx: Context, fleet: Configured, choice: Choice, no_rollback: bool = False
) -> FleetDeployed:
    """The release to the hosts chosen, canary first, then in waves; `DeployFailed` (exit 3)
    or `RollbackFailed` (exit 4) naming what happened on each host when it stops. Unreachable
    hosts are refused before anything changes, unless skipped (they are then missed)."""
    c = check(ctx, fleet, choice)
    ctx, config, rollout = c.ctx, fleet.config, fleet.settings.fleet
    the_plan = plan(list(c.hosts), rollout)
    store = ensure_store(ctx).store
    block = config.get(KEY)
    lock_timeout = effective(ctx.flags, block).lock_timeout
    with mirror.changing(ctx, store, "deploy (fleet)", lock_timeout, block):
        services = config.get("services") or {}
        run = Rollout(ctx, store, the_plan, rollout, c.files, services, no_rollback)
        try:
            result = run.run(c.missed, c.down)
        except DeployFailed as exc:
            notify.tell(ctx, block, "failed", "cfgroll: fleet deploy failed", str(exc))
            raise
    project_name = str(config["name"])
    notify.tell(
        ctx,
        block,
        "deployed",
        f"cfgroll: {project_name}: {result.release} is live on the fleet",
        f"fleet deploy of {project_name}: " + "; ".join(r.describe() for r in result.runs),
    )
    return result


def _is_file(ctx: Context, rel: str) -> bool:
    return (ctx.compose.directory / rel).is_file()
