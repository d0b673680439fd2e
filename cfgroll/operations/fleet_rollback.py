"""`cfgroll rollback` for a fleet (issue 38): host after host, each host's rollback the whole
single-host transaction (`fleet_runs`), recorded once as a release the hosts join; `main`, the
fleet's release, follows once every host is on it."""

from __future__ import annotations

from cfgroll.capabilities import mirror
from cfgroll.context import Context
from cfgroll.errors import UsageError
from cfgroll.operations import fleet_runs
from cfgroll.operations.fleet import Configured, down_among
from cfgroll.operations.fleet_plan import Choice, FleetDeployed, HostRun, select
from cfgroll.operations.fleet_rollout import copy_of, failure, fleet_error, live_on, move_main
from cfgroll.operations.fleet_runs import Runs
from cfgroll.settings import KEY, effective
from cfgroll.store.names import names
from cfgroll.store.repo import Entry
from cfgroll.transactions.release import reserve_name


def rollback(ctx: Context, fleet: Configured, ref: str, choice: Choice) -> FleetDeployed:
    """`cfgroll rollback REF` for a fleet: each host chosen (every host by default), one after
    the other, goes back to the release `ref` names (`previous`: the one before the fleet's),
    recorded as one new release that the hosts join. The first host runs in the project
    folder (its files go back) when every host goes back; otherwise each runs from a copy of
    what it runs now, and the project folder keeps the fleet's files. A host that fails puts
    back what it ran and stops the rollback (exit 3, naming each host)."""
    settings = fleet.settings
    store = ctx.open_store()
    target = store.resolve(ref)
    chosen = select(settings.hosts, choice.named, choice.group)
    down = down_among(ctx, chosen, choice, "rolls back")
    whole = len(chosen) == len(settings.hosts) and not down
    before = live_on(store)
    never = [h.name for h in chosen if h.name not in before and h.name not in down]
    if never:
        raise UsageError(f"nothing was deployed to host(s) {names(never)} yet; nothing changed")
    lock_timeout = effective(ctx.flags, fleet.config.get(KEY)).lock_timeout
    with mirror.changing(ctx, store, "rollback (fleet)", lock_timeout):
        before = live_on(store)
        name = reserve_name(store)
        runs = [
            HostRun(h.name, "missed", _tag(before.get(h.name)), down[h.name])
            for h in chosen
            if h.name in down
        ]
        first = whole  # the first host that goes back does so in the project folder
        for host in (h for h in chosen if h.name not in down):
            was = before[host.name]
            if was.commit == target.commit:
                runs.append(HostRun(host.name, "unchanged", was.tag))
                continue
            where = fleet_runs.here(ctx, host) if first else copy_of(ctx, store, host, was)
            first = False
            command = ["rollback", target.tag, "--yes"]
            ran = fleet_runs.run(ctx, host, command, name, where, Runs())
            store.drop_readers()
            now = live_on(store).get(host.name)
            tag = now.tag if now else ""
            if ran.code != 0:
                runs.append(HostRun(host.name, failure(ran), tag, ran.error))
                seen = {r.host for r in runs}
                runs += [
                    HostRun(h.name, "not-started", _tag(before.get(h.name)))
                    for h in chosen
                    if h.name not in seen
                ]
                raise fleet_error(name, f"{host.name} failed", runs, "rollback")
            runs.append(HostRun(host.name, "rolled-back", tag))
        fleet_now = {n: e.commit for n, e in live_on(store).items()}
        on = {fleet_now.get(h.name) for h in settings.hosts}
        if len(on) == 1 and None not in on:  # every host on one release: the fleet's
            move_main(store, str(on.pop()), "fleet rollback")
        store.tidy()
    return FleetDeployed(name, tuple(runs), not down)


def _tag(entry: Entry | None) -> str:
    return entry.tag if entry else ""
