"""`cfgroll status`: the live release, and how the project has drifted from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cfgroll.context import Context
from cfgroll.engine.daemon import by_service
from cfgroll.history.log import Side, short, working_side
from cfgroll.store.manifest import Role, Unrecorded, changed_keys
from cfgroll.store.repo import Entry, Store
from cfgroll.store.secrets import EnvChanges as EnvChanges  # re-exported for the CLI
from cfgroll.store.secrets import env_changes, is_env, text_of

# `added`: the stack reads a file now that the live release does not hold (a new bind source,
# a new include); `mode`: only the executable bit or the link target kind changed.
DriftState = Literal["modified", "added", "removed", "mode"]


@dataclass(frozen=True)
class FileDrift:
    path: str
    state: DriftState
    role: Role | None = None
    env: EnvChanges | None = None  # key changes of a `.env`-style file (values never kept)


@dataclass(frozen=True)
class ServiceState:
    service: str
    ok: bool
    state: str  # a short phrase: "running, healthy", "stopped (exit 3)", "image differs", …
    image_id: str | None = None  # what its containers run
    recorded_id: str | None = None  # what the live release recorded


@dataclass(frozen=True)
class Status:
    live: Entry | None
    files: list[FileDrift] = field(default_factory=list)
    services: list[ServiceState] = field(default_factory=list)
    not_recorded: tuple[Unrecorded, ...] = ()  # read by the stack, not versioned, and why
    problem: str = ""  # why the project as it is now could not be resolved
    engine: str = ""  # the engine asked: `name (context …)`
    engine_changed: str = ""  # the engine the live release ran on, when it is another

    @property
    def drifted(self) -> bool:
        return bool(self.files) or bool(self.engine_changed) or any(not s.ok for s in self.services)


def status(ctx: Context) -> Status:
    """The live release, the project files that differ from it, and for each service whether
    its containers run the image the release recorded, are running and healthy."""
    store = ctx.open_store()
    live = store.live()
    if live is None:
        return Status(None)
    working = working_side(ctx, live)
    info = ctx.daemon.engine()
    recorded = live.manifest.engine
    other = ""
    if recorded is not None and recorded.id != info.id:
        other = f"{recorded.name} (context {recorded.context})"
    on_swarm = live.manifest.orchestrator == "swarm"
    return Status(
        live,
        file_drift(store, live, working),
        swarm_states(ctx, store, live) if on_swarm else service_states(ctx, live),
        working.not_recorded,
        working.problem,
        f"{info.name} (context {info.context})",
        other,
    )


def file_drift(store: Store, live: Entry, working: Side) -> list[FileDrift]:
    recorded = store.files(live)
    on_disk, roles = working.files, working.roles
    drift = []
    for path in changed_keys(recorded, on_disk):
        old, new = recorded.get(path), on_disk.get(path)
        state: DriftState = "added" if old is None else "removed" if new is None else "modified"
        if old and new and old.data == new.data:
            state = "mode"
        env = None
        if is_env(path, roles.get(path)):
            env = env_changes(text_of(old.data if old else b""), text_of(new.data if new else b""))
        drift.append(FileDrift(path, state, roles.get(path), env))
    return drift


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


def swarm_states(ctx: Context, store: Store, live: Entry) -> list[ServiceState]:
    """For a Swarm stack: whether each service's spec runs the digest and the replica count
    the release recorded, and how many of its tasks run."""
    from cfgroll.orchestrators.swarm import stack_of  # a Compose project's status does without it

    stack = live.manifest.project
    doc = stack_of(store, live).doc.get("services") or {}
    found = {s.name.removeprefix(f"{stack}_"): s for s in ctx.daemon.stack_services(stack)}
    tasks = ctx.daemon.stack_tasks(stack)
    states = []
    for name in sorted(set(live.manifest.services) | set(found)):
        record, svc = live.manifest.services.get(name), found.get(name)
        digest = svc.image.partition("@")[2] if svc else None
        if record is None:
            states.append(ServiceState(name, False, "not in the live release", digest))
            continue
        wanted_digest = record.repo_digest.partition("@")[2]
        if svc is None:
            states.append(ServiceState(name, False, "no service", None, wanted_digest))
            continue
        replicas = int(((doc.get(name) or {}).get("deploy") or {}).get("replicas") or 1)
        running = sum(1 for t in tasks if t.service_id == svc.id and t.running)
        problems = []
        if digest != wanted_digest:
            problems.append(
                f"runs image {short(digest or svc.image)}, the release recorded "
                f"{short(wanted_digest)}"
            )
        if svc.replicas is not None and svc.replicas != replicas:
            problems.append(f"{svc.replicas} replicas, the release recorded {replicas}")
        if svc.replicas is not None and running < svc.replicas:
            problems.append(f"{running}/{svc.replicas} tasks running")
        fine = f"{running}/{svc.replicas if svc.replicas is not None else running} tasks running"
        states.append(
            ServiceState(name, not problems, "; ".join(problems) or fine, digest, wanted_digest)
        )
    return states
