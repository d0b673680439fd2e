"""A fleet deploy under way (issue 38): the images built once, on the first host; the release
named once (the live one's name when nothing changed, else a new one); then wave after wave,
each host sent the images it lacks and deployed without building, the canary wave watched for
`soak` seconds; a failure stops the rollout and, all or nothing, takes the hosts already on the
new release back. Each host's run is the single-host transaction (`fleet_runs`)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cfgroll import project
from cfgroll.context import Context
from cfgroll.errors import CfgrollError, DeployFailed, RollbackFailed, one_line
from cfgroll.fleet_fields import FleetRollout, Host, env_files_on
from cfgroll.operations import fleet_runs
from cfgroll.operations.fleet_plan import FleetDeployed, HostRun, Outcome, Plan, to_undo
from cfgroll.operations.fleet_runs import Ran, Runs, Where
from cfgroll.project import ProjectFiles
from cfgroll.settings import parse
from cfgroll.store.files import FileData, changed_files
from cfgroll.store.manifest import Layout, Role
from cfgroll.store.names import names
from cfgroll.store.repo import MAIN_REF, Entry, Store
from cfgroll.transactions.release import reserve_name

PULLS_AT_ONCE = 4  # images a host pulls from the registry at once


@dataclass(frozen=True)
class Built:
    """What the first host's build made: the images by reference and ID, and the name the
    release goes by on every host."""

    images: dict[str, str]  # reference -> image ID
    name: str
    # reference -> `registry/path@sha256:…`, where the hosts pull it from (with a `registry:`)
    pulls: dict[str, str] = field(default_factory=dict)


def live_on(store: Store) -> dict[str, Entry]:
    """The release each host's ref names."""
    return {name: store.entry(sha) for name, sha in store.hosts_live().items()}


def copy_to(ctx: Context, host: Host, files: Mapping[str, FileData], layout: Layout) -> Where:
    """The project's `files` (as `layout` lays them out) written afresh into
    `.cfgroll/hosts/<name>/` (private), where a host other than the first runs: a host that
    rolls itself back writes there, never into the project folder the others read."""
    folder = _written(ctx, host, files, layout.roles)
    env_files = env_files_on(host, folder, layout.env_files)
    return Where(folder, layout.compose_files, env_files, ctx.compose.name)


def copy_of(ctx: Context, store: Store, host: Host, entry: Entry) -> Where:
    """The release `entry`'s files written afresh into `.cfgroll/hosts/<name>/`, with its
    compose files, env files (the host's own as `entry` knew it) and project name."""
    recorded = parse(entry.manifest.layout.settings).host(host.name)
    where = copy_to(
        ctx, recorded or Host(host.name, host.endpoint), store.files(entry), entry.manifest.layout
    )
    return replace(where, name=entry.manifest.project)


def _written(
    ctx: Context, host: Host, files: Mapping[str, FileData], roles: Mapping[str, Role]
) -> Path:
    folder = ctx.store_path.parent / "hosts" / host.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, mode=0o700)
    project.write(folder, dict(files), roles)
    return folder


