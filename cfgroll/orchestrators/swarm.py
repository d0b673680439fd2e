"""Swarm stacks: a project deployed with `docker stack deploy` instead of `docker compose up`.

cfgroll renders the stack file from Compose's own resolved model (so `.env`, `env_file:` and
interpolation mean what they mean to Compose; `docker stack deploy` alone ignores `.env`),
builds and pushes the images that have `build:`, and pins every image by its registry digest.
The rendered file is recorded in the release (`.cfgroll/stack.yaml` in its commit) next to
the project files; a rollback, and the automatic rollback of a failed deploy, deploy a
release's rendered file again, whole, and gate it: the stack-wide rollback Swarm lacks.

Swarm's configs and secrets cannot change, so each gets a name with a short hash of its
content: a changed file becomes a new config, and an old one is removed once no release in
the keep window uses it (`tidy`).

The gate (`wait_stack`): every service has its desired number of tasks running on its
current spec (a task with a healthcheck is `running` only once healthy, on Swarm), has kept
them running for `settle` seconds, and its update is not in progress; a task of the new spec
that fails or is rejected, or an update Swarm paused or rolled back, fails it at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any

from cfgroll.capabilities.hooks import Hooks, gate_check
from cfgroll.context import Context
from cfgroll.engine.compose import Compose, stack_deploy, stack_remove
from cfgroll.engine.daemon import Daemon, State
from cfgroll.engine.refs import repository
from cfgroll.engine.swarm import SWARM_OBJECTS, SwarmObject, SwarmService, SwarmTask
from cfgroll.errors import CfgrollError, ProjectError, StoreError
from cfgroll.orchestrators import gate
from cfgroll.settings import KEEP, parse
from cfgroll.store.manifest import STACK_PATH, ContainerRecord, Orchestrator, ServiceRecord
from cfgroll.store.names import backup_ref
from cfgroll.store.repo import Entry, Store

STACK_VERSION = "3.9"
POLL = 0.25  # seconds between two reads of the stack's services and tasks
HASH_LEN = 10
LOG_LINES = 20

# Service keys of Compose's model that a stack file carries over as they are; what else a
# service has is left out, with a warning (`build:` and `image:` are handled apart).
_SERVICE_KEYS = frozenset(
    (
        "cap_add cap_drop command configs deploy dns dns_search domainname entrypoint "
        "environment extra_hosts healthcheck hostname init ipc isolation labels logging "
        "networks ports read_only secrets stop_grace_period stop_signal sysctls tmpfs tty "
        "stdin_open ulimits user userns_mode volumes working_dir"
    ).split()
)
# Keys Compose fills in or that mean nothing to Swarm: dropped without a word.
_SILENT = frozenset(
    "build image env_file pull_policy restart depends_on container_name links scale".split()
)
_TASK_FAILED = ("failed", "rejected")
_UPDATE_FAILED = ("paused", "rollback_started", "rollback_paused", "rollback_completed")


@dataclass(frozen=True)
class Rendered:
    """A stack file as cfgroll deploys and records it, and what it says of each service."""

    text: str  # the YAML; holds interpolated values: never printed
    records: dict[str, ServiceRecord] = field(default_factory=dict)

    @property
    def doc(self) -> dict[str, Any]:
        import yaml

        loaded: dict[str, Any] = yaml.safe_load(self.text) or {}
        return loaded

    @property
    def objects(self) -> dict[SwarmObject, tuple[str, ...]]:
        """The names of the Swarm configs and secrets the file creates, by kind."""
        doc = self.doc
        return {
            kind: tuple(
                sorted(v["name"] for v in doc[f"{kind}s"].values() if not v.get("external"))
            )
            for kind in SWARM_OBJECTS
            if doc.get(f"{kind}s")
        }


# -- rendering ------------------------------------------------------------------------------


def render(
    stack: str,
    config: Mapping[str, Any],
    pinned: Mapping[str, Pinned],
    directory: Path,
    warn: Callable[[str], None] = lambda _m: None,
) -> Rendered:
    """The stack file of Compose's model `config` for the services of `pinned` (each with its
    image's digest), configs and secrets named by their content."""
    services: dict[str, Any] = {}
    dropped: dict[str, list[str]] = {}
    for name, svc in sorted((config.get("services") or {}).items()):
        if name not in pinned:
            continue  # an update renders only its services
        out: dict[str, Any] = {"image": pinned[name].pinned}
        for key, value in svc.items():
            if key in _SERVICE_KEYS:
                if value is None or value == {} or value == []:
                    continue
                out[key] = _service_value(key, value, directory)
            elif key not in _SILENT and not key.startswith("x-"):
                dropped.setdefault(key, []).append(name)
        services[name] = out
    for key, names in sorted(dropped.items()):
        warn(f"Swarm ignores `{key}:` ({', '.join(names)}); it is left out of the stack file")
    doc: dict[str, Any] = {"version": STACK_VERSION, "services": services}
    networks = {n: _network(v) for n, v in (config.get("networks") or {}).items()}
    if networks:
        doc["networks"] = networks
    volumes = {n: _volume(v) for n, v in (config.get("volumes") or {}).items()}
    if volumes:
        doc["volumes"] = volumes
    for kind in ("configs", "secrets"):
        found = {
            key: _object(stack, kind, key, value, directory)
            for key, value in sorted((config.get(kind) or {}).items())
        }
        if found:
            doc[kind] = found
    text = _dump(doc)
    records = {
        name: ServiceRecord(
            image=pinned[name].image,
            image_id=pinned[name].image_id,
            backup_ref="",
            config_hash=_spec_hash(services[name], doc),
            repo_digest=pinned[name].digest,
        )
        for name in services
    }
    return Rendered(text, records)


