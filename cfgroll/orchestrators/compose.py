"""The Compose orchestrator: a release runs as a Compose project, started by one
`docker compose up` and judged by the container health gate (`cfgroll.capabilities.gate`)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from cfgroll import faults
from cfgroll.capabilities import gate
from cfgroll.capabilities.hooks import Hooks, gate_check
from cfgroll.capabilities.snapshot import service_records
from cfgroll.context import Context
from cfgroll.engine.compose import Compose
from cfgroll.engine.daemon import Container, by_service
from cfgroll.engine.refs import short
from cfgroll.fleet_fields import env_files_on
from cfgroll.orchestrators import (
    Asked,
    Change,
    Comeback,
    Rollout,
    ServiceChange,
    ServiceState,
    startfirst,
    write_files,
)
from cfgroll.project import ProjectFiles
from cfgroll.settings import RolloutSettings, parse
from cfgroll.store.files import changed_files
from cfgroll.store.manifest import Orchestrator as Name
from cfgroll.store.manifest import ServiceRecord
from cfgroll.store.names import names
from cfgroll.store.repo import Entry, Store

UP_RELEASE = ("up", "-d", "--remove-orphans", "--no-build", "--pull", "never")
# Compose does not recreate a container when only a file it mounts changed, and a file
# replaced by rename stays the old inode inside a running container: recreate those services.
UP_RECREATE = ("up", "-d", "--no-deps", "--force-recreate", "--no-build", "--pull", "never")


class ComposeProject:
    """A release as a Compose project."""

    name: Name = "compose"
    label = ""
    whole = False

    def check(
        self,
        ctx: Context,
        config: Mapping[str, Any],
        services: Sequence[str],
        rollout: RolloutSettings,
    ) -> None:
        # `docker compose up` says itself what it cannot do, before it changes anything; what
        # cannot go start-first is cfgroll's to refuse
        startfirst.plan(config, services, rollout)

    def check_engine(self, ctx: Context) -> None:
        pass

    def running(self, ctx: Context, project: str) -> list[Container]:
        return ctx.daemon.containers(project)

    def deploy(self, ctx: Context, rollout: Rollout) -> None:
        r = rollout
        up = _up(r.config, r.services, r.only, r.no_build)
        remount = _mounted_changes(ctx, r.store, r.live, r.files, r.services)
        way = startfirst.Way(r.config, r.settings)
        start(ctx, r.compose, r.services, r.limits, up, remount, r.hooks, way)

    def preview(self, ctx: Context, asked: Asked) -> list[ServiceChange]:
        compose, config, services, mounted = (
            asked.compose,
            asked.config,
            asked.services,
            asked.mounted,
        )
        # Compose's own dry run decides as its `up` would (its configuration hash, a stopped
        # container); images are not built, so a rebuilt image's recreate is not in it
        up = ("up", "-d", "--no-build", "--pull", "never")
        only = ("--no-deps", *services) if asked.only else ("--remove-orphans",)
        args = ("--dry-run", *up, *only)
        said = compose.run(*args, what="docker compose --dry-run up").stderr
        names = {c.name: c.service for c in ctx.daemon.containers(str(compose.name))}
        changes = dry_run_changes(said, names, str(compose.name), services)
        model = config.get("services") or {}
        found = []
        for name in services:
            change, why = changes.get(name, ("unchanged", ""))
            if name in mounted and change in ("unchanged", "start"):
                change, why = "recreate", "files it mounts changed"
            elif name in mounted:
                why += "; files it mounts changed"
            build = bool((model.get(name) or {}).get("build")) and not asked.no_build
            found.append(ServiceChange(name, change, why, build))
        return found

    def restore(self, ctx: Context, back: Comeback) -> None:
        entry, chosen, paths = back.entry, back.chosen, back.paths
        ctx.reporter.step(f"retagging {len(chosen)} image(s) of {entry.tag}")
        for name in chosen:
            svc = entry.manifest.services[name]
            ctx.daemon.tag(svc.image_id, svc.image)
        faults.point("restore:retagged")
        recreate: set[str] = set()
        if paths is not None:
            written = write_files(ctx, back.store, entry, paths)
            recreate = entry.manifest.layout.services_using(written) & set(chosen)
            compose = compose_of(ctx, entry)
        else:
            compose = ctx.compose.named(entry.manifest.project)
        if back.only is not None and not chosen:
            return  # no service of `entry` to put back (`up` without names would start them all)
        up = UP_RELEASE if back.only is None else (*UP_RELEASE, "--no-deps", *chosen)
        way = startfirst.Way(compose.config(), back.rollout, back.intact, going_back=True)
        start(ctx, compose, chosen, back.limits, up, recreate, back.hooks, way)

    def kept(self, store: Store, entry: Entry) -> None:
        return None

    def records(
        self, ctx: Context, project: str, services: Sequence[str], stack: object, tag: str
    ) -> dict[str, ServiceRecord]:
        return service_records(ctx.daemon, project, services, tag)

    def states(self, ctx: Context, store: Store, live: Entry) -> list[ServiceState]:
        return service_states(ctx, live)

    def after_release(self, ctx: Context, store: Store, project: str, block: Any) -> None:
        pass

    def leftovers(self, ctx: Context, project: str) -> list[Container]:
        return startfirst.leftovers(ctx.daemon.containers(project))

    def remove_first(self, ctx: Context, project: str) -> bool:
        return False  # the deploy removes the containers it created itself


COMPOSE = ComposeProject()


def compose_of(ctx: Context, entry: Entry) -> Compose:
    """The Compose project as `entry` ran it: its compose and env files, its project name; on
    a fleet's host, the env file the release gave that host too."""
    layout = entry.manifest.layout
    files = tuple(ctx.directory / p for p in layout.compose_files)
    host = parse(layout.settings).host(ctx.host) if ctx.host else None
    env_files = env_files_on(host, ctx.directory, layout.env_files)
    return ctx.compose.variant(files, entry.manifest.project, env_files)