class Rollout:
    """One fleet deploy under way: what each host did so far."""

    def __init__(
        self,
        ctx: Context,
        store: Store,
        the_plan: Plan,
        rollout: FleetRollout,
        files: ProjectFiles,
        services: Mapping[str, Any],
        no_rollback: bool,
    ) -> None:
        """`files`: the project's, as Compose reads them; `services`: its model's."""
        self.ctx, self.store, self.plan, self.rollout = ctx, store, the_plan, rollout
        self.files, self.services, self.no_rollback = files, services, no_rollback
        # read now, in this thread: a file known unchanged is read from the store, and the
        # waves' threads must not read the store (GitPython's readers serve one thread)
        self.content = {path: files.content[path] for path in files.content}
        self.builder = the_plan.hosts[0]
        self.before = live_on(store)
        self.runs: dict[str, HostRun] = {}
        self.running = Runs()
        self.built: Built | None = None

    def run(self, missed: Sequence[Host], down: Mapping[str, str]) -> FleetDeployed:
        for h in missed:
            self.runs[h.name] = HostRun(h.name, "missed", self._was(h), down[h.name])
        try:
            self._waves()
        except KeyboardInterrupt:  # between the runs: nothing is under way
            self._stop("interrupted")
        assert self.built is not None
        release = self.store.resolve(self.built.name)
        hosts = self.plan.hosts
        self._fleet_on(release)
        self.store.tidy()
        if missed:
            listed = ", ".join(f"{h.name} ({down[h.name]})" for h in missed)
            self.store.add_note(release.commit, f"fleet deploy missed: {listed}")
        self.ctx.reporter.step(f"{release.tag} runs on {names([h.name for h in hosts])}")
        return FleetDeployed(release.tag, self._ordered(missed), not missed)

    def _was(self, host: Host) -> str:
        entry = self.before.get(host.name)
        return entry.tag if entry else ""

    def _ordered(self, missed: Sequence[Host] = ()) -> tuple[HostRun, ...]:
        order = [*self.plan.hosts, *missed]
        return tuple(self.runs[h.name] for h in order if h.name in self.runs)

    def _waves(self) -> None:
        try:
            self.built = self._build()
        except Exception as exc:  # noqa: BLE001 - nothing changed on any host
            self.runs[self.builder.name] = HostRun(
                self.builder.name, "failed", self._was(self.builder), one_line(exc)
            )
            return self._stop(f"the build on {self.builder.name} failed")
        for i, wave in enumerate(self.plan.waves):
            what = "the canary" if i == 0 and self.plan.canary else f"wave {i + 1}"
            self.ctx.reporter.step(f"deploying to {names([h.name for h in wave])} ({what})")
            interrupted = False
            with ThreadPoolExecutor(max_workers=len(wave)) as pool:
                futures = [pool.submit(self._one, h) for h in wave]
                try:
                    wait(futures)
                except KeyboardInterrupt:  # each host run is told once, and rolls itself back
                    self.ctx.reporter.warn("interrupted: the hosts under way roll back")
                    self.running.interrupt()
                    interrupted = True
            # the store is read here, in this thread only: GitPython's readers serve one thread
            self.store.drop_readers()
            done = [self._judge(h, f.result()) for h, f in zip(wave, futures, strict=True)]
            if interrupted:
                return self._stop("interrupted")
            if not all(done):
                failed = [h.name for h, ok in zip(wave, done, strict=True) if not ok]
                return self._stop(f"{names(failed)} failed")
            if i == 0 and self.plan.canary and self.rollout.soak:
                why = soak(self.ctx, wave, self._project(), self.rollout.soak)
                if why is not None:
                    return self._stop(f"the canary failed while watched: {why}")
        return None

    def _project(self) -> str:
        return str(self.ctx.compose.name)

    def _build(self) -> Built:
        """Build (and pull what is missing) on the first host; the release's name: the live
        release's when the files and images are the same, else a new one."""
        from cfgroll.engine.daemon import Daemon
        from cfgroll.engine.hosts import endpoint_of, environment

        b, compose = self.builder, self.ctx.compose
        env = environment(b.endpoint)
        self.ctx.reporter.step(f"building the images on {b.name}")

        def say(line: str) -> None:
            self.ctx.reporter.output(f"[{b.name}] {line}")

        compose.run("build", on_line=say, env=env, what=f"the build on {b.name}")
        if any("build" not in s for s in self.services.values()):
            compose.run("pull", "--ignore-buildable", "--policy", "missing", on_line=say, env=env)
        refs = compose.run("config", "--images", env=env).stdout.split()
        daemon = Daemon(endpoint_of(b.endpoint))
        images = {ref: daemon.image_id(ref) or "" for ref in refs}
        main = self.store.live()
        same = main is not None and not changed_files(self.store.files(main), self.content)
        if main is not None and same:
            same = set(images.values()) == {s.image_id for s in main.manifest.services.values()}
        name = main.tag if main is not None and same else reserve_name(self.store)
        return Built(images, name, self._push(images, name))

    def _push(self, images: Mapping[str, str], name: str) -> dict[str, str]:
        """With a `registry:`, every image pushed there from the first host, tagged with the
        release's name: where each host pulls it from, by digest."""
        from cfgroll.engine.hosts import push, registry_ref

        registry = self.rollout.registry
        if not registry:
            return {}
        self.ctx.reporter.step(f"pushing {names(sorted(images))} to {registry}")
        return {
            ref: push(self.builder.endpoint, image, registry_ref(registry, ref, name))
            for ref, image in sorted(images.items())
        }

    def _one(self, host: Host) -> Ran:
        """Deploy `host` (in a thread of its own: no store read here)."""
        ctx, built = self.ctx, self.built
        assert built is not None
        command = ["deploy", "--no-build", *(["--no-rollback"] if self.no_rollback else [])]
        if host == self.builder:
            where = fleet_runs.here(ctx, host)
        else:
            try:
                deliver(ctx, host, self.builder, built)
            except Exception as exc:  # noqa: BLE001 - this host failed; the rollout stops
                return Ran(1, one_line(exc))
            where = copy_to(ctx, host, self.content, self.files.layout)
        return fleet_runs.run(ctx, host, command, built.name, where, self.running)

    def _judge(self, host: Host, ran: Ran) -> bool:
        """Whether `host` now runs the release, as its run and its ref say; noted."""
        assert self.built is not None
        now = live_on(self.store).get(host.name)
        if ran.code == 0 and now is not None and now.tag == self.built.name:
            outcome: Outcome = "deployed" if self._was(host) != now.tag else "unchanged"
            self.runs[host.name] = HostRun(host.name, outcome, now.tag)
            return True
        why = ran.error or (f"it runs {now.tag}, not {self.built.name}" if now else "no release")
        self.runs[host.name] = HostRun(host.name, failure(ran), now.tag if now else "", why)
        return False

    def _stop(self, why: str) -> None:
        """The rollout stops: the hosts it did not reach are not started; all or nothing, the
        hosts on the new release go back. Raises the error that says it all."""
        for h in self.plan.hosts:
            if h.name not in self.runs:
                self.runs[h.name] = HostRun(h.name, "not-started", self._was(h))
        back = to_undo({h.name: self.runs[h.name].outcome for h in self.plan.hosts}, self.rollout)
        if back:
            self.ctx.reporter.step(f"putting {names(back)} back (all or nothing)")
            for h in self.plan.hosts:
                if h.name in back:
                    self._undo(h)
        name = self.built.name if self.built else None
        if name is not None and any(r.outcome == "deployed" for r in self.runs.values()):
            self._fleet_on(self.store.resolve(name))  # kept by some hosts: the others drift
        raise fleet_error(name, why, self._ordered())

    def _fleet_on(self, release: Entry) -> None:
        move_main(self.store, release.commit, "fleet")

    def _undo(self, host: Host) -> None:
        was = self.before.get(host.name)
        on = self.runs[host.name]
        if was is None:
            self.runs[host.name] = HostRun(
                host.name, on.outcome, on.release, "nothing ran on it before: it keeps it"
            )
            return
        if host == self.builder:  # it ran in the project folder: its files go back too
            where = fleet_runs.here(self.ctx, host)
        else:
            where = copy_to(self.ctx, host, self.content, self.files.layout)
        command = ["rollback", was.tag, "--yes"]
        ran = fleet_runs.run(self.ctx, host, command, was.tag, where, Runs())
        now = live_on(self.store).get(host.name)
        outcome: Outcome = "undone" if ran.code == 0 else "undo-failed"
        self.runs[host.name] = HostRun(host.name, outcome, now.tag if now else "", ran.error)


