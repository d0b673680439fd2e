"""Deploying a rendered stack, its gate, and what a release records of it."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cfgroll.capabilities import gate
from cfgroll.capabilities.hooks import Hooks, gate_check
from cfgroll.context import Context
from cfgroll.engine.compose import Compose, stack_deploy, stack_remove
from cfgroll.engine.daemon import Daemon, State
from cfgroll.engine.refs import names_registry, repository
from cfgroll.engine.swarm import SWARM_OBJECTS, SwarmService, SwarmTask
from cfgroll.errors import CfgrollError, ProjectError
from cfgroll.orchestrators.swarm.render import Pinned, Rendered, merged, render
from cfgroll.store.manifest import ContainerRecord, ServiceRecord
from cfgroll.store.names import backup_ref

POLL = 0.25  # seconds between two reads of the stack's services and tasks
LOG_LINES = 20

_TASK_FAILED = ("failed", "rejected")
_UPDATE_FAILED = ("paused", "rollback_started", "rollback_paused", "rollback_completed")


def publish(
    ctx: Context,
    compose: Compose,
    config: Mapping[str, Any],
    services: Sequence[str],
    no_build: bool = False,
) -> dict[str, Pinned]:
    """Build and push the images of `services` that have `build:`, pull the others that have no
    digest yet; every one's digest."""
    model = config.get("services") or {}
    built = [n for n in services if "build" in model[n] and not no_build]
    if built:
        ctx.reporter.step(f"building {', '.join(built)} (docker compose build)")
        compose.run("build", *built, on_line=ctx.reporter.output, what="docker compose build")
        ctx.reporter.step(f"pushing {', '.join(built)} (docker compose push)")
        compose.run(
            "push", "--quiet", *built, on_line=ctx.reporter.output, what="docker compose push"
        )
    pinned: dict[str, Pinned] = {}
    for name in services:
        image = str(model[name]["image"])
        found = _digest(ctx.daemon, image)
        if found is None and "build" not in model[name]:
            ctx.reporter.step(f"pulling {image} for its digest")
            compose.run("pull", name, on_line=ctx.reporter.output, what="docker compose pull")
            found = _digest(ctx.daemon, image)
        if found is None:
            raise ProjectError(
                f"the image of service {name} ({image}) has no registry digest; push it to a "
                "registry (a Swarm stack runs images by digest)"
            )
        pinned[name] = Pinned(image, *found)
    return pinned


def _digest(daemon: Daemon, image: str) -> tuple[str, str] | None:
    """(image ID, `repository@sha256:…`) of the local image `image`, None without a digest."""
    image_id = daemon.image_id(image)
    if image_id is None:
        return None
    if "@" in image:  # pinned in the compose file already
        return image_id, f"{repository(image)}@{image.partition('@')[2]}"
    digest = daemon.repo_digest(image_id, image)
    if not digest or repository(digest) != repository(image):
        return None
    return image_id, digest


# -- deploying and gating -------------------------------------------------------------------


def start(
    ctx: Context,
    compose: Compose,
    config: Mapping[str, Any],
    services: Sequence[str],
    limits: gate.Limits,
    live: Rendered | None,
    only: Sequence[str] | None = None,
    no_build: bool = False,
    hooks: Hooks | None = None,
) -> Rendered:
    """A deploy (or, with `only`, an update) of the project as a Swarm stack: build, push and
    pin the images, render, `docker stack deploy`, gate. The stack file deployed.

    An update renders `only`'s services anew into the live release's stack file, so every
    other service keeps the spec (and digest) it runs."""
    assert compose.name
    pinned = publish(ctx, compose, config, services, no_build)
    rendered = render(compose.name, config, pinned, ctx.directory, ctx.reporter.warn)
    if only is not None and live is not None:
        rendered = merged(live, rendered, only)
    deploy_rendered(ctx, compose.name, rendered, sorted(rendered.records), limits, hooks)
    return rendered


def check_project(daemon: Daemon, config: Mapping[str, Any], services: Sequence[str]) -> None:
    """What a Swarm deploy needs, checked before anything changes: a manager to deploy on, an
    image for every service, and a registry named by each image built here (the swarm's nodes
    pull it from there)."""
    check_engine(daemon)
    model = config.get("services") or {}
    for name in services:
        image = str(model[name].get("image") or "")
        if not image:
            raise ProjectError(f"service {name} has no `image:`; a Swarm stack needs one")
        if "build" in model[name] and not names_registry(image):
            raise ProjectError(
                f"service {name} is built here, and a Swarm stack needs its image in a "
                f"registry: name one in its `image:` (e.g. registry.example.com/team/{name}:1, "
                f"not {image!r})"
            )


def check_engine(daemon: Daemon) -> None:
    """Refuse, before anything changes, an engine that is no Swarm manager."""
    info = daemon.engine()
    if info.swarm != "active" or not info.manager:
        state = "is not in a swarm" if info.swarm != "active" else "is a worker, not a manager"
        raise CfgrollError(
            f"the engine {info.name} at {daemon.endpoint.describe()} {state}; a Swarm stack "
            "is deployed on a manager: `docker swarm init` (or choose a manager with --context)"
        )