def start(
    ctx: Context,
    compose: Compose,
    services: Iterable[str],
    limits: gate.Limits,
    up: Sequence[str] = UP_RELEASE,
    recreate: Collection[str] = (),
    hooks: Hooks | None = None,
    way: startfirst.Way | None = None,
) -> None:
    """`docker compose up` and the health gate on `services`, then the `check` hook of
    `hooks`. The services in `recreate` (their mounted files changed) are recreated if `up`
    left their containers in place. With `way`, the services it makes start-first are
    replaced that way (`cfgroll.orchestrators.startfirst`)."""
    assert compose.name
    wanted = sorted(services)
    if way is not None and startfirst.roll(ctx, compose, wanted, limits, up, recreate, hooks, way):
        return
    before = gate.baseline(ctx.daemon, compose.name)
    building = "--build" in up
    doing = "building and starting services" if building else "starting services"
    ctx.reporter.step(f"{doing} (docker compose {' '.join(up)})")
    what = "docker compose up --build" if building else "docker compose up"
    compose.run(*up, on_line=ctx.reporter.output, what=what)
    faults.point("up:done")
    if recreate:
        kept = sorted(
            {c.service for c in ctx.daemon.containers(compose.name) if c.id in before.restarts}
            & set(recreate)
        )
        if kept:
            ctx.reporter.step(f"recreating {', '.join(kept)}: files they mount changed")
            compose.run(*UP_RECREATE, *kept, on_line=ctx.reporter.output, what="docker compose up")
    ctx.reporter.step(f"waiting for {len(wanted)} service(s) to be healthy")
    with gate_check(hooks) as check:
        gate.wait_healthy(
            ctx.daemon, compose.name, wanted, limits, before, ctx.reporter.states, check
        )


