"""Start-first rollouts for plain Compose: a service's new containers start beside the old ones,
pass the gate, and only then are the old ones retired (docs/rollouts.md).

Compose replaces a container by stopping it and then creating its successor, so every recreate
drops requests. A service whose `deploy.update_config.order` is `start-first` (Swarm's own key,
which Compose ignores outside Swarm), or every service under `x-cfgroll: rollout: start-first`,
goes the other way:

1. the stop-first services converge first, as `docker compose up` would, in one run;
2. the start-first services' new containers start beside the old ones (`up --no-deps
   --no-recreate --scale S=…`), in dependency order;
3. the gate judges the new containers (and the stop-first services), never the old ones;
4. only then are the old ones retired: the `pre_stop` command, the drain (they still answer),
   out of the networks (the engine's DNS forgets them), stopped within their grace period,
   removed.

A failure before 4 leaves the old containers untouched: the rollback that follows finds them
matching the live release, keeps them and retires the new ones instead. The end state is what
`docker compose up -d` leaves (N containers with the configuration's hash), so a later plain
`docker compose up -d` changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cfgroll import faults
from cfgroll.capabilities import gate
from cfgroll.capabilities.hooks import Hooks, gate_check
from cfgroll.context import Context
from cfgroll.engine.compose import Compose
from cfgroll.engine.daemon import Container, by_service
from cfgroll.errors import CfgrollError, ProjectError, one_line
from cfgroll.settings import ORDERS, Order, RolloutSettings, one_of
from cfgroll.store.names import names

# the section that shows the change, for Traefik, nginx and Caddy
BEHIND_A_PROXY = "docs/rollouts.md#moving-a-published-port-behind-a-proxy"
WAY_OUT = (
    "move the port to a reverse proxy in front of it (Traefik, nginx, Caddy: "
    f"{BEHIND_A_PROXY}), or mark it stop-first"
)


@dataclass(frozen=True)
class Plan:
    """Which services go start-first, in dependency order: each level only depends on the
    levels before it. `notes`: one line for each service that would go start-first but cannot
    run twice side by side, so goes stop-first (under the project default or `--rollout`, or
    when a release goes back)."""

    levels: tuple[tuple[str, ...], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(s for level in self.levels for s in level)


def own_order(name: str, svc: Mapping[str, Any]) -> Order | None:
    """The service's own `deploy.update_config.order`, None when it has none."""
    value = ((svc.get("deploy") or {}).get("update_config") or {}).get("order")
    if value is None:
        return None
    return one_of(value, ORDERS, f"service {name}: deploy.update_config.order")


def blocker(svc: Mapping[str, Any]) -> str | None:
    """Why two containers of the service cannot run side by side; None when they can."""
    if svc.get("container_name"):
        return f"its container_name {svc['container_name']} is fixed"
    for port in svc.get("ports") or []:
        published = str(port.get("published") or "") if isinstance(port, Mapping) else ""
        if published and "-" not in published:
            return f"it publishes the fixed host port {published}"
    mode = str(svc.get("network_mode") or "")
    if mode == "host" or mode.startswith(("service:", "container:")):
        return f"it shares a network stack (network_mode: {mode}), so the ports would clash"
    return None


def plan(
    config: Mapping[str, Any],
    services: Sequence[str],
    rollout: RolloutSettings,
    refuse: bool = True,
) -> Plan:
    """The start-first services among `services`; `ProjectError` before anything changes when
    a service marked start-first itself cannot run twice (unless not `refuse`: a release going
    back goes back, stop-first, said in a note), or `pre_stop` names no service."""
    model = config.get("services") or {}
    unknown = sorted(set(rollout.pre_stop) - set(model))
    if unknown:
        raise ProjectError(
            f"`x-cfgroll: pre_stop:` names {names(unknown)}, not a service of this project "
            f"(its services: {names(sorted(model))})"
        )
    chosen, notes = [], []
    for name in services:
        svc = model.get(name) or {}
        own = own_order(name, svc)
        if (rollout.forced or own or rollout.default) != "start-first":
            continue
        why = blocker(svc)
        if why is None:
            chosen.append(name)
        elif own == "start-first" and rollout.forced is None and refuse:
            raise ProjectError(
                f"service {name} is marked start-first (deploy.update_config.order), but two of "
                f"its containers cannot run side by side: {why}; {WAY_OUT}"
            )
        else:
            notes.append(f"{name} stays stop-first: {why} (to keep it answering: {BEHIND_A_PROXY})")
    return Plan(_levels(model, chosen), tuple(notes))