def _spec_hash(section: Mapping[str, Any], doc: Mapping[str, Any]) -> str:
    """What the service's spec is: its section, and the names (content hashes) of the configs
    and secrets it mounts, so that a changed config file changes it as Swarm sees it."""
    used: dict[str, list[str]] = {}
    for kind in ("configs", "secrets"):
        declared = doc.get(kind) or {}
        sources = [
            r.get("source") if isinstance(r, Mapping) else r for r in section.get(kind) or ()
        ]
        used[kind] = sorted(str((declared.get(s) or {}).get("name")) for s in sources)
    return _hash(json.dumps({"service": section, "uses": used}, sort_keys=True).encode())


def _dump(doc: Mapping[str, Any]) -> str:
    import yaml

    header = "# rendered by cfgroll from Compose's model; images pinned by digest\n"
    return header + yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=False, width=100)


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# the keys of a healthcheck that stack files (format 3.9) know
_HEALTHCHECK_KEYS = ("test", "interval", "timeout", "retries", "start_period", "disable")


def _service_value(key: str, value: Any, directory: Path) -> Any:
    if key == "deploy":
        return _deploy(value)
    if key == "healthcheck" and isinstance(value, Mapping):
        return {k: value[k] for k in _HEALTHCHECK_KEYS if k in value}
    if key == "ports":
        return [_port(p) for p in value]
    if key == "volumes":
        return [_mount(v, directory) for v in value]
    if key == "networks" and isinstance(value, Mapping):
        return {
            n: ({"aliases": v["aliases"]} if v and v.get("aliases") else None)
            for n, v in value.items()
        }
    return value


def _deploy(value: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in value.items() if v not in (None, {}, [])}
    resources = out.get("resources")
    if isinstance(resources, Mapping):
        out["resources"] = {
            part: {
                k: (f"{v}b" if k == "memory" and isinstance(v, int) else v) for k, v in r.items()
            }
            for part, r in resources.items()
            if r
        }
        if not out["resources"]:
            del out["resources"]
    return out


def _port(port: Any) -> Any:
    if not isinstance(port, Mapping):
        return port
    out = {k: port[k] for k in ("mode", "target", "protocol") if port.get(k) is not None}
    if port.get("published") not in (None, ""):
        out["published"] = int(str(port["published"]).split("-")[0])
    return out


def _mount(mount: Any, directory: Path) -> Any:
    if not isinstance(mount, Mapping):
        return mount
    out = {k: mount[k] for k in ("type", "source", "target", "read_only") if k in mount}
    if out.get("type") == "bind" and out.get("source"):
        out["source"] = _relative(str(out["source"]), directory)
    for part in ("volume", "tmpfs"):
        if mount.get(part):
            out[part] = mount[part]
    return out


def _network(value: Mapping[str, Any] | None) -> dict[str, Any]:
    value = value or {}
    if value.get("external"):
        return {"external": True, "name": value.get("name")}
    kept = ("driver_opts", "attachable", "internal", "labels", "ipam")
    out = {k: value[k] for k in kept if value.get(k)}
    if value.get("driver") not in (None, "bridge"):
        out["driver"] = value["driver"]
    return out


def _volume(value: Mapping[str, Any] | None) -> dict[str, Any]:
    value = value or {}
    if value.get("external"):
        return {"external": True, "name": value.get("name")}
    return {k: value[k] for k in ("driver", "driver_opts", "labels") if value.get(k)}


