"""`cfgroll deploy`: build, start, pass the health gate, record the release; on any failure
(or Ctrl-C) keep the attempt and put the live release back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from cfgroll import faults, orchestrators
from cfgroll.capabilities import data, mirror, notify, preflight, retention
from cfgroll.capabilities.hooks import FailureResult, Hooks, Occasion
from cfgroll.capabilities.snapshot import check_services
from cfgroll.context import Context, now
from cfgroll.engine.compose import Compose
from cfgroll.engine.daemon import Container
from cfgroll.errors import (
    CommandFailed,
    DeployFailed,
    ProjectError,
    RollbackFailed,
    StoreError,
    one_line,
)
from cfgroll.orchestrators import Orchestrator, Rollout
from cfgroll.project import ProjectFiles, resolve
from cfgroll.settings import Effective, effective
from cfgroll.settings_fields import DataCommand
from cfgroll.store.manifest import Action, GitSource
from cfgroll.store.repo import Entry, Store
from cfgroll.store.secrets import redact, secret_values
from cfgroll.transactions.init import Initialised, ensure_store, record_baseline
from cfgroll.transactions.release import (
    Release,
    record_attempt,
    record_release,
    recorded_meanwhile,
    reserve_name,
    unchanged,
)
from cfgroll.transactions.restore import Failure, recover, running


@dataclass(frozen=True)
class Deployed:
    entry: Entry  # the new release; the live one when nothing changed
    init: Initialised
    baseline: Entry | None  # what was running before the first deploy, recorded first
    unchanged: bool = False  # same files and images as `entry`: nothing was recorded

    @property
    def whole(self) -> bool:
        """Whether the release goes back whole only (a Swarm stack: no `--services`)."""
        return orchestrators.of(self.entry.manifest.orchestrator).whole


def deploy(
    ctx: Context,
    no_rollback: bool = False,
    record_unchanged: bool = False,
    git: GitSource | None = None,
    no_build: bool = False,
) -> Deployed:
    """Build and start the Compose project, wait until it is healthy, record the release.

    The release commits every file Compose read, tags every service image with the release
    name, and becomes the live release. When the build, the start or the health gate fails, or
    the run is interrupted, the attempt is kept as a `failed_…` commit and the live release is
    put back (`DeployFailed`, exit 3; `RollbackFailed`, exit 4, if that fails too). A stack
    that ran before cfgroll's first deploy is first recorded as a `baseline` release. A deploy
    that changes nothing (same files, same images) still passes the gate but records nothing,
    unless `record_unchanged`. The project's hooks run around it (`pre-deploy`, `check` in the
    gate, `post-deploy`, `on-failure`); the gate's limits come from `ctx.flags` over the
    project's `x-cfgroll:` block. `git`: the project commit deployed (`cfgroll pull`), kept
    with the release or the attempt. `no_build`: start the images as they are (a fleet's
    hosts run the images built once, on the first).
    """
    return _roll_out(ctx, no_rollback, None, no_build, record_unchanged, git)


def update(
    ctx: Context,
    services: Sequence[str],
    no_build: bool = False,
    no_rollback: bool = False,
    record_unchanged: bool = False,
) -> Deployed:
    """Build and recreate only `services` (`up -d --no-deps`), gate them, record a release.

    The release's manifest reads the updated services from their containers and carries the
    other services' entries over from the live release. On failure only the updated services
    are put back, as with a deploy. Unknown service names fail before anything happens.
    """
    return _roll_out(ctx, no_rollback, services, no_build, record_unchanged)


@dataclass(frozen=True)
class Attempt:
    """What one deploy or update works with, from the lock to its record."""

    action: Action
    project: str
    live: Entry | None
    files: ProjectFiles
    existing: list[Container]  # the project's containers before it started
    only: Sequence[str] | None  # an update's services
    hooks: Hooks
    orchestrator: Orchestrator
    git: GitSource | None = None


@dataclass(frozen=True)
class Checked:
    """A deploy or update as its checks found it, before anything changes."""

    action: Action
    config: dict[str, Any]
    compose: Compose
    everything: list[str]  # the project's services
    services: list[str]  # those it starts
    files: ProjectFiles
    settings: Effective
    orchestrator: Orchestrator
    data_commands: dict[str, DataCommand]

    @property
    def project(self) -> str:
        return str(self.config["name"])

    @property
    def untouched(self) -> list[str]:
        return [s for s in self.everything if s not in self.services]


def checked(ctx: Context, only: Sequence[str] | None = None) -> Checked:
    """Every check a deploy (`only`: an update of those services) makes before it changes
    anything: the model, the services, the files and their limits, the settings, the rollout
    (start-first), the data commands, room and access (preflight). Raises what refuses it."""
    config = ctx.compose.config()
    compose = ctx.compose.named(str(config["name"]))
    everything = sorted(config.get("services") or {})
    services = everything if only is None else check_services(everything, only, "this project")
    files = resolve(compose, config, ctx.known())  # refuses over-limit files before anything
    settings = effective(ctx.flags, files.layout.settings)
    orchestrator = orchestrators.of(settings.orchestrator)
    orchestrator.check(ctx, config, services, settings.rollout)
    data_commands = data.commands(files.layout.settings, everything)
    # room for the release and, should it fail, the attempt (or a baseline first)
    preflight.check(ctx, preflight.Needs(store_bytes=2 * preflight.size_of(files.content)))
    action: Action = "deploy" if only is None else "update"
    return Checked(
        action, config, compose, everything, services, files, settings, orchestrator, data_commands
    )


def _roll_out(
    ctx: Context,
    no_rollback: bool,
    only: Sequence[str] | None = None,
    no_build: bool = False,
    record_unchanged: bool = False,
    git: GitSource | None = None,
) -> Deployed:
    c = checked(ctx, only)
    config, project, compose, files, settings = c.config, c.project, c.compose, c.files, c.settings
    action, services, untouched, orchestrator = c.action, c.services, c.untouched, c.orchestrator
    data_commands = c.data_commands
    init = ensure_store(ctx)
    store = init.store
    with mirror.changing(ctx, store, action, settings.lock_timeout, files.layout.settings):
        live = store.live()
        faults.point("deploy:locked")
        orchestrators.check_switch(live, orchestrator)
        existing = orchestrator.running(ctx, project)
        if live is None and only is not None:
            raise ProjectError("nothing is deployed yet to update; run `cfgroll deploy` first")
        base_tag = reserve_name(store) if live is None and existing else None
        tag = ctx.release_name or reserve_name(store, base_tag)
        occasion = Occasion(
            action, tag, live.tag if live else base_tag or "", tuple(services), project
        )
        # what runs now and what the deploy starts: either may print its values
        secrets = secret_values(files.content, files.roles)
        if live is not None:
            secrets += secret_values(store.files(live), live.manifest.files)
        hooks = Hooks(ctx, settings.hooks, occasion, secrets)
        hooks.before("pre-deploy", f"the {action} was stopped before it changed anything")
        if live is not None:  # the data as it is under the live release, before anything
            data.take(ctx, store, live, data_commands, secrets, files.layout.settings)
        baseline = None
        if base_tag is not None:
            baseline = live = record_baseline(ctx, store, compose, files, existing, base_tag)
        attempt = Attempt(action, project, live, files, existing, only, hooks, orchestrator, git)
        rollout = Rollout(
            compose,
            config,
            services,
            only,
            no_build,
            settings.limits,
            hooks,
            store,
            live,
            files,
            settings.rollout,
        )
        try:
            stack = orchestrator.deploy(ctx, rollout)  # a Swarm stack's file, once deployed
            faults.point("deploy:gated")
            if live is not None and not record_unchanged:
                if unchanged(ctx, store, live, files, only, stack):
                    return Deployed(live, init, baseline, unchanged=True)
            ctx.reporter.step("recording the release")
            release = replace(
                _release(attempt, services, untouched), stack=stack, orchestrator=orchestrator.name
            )
            entry = record_release(ctx, store, release, tag=tag, hooks=hooks)
        except (Exception, KeyboardInterrupt) as exc:
            recorded = recorded_meanwhile(ctx, store, live, exc)
            if recorded is not None:
                return Deployed(recorded, init, baseline)
            raise _failed(ctx, store, attempt, exc, no_rollback) from exc
        hooks.after("post-deploy", lambda text: store.add_note(entry.commit, text))
        what = "deploy" if only is None else f"update of {', '.join(only)}"
        notify.tell(
            ctx,
            files.layout.settings,
            "deployed",
            f"cfgroll: {project}: {entry.tag} is live",
            f"{what} of {project} on {entry.manifest.host}: {entry.tag} is live",
            hooks.secrets,
        )
        retention.after_release(ctx, store, files.layout.settings)
        orchestrator.after_release(ctx, store, project, files.layout.settings)
    return Deployed(entry, init, baseline)


def _release(attempt: Attempt, services: Sequence[str], carry: Sequence[str]) -> Release:
    return Release(
        attempt.action,
        attempt.project,
        attempt.files,
        tuple(services),
        attempt.live,
        carry=tuple(carry),
        git=attempt.git,
    )


def _failed(
    ctx: Context, store: Store, attempt: Attempt, exc: BaseException, no_rollback: bool
) -> DeployFailed | RollbackFailed:
    """Keep the attempt, put back what ran before, then run the `on-failure` hook (its output
    kept with the attempt); the error to raise."""
    reason = redact(one_line(exc), attempt.hooks.secrets)
    details = redact(_details(exc), attempt.hooks.secrets)
    kept_as: Entry | None = None
    try:
        attempt_entry = record_attempt(
            ctx, store, _release(attempt, (), ()), reason, details, attempt.hooks
        )
    except Exception as record_exc:  # noqa: BLE001 - without a copy, the files must stay
        error: DeployFailed | RollbackFailed = RollbackFailed(
            f"deploy failed ({reason}), and saving the attempt failed too "
            f"({one_line(record_exc)}); nothing was rolled back, so that your files stay as "
            f"they are; running now: {running(ctx, attempt.project)}",
            details,
        )
        result: FailureResult = "left-as-is"
    else:
        kept_as = attempt_entry
        what = "deploy" if attempt.only is None else f"update of {', '.join(attempt.only)}"
        tag = attempt_entry.tag
        kept = f"your files are kept as {tag}: `cfgroll checkout {tag}` writes"
        failure = Failure(what, reason, details, kept + " them back")
        error, result = _put_back(ctx, store, attempt, no_rollback, failure)
        if result == "rolled-back" and attempt.live is not None:  # when it ended: `stats`
            from cfgroll.history.stats import restored_note

            try:
                _note(store, kept_as, restored_note(attempt.live.tag, now()))
            except StoreError as exc:
                ctx.reporter.warn(f"{one_line(exc)}; `cfgroll stats` will time this restore later")
    extra = {"CFGROLL_RESULT": result, "CFGROLL_REASON": reason}
    if kept_as is not None:
        extra["CFGROLL_ATTEMPT_TAG"] = kept_as.tag
    attempt.hooks.after("on-failure", lambda text: _note(store, kept_as, text), **extra)
    head = "failed, rolled back" if result == "rolled-back" else f"failed ({result})"
    notify.tell(
        ctx,
        attempt.files.layout.settings,
        "failed",
        f"cfgroll: {attempt.project}: {attempt.action} {head}",
        str(error),
        attempt.hooks.secrets,
    )
    return error


def _put_back(
    ctx: Context, store: Store, attempt: Attempt, no_rollback: bool, failure: Failure
) -> tuple[DeployFailed | RollbackFailed, FailureResult]:
    """After a failed deploy whose attempt is kept: put back what ran before (nothing with
    `no_rollback`); the error to raise and how it ended."""
    reason, details, kept, live = failure.reason, failure.details, failure.kept, attempt.live
    if no_rollback:
        return RollbackFailed(
            f"deploy failed ({reason}); left as it is (--no-rollback), running now: "
            f"{running(ctx, attempt.project)}; {kept}",
            details,
        ), "left-as-is"
    if live is None and attempt.orchestrator.remove_first(ctx, attempt.project):
        return DeployFailed(
            f"deploy failed ({reason}); nothing ran before, so the stack {attempt.project} was "
            f"removed; {kept}",
            details,
        ), "removed"
    if live is None:
        before = {c.id for c in attempt.existing}
        created = [c for c in ctx.daemon.containers(attempt.project) if c.id not in before]
        for c in created:
            ctx.daemon.remove_container(c.id)
        removed = ", ".join(c.name for c in created) or "none"
        return DeployFailed(
            f"deploy failed ({reason}); nothing ran before, so the container(s) this deploy "
            f"created were removed ({removed}); {kept}",
            details,
        ), "removed"
    paths = set(attempt.files.roles) | set(live.manifest.files)
    intact = {c.id for c in attempt.existing}  # what ran before never saw the attempt's files
    try:
        back = recover(ctx, store, live, paths, failure, attempt.only, attempt.hooks, intact)
        return back, "rolled-back"
    except RollbackFailed as rollback_failed:
        return rollback_failed, "rollback-failed"


def _note(store: Store, entry: Entry | None, text: str) -> None:
    if entry is not None:
        store.add_note(entry.commit, text)


def _details(exc: BaseException) -> str:
    if isinstance(exc, CommandFailed):
        return "\n".join(exc.stderr.strip().splitlines()[-15:])
    return str(getattr(exc, "details", "") or "")