def deploy_rendered(
    ctx: Context,
    stack: str,
    rendered: Rendered,
    services: Iterable[str],
    limits: gate.Limits,
    hooks: Hooks | None = None,
) -> None:
    """`docker stack deploy` of `rendered` (from a private file in the project's folder, where
    its `./` paths start; removed after), then the gate on `services` and the `check` hook of
    `hooks`."""
    before = {t.id for t in ctx.daemon.stack_tasks(stack)}
    fd, name = tempfile.mkstemp(prefix=".cfgroll-stack-", suffix=".yaml", dir=ctx.directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(rendered.text)
        ctx.reporter.step(f"deploying stack {stack} (docker stack deploy)")
        stack_deploy(Path(name), stack, ctx.directory, ctx.reporter.output)
    finally:
        Path(name).unlink(missing_ok=True)
    wanted = sorted(services)
    ctx.reporter.step(f"waiting for {len(wanted)} service(s) of the stack to converge")
    with gate_check(hooks) as check:
        wait_stack(ctx.daemon, stack, wanted, limits, before, ctx.reporter.states, check)


def wait_stack(
    daemon: Daemon,
    stack: str,
    services: Sequence[str],
    limits: gate.Limits,
    before: Collection[str] = (),
    on_states: Callable[[dict[str, str]], None] = lambda _s: None,
    check: gate.Check | None = None,
    poll: float = POLL,
) -> None:
    """Return when every service of `services` has converged (see the module's text) and the
    check passed; raise `gate.GateFailed` (`gate.CheckFailed`) otherwise. `before`: the IDs of
    tasks that existed before the deploy (their failures are old news)."""
    start = time.monotonic()
    ready_since: float | None = None
    while True:
        now = time.monotonic()
        found = {s.name: s for s in daemon.stack_services(stack)}
        tasks = daemon.stack_tasks(stack)
        states: dict[str, str] = {}
        for name in services:
            svc = found.get(f"{stack}_{name}")
            if svc is None:
                states[name] = "no service"
                continue
            verdict = _verdict(svc, [t for t in tasks if t.service_id == svc.id], before)
            if isinstance(verdict, _Failed):
                on_states({**states, name: verdict.reason})
                raise gate.GateFailed(name, verdict.reason, _excerpt(daemon, verdict.task))
            states[name] = verdict
        on_states(states)
        if all(s.endswith(" running") and "updating" not in s for s in states.values()):
            ready_since = now if ready_since is None else ready_since
            if now - ready_since >= limits.settle:
                if gate.checked(check, states, start, limits.timeout, on_states):
                    return
                continue
        else:
            ready_since = None
        if now - start >= limits.timeout:
            waiting = {n: s for n, s in states.items() if not s.endswith(" running")} or states
            first = next(iter(waiting))
            listed = ", ".join(f"{n} ({s})" for n, s in waiting.items())
            raise gate.GateFailed(
                first, f"did not converge in {limits.timeout:g}s; still waiting for {listed}", ""
            )
        time.sleep(poll)


@dataclass(frozen=True)
class _Failed:
    reason: str
    task: SwarmTask | None = None


def _verdict(svc: SwarmService, tasks: list[SwarmTask], before: Collection[str]) -> str | _Failed:
    """`2/2 running`, `1/2 running, updating`, … or why the service failed."""
    current = [t for t in tasks if t.spec_key == svc.spec_key]
    failed = [t for t in current if t.state in _TASK_FAILED and t.id not in before]
    if failed:
        t = failed[0]
        return _Failed(f"task {svc.name}.{t.slot or ''} {t.state}: {t.error or 'no reason'}", t)
    if svc.update_state in _UPDATE_FAILED:
        return _Failed(f"update {svc.update_state}: {svc.update_message}")
    running = [t for t in current if t.running]
    others = [t for t in tasks if t.desired == "running" and t.spec_key != svc.spec_key]
    wanted = svc.replicas if svc.replicas is not None else max(len(running), 1)
    text = f"{len(running)}/{wanted} running"
    if svc.update_state == "updating" or others or len(running) < wanted:
        text = f"{len(running)}/{wanted} up" + (", updating" if svc.update_state else "")
    return text


def _excerpt(daemon: Daemon, task: SwarmTask | None) -> str:
    if task is None or not task.container_id:
        return ""
    try:
        return daemon.logs(task.container_id, LOG_LINES).rstrip()
    except CfgrollError:
        return ""


def remove_stack(ctx: Context, stack: str) -> None:
    """`docker stack rm`: a first deploy that failed leaves nothing behind."""
    stack_remove(stack, ctx.directory, ctx.reporter.output)


# -- what runs, and what the store keeps ----------------------------------------------------


def records(daemon: Daemon, stack: str, rendered: Rendered, tag: str) -> dict[str, ServiceRecord]:
    """The manifest entries of the rendered services, with the tasks that run them now."""
    found = {s.name: s for s in daemon.stack_services(stack)}
    tasks = daemon.stack_tasks(stack)
    out = {}
    for name, record in rendered.records.items():
        svc = found.get(f"{stack}_{name}")
        running = (
            [t for t in tasks if t.service_id == svc.id and t.desired == "running"] if svc else []
        )
        out[name] = replace(
            record,
            backup_ref=backup_ref(record.image, tag) if tag and record.image_id else "",
            containers=tuple(
                ContainerRecord(f"{stack}_{name}.{t.slot}", _state(t.state))
                for t in sorted(running, key=lambda t: t.slot)
            ),
        )
    return out


def _state(task_state: str) -> State:
    return "running" if task_state == "running" else "created"


def tidy(ctx: Context, stack: str, kept: Iterable[Rendered]) -> list[str]:
    """Remove the stack's configs and secrets that none of the `kept` releases' stack files
    names (the engine refuses those a service still uses; they stay). The names removed."""
    wanted: set[str] = set()
    for r in kept:
        for names in r.objects.values():
            wanted.update(names)
    removed = []
    for kind in SWARM_OBJECTS:
        for name, object_id in sorted(ctx.daemon.stack_objects(kind, stack).items()):
            if name not in wanted and ctx.daemon.remove_object(kind, object_id):
                removed.append(name)
    return removed