def _up(
    config: Mapping[str, Any], services: Sequence[str], only: Sequence[str] | None, no_build: bool
) -> tuple[str, ...]:
    """The one Compose run that builds and starts, as `up --build` does for a user: Compose
    builds every image first and touches no container when a build fails."""
    build = any("build" in config["services"][s] for s in services) and not no_build
    built = ("--build",) if build else ()
    if only is None:
        return ("up", "-d", *built, "--remove-orphans")
    recreate = ("--no-build", "--force-recreate") if no_build else built
    return ("up", "-d", "--no-deps", *recreate, *services)


def _mounted_changes(
    ctx: Context, store: Store, live: Entry | None, files: ProjectFiles, services: Sequence[str]
) -> set[str]:
    """The services to deploy whose mounted files (bind, config, secret) differ from the live
    release: Compose alone would leave their containers in place. Warns about services left
    out of a partial update whose files changed."""
    if live is None:
        return set()
    changed = changed_files(store.files(live), files.content)
    users = files.layout.services_using(changed)
    left_out = sorted(users - set(services))
    if left_out:
        ctx.reporter.warn(
            f"files mounted by {', '.join(left_out)} changed ({names(changed, 5)}), but they "
            "are not part of this update; they keep the old files until they are deployed"
        )
    return users & set(services)


_SAID = re.compile(r"Container (\S+)\s+(Recreate|Creating|Starting)\s*$")
_WHY: dict[str, tuple[Change, str]] = {
    "Recreate": ("recreate", "its configuration changed"),
    "Creating": ("create", "no container yet"),
    "Starting": ("start", "it is not running"),
}


def dry_run_changes(
    said: str, names: Mapping[str, str], project: str, services: Sequence[str]
) -> dict[str, tuple[Change, str]]:
    """What `docker compose --dry-run up` said it would do to each service's containers (its
    progress lines); a service it left running is not in it."""
    said_of: dict[str, str] = {}  # service -> the first of `_WHY`'s words said of it
    order = list(_WHY)
    for line in said.splitlines():
        m = _SAID.search(line)
        if m is None or re.match(r"[0-9a-f]{12}_", m.group(1)):
            continue  # a replacement's temporary name: its service is named already
        service = names.get(m.group(1)) or _service_of(m.group(1), project, services)
        if service is None:
            continue
        word = m.group(2)
        if service not in said_of or order.index(word) < order.index(said_of[service]):
            said_of[service] = word
    return {service: _WHY[word] for service, word in said_of.items()}


def _service_of(container: str, project: str, services: Sequence[str]) -> str | None:
    """The service of a container Compose would name `<project>-<service>-<n>`."""
    m = re.fullmatch(re.escape(project) + r"-(.+)-\d+", container)
    return m.group(1) if m and m.group(1) in services else None


def service_states(ctx: Context, live: Entry) -> list[ServiceState]:
    project = live.manifest.project
    grouped = by_service(ctx.daemon.containers(project))
    states = []
    for name in sorted(set(live.manifest.services) | set(grouped)):
        record = live.manifest.services.get(name)
        containers = grouped.get(name, [])
        recorded_id = record.image_id if record else None
        if record is None:
            states.append(
                ServiceState(name, False, "not in the live release", containers[0].image_id)
            )
            continue
        if not containers:
            states.append(ServiceState(name, False, "no container", None, recorded_id))
            continue
        problems = []
        for c in containers:
            if c.state != "running":
                problems.append(
                    f"{c.name} {c.state} (exit {c.exit_code})"
                    if c.state == "exited"
                    else f"{c.name} {c.state}"
                )
            elif c.health == "unhealthy":
                problems.append(f"{c.name} unhealthy")
            if c.image_id != recorded_id:
                problems.append(
                    f"{c.name} runs image {short(c.image_id)}, "
                    f"the release recorded {short(recorded_id or '')}"
                )
        health = {c.health for c in containers if c.health}
        fine = "running" + (f", {'/'.join(sorted(health))}" if health else "")
        states.append(
            ServiceState(
                name, not problems, "; ".join(problems) or fine, containers[0].image_id, recorded_id
            )
        )
    return states