def _object(
    stack: str, kind: str, key: str, value: Mapping[str, Any], directory: Path
) -> dict[str, Any]:
    """A config or secret of the stack file: named `<stack>_<key>_<content hash>`."""
    if value.get("external"):
        return {"external": True, "name": value.get("name") or key}
    source = value.get("file")
    if not source:
        raise ProjectError(
            f"{kind[:-1]} {key} has no `file:`; a Swarm stack reads {kind} from files (or "
            "`external: true`)"
        )
    path = Path(source) if Path(source).is_absolute() else directory / source
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ProjectError(f"{kind[:-1]} {key}: cannot read {path} ({exc.strerror})") from None
    name = f"{stack}_{key}_{_hash(content)[:HASH_LEN]}"
    return {"name": name, "file": _relative(str(path), directory)}


def _relative(path: str, directory: Path) -> str:
    """A path inside the project as `./…` (the stack file is deployed from the project's
    folder, so a release still deploys after the folder moved), others as they are."""
    try:
        return "./" + Path(path).relative_to(directory).as_posix()
    except ValueError:
        return path


# -- images ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pinned:
    """A service's image: the reference in the compose file, the local image, its digest."""

    image: str  # `registry/team/web:1`
    image_id: str  # sha256:… in this engine
    digest: str  # `registry/team/web@sha256:…`

    @property
    def pinned(self) -> str:
        """`registry/team/web:1@sha256:…`: the tag for people, the digest for Swarm."""
        return f"{self.image.split('@', 1)[0]}@{self.digest.split('@', 1)[1]}"


def names_registry(image: str) -> bool:
    """Whether an image reference names a registry (`host.tld/…`, `host:port/…`,
    `localhost/…`); Docker Hub references (`team/web`, `nginx`) count too when written so."""
    first, slash, _ = image.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


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


def check_switch(live: Entry | None, orchestrator: Orchestrator) -> None:
    """Refuse to deploy a project on another orchestrator than its live release ran on: the
    old one's containers or services would keep running beside the new ones."""
    if live is None or live.manifest.orchestrator == orchestrator:
        return
    was = live.manifest.orchestrator
    raise CfgrollError(
        f"the live release {live.tag} runs on {was.title()}, and this deploy is for "
        f"{orchestrator.title()}; cfgroll does not move a project between them: stop it there "
        f"first, and keep the new one in its own store (--store) or project (-p)"
    )


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


def stack_of(store: Store, entry: Entry) -> Rendered:
    """The rendered stack file `entry` recorded."""
    text = store.own_file(entry, STACK_PATH)
    if text is None:
        raise StoreError(
            f"{entry.tag} is a Swarm release without its stack file ({STACK_PATH}); the store "
            "may have been edited by hand: check it with `git --git-dir <store> fsck`"
        )
    return Rendered(text.decode(), dict(entry.manifest.services))


def merged(live: Rendered, new: Rendered, services: Collection[str]) -> Rendered:
    """`live`'s stack file with the sections of `services` taken from `new` (and the configs,
    secrets, networks and volumes they name): `update SERVICE` changes only those."""
    old_doc, new_doc = live.doc, new.doc
    doc = dict(old_doc)
    doc["services"] = {**old_doc.get("services", {})}
    for name in services:
        doc["services"][name] = new_doc["services"][name]
    for part in ("networks", "volumes", "configs", "secrets"):
        both = {**(old_doc.get(part) or {}), **(new_doc.get(part) or {})}
        if both:
            doc[part] = both
    records = {**live.records, **{n: new.records[n] for n in services}}
    return Rendered(_dump(doc), records)


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


def after_release(ctx: Context, store: Store, stack: str, block: Any) -> None:
    """After a release of the stack: remove its configs and secrets that no release in the keep
    window (`x-cfgroll: keep`, else 10) uses. Never fails the release: a warning at most."""
    keep = parse(block).keep or KEEP
    try:
        kept = [
            stack_of(store, e)
            for e in islice(store.releases(), keep)
            if e.manifest.orchestrator == "swarm" and e.manifest.project == stack
        ]
        removed = tidy(ctx, stack, kept)
    except CfgrollError as exc:
        ctx.reporter.warn(f"could not remove the stack's unused configs and secrets: {exc}")
        return
    if removed:
        ctx.reporter.step(
            f"removed {len(removed)} config(s) and secret(s) no kept release uses: "
            + ", ".join(removed)
        )