def move_main(store: Store, commit: str, why: str) -> None:
    """`main`, the fleet's release, moves to `commit` (in its reflog: `why`)."""
    main = store.live()
    if main is None or main.commit != commit:
        store.move_ref(MAIN_REF, commit, main.commit if main else None, why)


def failure(ran: Ran) -> Outcome:
    """A host run that failed: `failed` when its host runs what it ran before (it rolled back,
    or refused before changing anything), else `broken`."""
    return "failed" if ran.rolled_back or ran.refused else "broken"


def fleet_error(
    name: str | None, why: str, runs: Sequence[HostRun], what: str = "deploy"
) -> DeployFailed:
    """The error of a fleet deploy (or rollback) that stopped: exit 4 when a host is left on no
    recorded release, else exit 3."""
    listed = "; ".join(r.describe() for r in runs)
    message = f"fleet {what} of {name or 'the new release'} stopped ({why}): {listed}"
    if any(r.outcome in ("broken", "undo-failed") for r in runs):
        return RollbackFailed(message)  # type: ignore[return-value]
    return DeployFailed(message)


def deliver(ctx: Context, host: Host, source: Host, built: Built) -> None:
    """The release's images onto `host`'s engine under their references, those it lacks:
    pulled from the registry by digest when they were pushed there, else sent from `source`'s
    engine. `CfgrollError` when a pull brings another image than the one built."""
    from cfgroll.engine.daemon import Daemon
    from cfgroll.engine.hosts import endpoint_of, pull, send_images

    daemon = Daemon(endpoint_of(host.endpoint))
    lacking = sorted(ref for ref, image in built.images.items() if daemon.image_id(ref) != image)
    if not lacking:
        return
    if not built.pulls:
        ctx.reporter.step(f"sending {names(lacking)} to {host.name}")
        send_images(lacking, source.endpoint, host.endpoint)
        return
    ctx.reporter.step(f"pulling {names(lacking)} onto {host.name} by digest")
    with ThreadPoolExecutor(max_workers=min(PULLS_AT_ONCE, len(lacking))) as pool:
        got = pool.map(lambda ref: pull(host.endpoint, built.pulls[ref], ref), lacking)
        for ref, pulled in zip(lacking, got, strict=True):
            if pulled != built.images[ref]:
                raise CfgrollError(
                    f"{built.pulls[ref]} is image {pulled[:19]} on {host.name}, not the "
                    f"{built.images[ref][:19]} built"
                )


def soak(ctx: Context, hosts: Sequence[Host], project_name: str, seconds: float) -> str | None:
    """Watch the canary hosts' containers for `seconds`: why one failed (stopped, unhealthy,
    restarted), None when they all held."""
    from cfgroll.engine.daemon import Daemon
    from cfgroll.engine.hosts import endpoint_of

    ctx.reporter.step(f"watching the canary for {seconds:g} s (soak)")
    engines = {h.name: Daemon(endpoint_of(h.endpoint)) for h in hosts}
    restarts = {
        name: {c.id: c.restart_count for c in engine.containers(project_name)}
        for name, engine in engines.items()
    }
    until = time.monotonic() + seconds
    while True:
        for name, engine in engines.items():
            for c in engine.containers(project_name):
                if c.state != "running" or c.health == "unhealthy":
                    return f"{name}: {c.service} is {c.health or c.state}"
                if c.restart_count > restarts[name].get(c.id, c.restart_count):
                    return f"{name}: {c.service} restarted"
        if time.monotonic() >= until:
            return None
        time.sleep(min(1.0, max(0.0, until - time.monotonic())))
