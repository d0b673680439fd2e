"""`cfgroll deploy --dry-run` for a fleet (issue 38): every check the fleet deploy makes
before it acts (no `data:`, the hosts chosen, their env files, the project's files, each
host answering), then each host's own dry run, the single-host one, run for that host as its
deploy would run (its engine, its live release `refs/hosts/<name>`, its env file), all at
once. Nothing is built, sent, started or written, and no lock is taken."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cfgroll.context import Context
from cfgroll.operations import fleet_runs
from cfgroll.operations.fleet import check, configured
from cfgroll.operations.fleet_plan import Choice
from cfgroll.operations.fleet_rollout import live_on
from cfgroll.operations.fleet_runs import Answer
from cfgroll.store.repo import Store
from cfgroll.transactions.dry_run import DryRun
from cfgroll.transactions.dry_run import dry_run as transactions_dry_run


@dataclass(frozen=True)
class HostPreview:
    """One host's dry run: what it printed (JSON with `--json`) and its exit; or why it was
    not asked (unreachable, skipped)."""

    host: str
    live: str  # the release the host runs ("" before its first)
    answer: Answer | None
    missed: str = ""


@dataclass(frozen=True)
class FleetPreview:
    project: str
    release: str  # the fleet's release ("" before the first deploy)
    hosts: tuple[HostPreview, ...]

    @property
    def refused(self) -> list[str]:
        """The hosts whose deploy would be refused."""
        return [h.host for h in self.hosts if h.answer is not None and h.answer.code != 0]


def dry_run(
    ctx: Context, choice: Choice | None = None, show_secrets: bool = False, json_: bool = False
) -> DryRun | FleetPreview:
    """What `cfgroll deploy` would do: on the fleet when the project names one, else on the
    one engine chosen (`cfgroll.transactions.dry_run`). `json_`: the hosts answer in JSON."""
    choice = choice or Choice()
    fleet = configured(ctx, choice)
    if fleet is None:
        return transactions_dry_run(ctx, show_secrets=show_secrets)
    c = check(ctx, fleet, choice)
    command = ["deploy", "--dry-run", *(["--json"] if json_ else [])]
    command += ["--show-secrets"] if show_secrets else []
    ctx.reporter.step(f"asking {len(c.hosts)} host(s) what the deploy would change there")
    with ThreadPoolExecutor(max_workers=max(1, len(c.hosts))) as pool:
        answers = list(
            pool.map(lambda h: fleet_runs.ask(ctx, h, command, fleet_runs.here(c.ctx, h)), c.hosts)
        )
    store = c.ctx.open_store() if Store.exists(c.ctx.store_path) else None
    live = {name: e.tag for name, e in live_on(store).items()} if store else {}
    main = store.live() if store is not None else None
    found = [
        HostPreview(h.name, live.get(h.name, ""), a) for h, a in zip(c.hosts, answers, strict=True)
    ]
    found += [HostPreview(h.name, live.get(h.name, ""), None, c.down[h.name]) for h in c.missed]
    return FleetPreview(str(fleet.config["name"]), main.tag if main else "", tuple(found))