def _levels(model: Mapping[str, Any], chosen: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    depth: dict[str, int] = {}

    def level(name: str) -> int:  # Compose refuses a dependency cycle before cfgroll sees one
        if name not in depth:
            deps = [d for d in (model[name].get("depends_on") or {}) if d in chosen]
            depth[name] = 1 + max(map(level, deps), default=-1)
        return depth[name]

    for name in chosen:
        level(name)
    top = max(depth.values(), default=-1)
    return tuple(tuple(sorted(n for n in chosen if depth[n] == i)) for i in range(top + 1))


def scale(svc: Mapping[str, Any]) -> int:
    """How many containers the service runs (`scale:`, else `deploy.replicas`, else 1)."""
    for value in (svc.get("scale"), (svc.get("deploy") or {}).get("replicas")):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 1


@dataclass(frozen=True)
class Replacement:
    """One start-first service's containers: those already what the release wants (`keep`),
    the serving ones retired once the gate passes (`retire`), those that serve nothing and are
    removed at once (`dead`), and how many new ones to start beside them."""

    service: str
    keep: tuple[Container, ...]
    retire: tuple[Container, ...]
    dead: tuple[Container, ...]
    start: int


def replacements(
    containers: Mapping[str, Sequence[Container]],
    wanted: Mapping[str, int],
    target: Mapping[str, str],
    current_images: Mapping[str, str | None],
    stale: Collection[str] = (),
    intact: Collection[str] = (),
) -> dict[str, Replacement]:
    """For each start-first service in `wanted` (its scale) that has running containers: what
    to keep, start and retire. A container is kept when it runs the configuration's hash
    (`target`) and the image its reference names now (`current_images`, as Compose judges), and
    its service's mounted files did not change (`stale`), unless it is `intact` (it ran before
    the failed deploy whose files are being put back: it never saw the new ones), and it is
    still in its networks (a rollout had not begun to retire it). A service
    with nothing running is left out: it has nothing to keep up, Compose starts it."""
    found = {}
    for service, n in wanted.items():
        mine = sorted(containers.get(service, ()), key=lambda c: (c.created, c.name))
        running = [c for c in mine if c.state == "running"]
        if not running or n < 1:
            continue
        good = [
            c
            for c in running
            if c.config_hash == target.get(service)
            and current_images.get(c.image_ref) == c.image_id
            and c.networks  # not one a rollout had begun to retire
            and (service not in stale or c.id in intact)
        ][:n]
        found[service] = Replacement(
            service,
            keep=tuple(good),
            retire=tuple(c for c in running if c not in good),
            dead=tuple(c for c in mine if c.state != "running"),
            start=n - len(good),
        )
    return found


@dataclass(frozen=True)
class Way:
    """How a run replaces services: the project's model (`docker compose config`), its rollout
    settings, the containers known to hold the files being put back (`intact`: they ran before
    the failed deploy or rollback that is undone), and whether a release is going back (then
    what cannot go start-first goes stop-first instead of being refused)."""

    config: Mapping[str, Any]
    settings: RolloutSettings
    intact: Collection[str] = ()
    going_back: bool = False


def roll(
    ctx: Context,
    compose: Compose,
    services: Sequence[str],
    limits: gate.Limits,
    up: Sequence[str],
    recreate: Collection[str],
    hooks: Hooks | None,
    way: Way,
) -> bool:
    """What `compose.start` was asked (`up` and the gate on `services`), with `way`'s
    start-first services: the stop-first ones as Compose would, then the start-first ones beside
    their old containers, the gate, then the old ones retired. False, having done nothing, when
    no start-first service has a running container (Compose alone does the same then)."""
    assert compose.name
    daemon, project, wanted = ctx.daemon, compose.name, sorted(services)
    chosen = plan(way.config, wanted, way.settings, refuse=not way.going_back)
    for note in chosen.notes:
        ctx.reporter.warn(note)
    firsts = chosen.services
    listed = daemon.containers(project)  # a build changes no container: read once
    if not {c.service for c in listed if c.state == "running"} & set(firsts):
        return False
    whole, pull = "--no-deps" not in up, ("--pull", "never") if "--pull" in up else ()
    if "--build" in up:
        ctx.reporter.step("building images (docker compose build)")
        what = "docker compose build"
        compose.run("build", *(() if whole else wanted), on_line=ctx.reporter.output, what=what)
    model = way.config["services"]
    current = by_service(listed)
    forced = "--force-recreate" in up  # nothing is kept: no hash is asked
    target = {} if forced else hashes(compose, wanted)
    images = {ref: daemon.image_id(ref) for ref in {c.image_ref for c in listed}}
    reps = replacements(
        current, {s: scale(model[s]) for s in firsts}, target, images, recreate, way.intact
    )

    def unchanged(s: str) -> bool:
        mine = current.get(s, ())
        return s not in recreate and settled(mine, scale(model[s]), target.get(s), images)

    stop_first = [s for s in wanted if s not in reps and not unchanged(s)]
    retiring = frozenset(c.id for r in reps.values() for c in r.retire)
    before = gate.Baseline({c.id: c.restart_count for c in listed}, retiring)
    if stop_first:
        args = ("up", "-d", "--no-deps", "--no-build", *pull)
        args += ("--remove-orphans",) * whole + ("--force-recreate",) * forced
        _up(ctx, compose, args, stop_first, "starting the stop-first services")
        remounted = sorted(
            {c.service for c in daemon.containers(project) if c.id in before.restarts}
            & set(recreate)
            & set(stop_first)
        )
        if remounted:
            args = ("up", "-d", "--no-deps", "--force-recreate", "--no-build", "--pull", "never")
            _up(ctx, compose, args, remounted, "recreating them: files they mount changed")
    levels = [[reps[s] for s in level if s in reps] for level in chosen.levels]
    levels = [level for level in levels if level]
    for level in levels:
        _start_beside(ctx, compose, level, pull)
        if level is not levels[-1]:  # the next level depends on this one: it must be up first
            ctx.reporter.step(f"waiting for {names([r.service for r in level])} to be healthy")
            below = [r.service for r in level]
            gate.wait_healthy(daemon, project, below, limits, before, ctx.reporter.states)
    ctx.reporter.step(f"waiting for {len(wanted)} service(s) to be healthy")
    with gate_check(hooks) as check:
        gate.wait_healthy(daemon, project, wanted, limits, before, ctx.reporter.states, check)
    faults.point("start-first:gated")
    retire(ctx, list(reps.values()), way.settings, limits.timeout)
    if whole and not stop_first and {c.service for c in listed} - set(model):
        # orphans, which the stop-first run would have removed: every service matches now
        args = ("up", "-d", "--no-deps", "--no-build", *pull, "--remove-orphans")
        _up(ctx, compose, args, wanted, "removing orphan containers")
    return True


def settled(
    mine: Sequence[Container], n: int, target: str | None, images: Mapping[str, str | None]
) -> bool:
    """Whether a stop-first service already runs what the release wants: `n` running
    containers with the configuration's hash (`target`) and the image their reference names now.
    Such a service is left out of the stop-first run: with `--no-deps`, Compose (2.26 to 2.29
    at least, docker/compose#12069) hashes a service without its `depends_on`, so it would
    recreate, for nothing, a proxy that depends on a start-first service."""
    return (
        target is not None
        and len(mine) == n
        and all(
            c.state == "running"
            and c.config_hash == target
            and images.get(c.image_ref) == c.image_id
            for c in mine
        )
    )


def hashes(compose: Compose, services: Sequence[str]) -> dict[str, str]:
    """Compose's configuration hash of each service (what it labels a container with, and
    compares to decide whether to recreate it)."""
    if not services:
        return {}
    out = compose.run("config", "--hash", ",".join(services)).stdout
    return dict(line.split(None, 1) for line in out.splitlines() if len(line.split()) == 2)


def _up(
    ctx: Context, compose: Compose, args: Sequence[str], services: Sequence[str], why: str
) -> None:
    ctx.reporter.step(f"{why} (docker compose {' '.join(args)} {' '.join(services)})")
    compose.run(*args, *services, on_line=ctx.reporter.output, what="docker compose up")


def _start_beside(
    ctx: Context, compose: Compose, level: Sequence[Replacement], pull: Sequence[str]
) -> None:
    for r in level:
        for c in r.dead:  # `up` would start them again
            ctx.daemon.remove_container(c.id)
        if r.start:
            total = len(r.keep) + len(r.retire) + r.start
            args = ("up", "-d", "--no-deps", "--no-recreate", "--no-build", *pull)
            args += ("--scale", f"{r.service}={total}")
            old = f"beside {names([c.name for c in r.retire])}" if r.retire else "(start-first)"
            _up(ctx, compose, args, [r.service], f"starting {r.start} new {r.service} {old}")
    faults.point("start-first:started")


def retire(
    ctx: Context, reps: Sequence[Replacement], settings: RolloutSettings, timeout: float
) -> None:
    """Take the replaced containers out of service: each service's `pre_stop` command, the
    drain (they still answer while proxies drop them), out of the networks and stopped (or,
    `retire: stop-then-leave`, the other way round), removed."""
    serving = [c for r in reps for c in r.retire]
    if not serving:
        return
    daemon = ctx.daemon
    for c in serving:
        argv = settings.pre_stop.get(c.service)
        if argv:
            ctx.reporter.step(f"pre-stop in {c.name}: {' '.join(argv)}")
            try:
                daemon.exec(c.id, argv, timeout)
            except CfgrollError as exc:  # it is going anyway: the drain still gives it time
                ctx.reporter.warn(f"the pre-stop command failed in {c.name}: {one_line(exc)}")
    shown = names([c.name for c in serving])
    if settings.drain > 0:
        ctx.reporter.step(f"draining {shown} for {settings.drain:g}s")
        time.sleep(settings.drain)

    def leave() -> None:
        for c in serving:
            daemon.disconnect(c)
        faults.point("start-first:disconnected")

    def stop() -> None:
        daemon.stop(c.id for c in serving)
        faults.point("start-first:stopped")

    steps = {"out of the networks": leave, "stopped": stop}
    order = list(steps) if settings.retire == "leave-then-stop" else list(reversed(steps))
    ctx.reporter.step(f"retiring {shown}: {', '.join(order)}, removed")
    for what in order:
        steps[what]()
    for c in serving:
        daemon.remove_container(c.id)


def leftovers(containers: Sequence[Container]) -> list[Container]:
    """What an interrupted start-first rollout left beside a service's containers: those it
    had begun to retire (out of every network) while others serve, and, where containers of two
    configurations run, the newer ones (a rollout always starts the new beside the older, which
    the store's live release recorded). A stopped one (`retire: stop-then-leave`, interrupted
    before it left) is Compose's own business: the next deploy removes it."""
    found = []
    for mine in by_service(containers).values():
        attached = [c for c in mine if c.networks and c.state == "running"]
        if not attached:
            continue  # nothing serves: nothing to tell apart (Compose's own business)
        found += [c for c in mine if not c.networks]
        oldest = min(attached, key=lambda c: (c.created, c.name))
        found += [c for c in attached if c.config_hash != oldest.config_hash]
    return sorted(found, key=lambda c: c.name)
