"""`cfgroll deploy`: build, start, pass the health gate, record the release; on any failure
(or Ctrl-C) keep the attempt and put the live release back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cfgroll import faults, gate, preflight
from cfgroll.context import Context
from cfgroll.engine.daemon import Container
from cfgroll.errors import CommandFailed, DeployFailed, ProjectError, RollbackFailed, one_line
from cfgroll.init import Initialised, ensure_store, record_baseline
from cfgroll.project import ProjectFiles, resolve
from cfgroll.release import names, record_attempt, record_release, recorded_meanwhile, unchanged
from cfgroll.restore import Failure, recover, running, start
from cfgroll.snapshot import check_services
from cfgroll.store.lock import store_lock
from cfgroll.store.manifest import changed_keys
from cfgroll.store.repo import Entry, Store
from cfgroll.store.secrets import redact, secret_values


@dataclass(frozen=True)
class Deployed:
    entry: Entry  # the new release; the live one when nothing changed
    init: Initialised
    baseline: Entry | None  # what was running before the first deploy, recorded first
    unchanged: bool = False  # same files and images as `entry`: nothing was recorded


def deploy(
    ctx: Context,
    limits: gate.Limits = gate.DEFAULT_LIMITS,
    no_rollback: bool = False,
    record_unchanged: bool = False,
) -> Deployed:
    """Build and start the Compose project, wait until it is healthy, record the release.

    The release commits every file Compose read, tags every service image with the release
    name, and becomes the live release. When the build, the start or the health gate fails, or
    the run is interrupted, the attempt is kept as a `failed_…` commit and the live release is
    put back (`DeployFailed`, exit 3; `RollbackFailed`, exit 4, if that fails too). A stack
    that ran before cfgroll's first deploy is first recorded as a `baseline` release. A deploy
    that changes nothing (same files, same images) still passes the gate but records nothing,
    unless `record_unchanged`.
    """
    return _roll_out(ctx, limits, no_rollback, record_unchanged=record_unchanged)


def update(
    ctx: Context,
    services: Sequence[str],
    limits: gate.Limits = gate.DEFAULT_LIMITS,
    no_build: bool = False,
    no_rollback: bool = False,
    record_unchanged: bool = False,
) -> Deployed:
    """Build and recreate only `services` (`up -d --no-deps`), gate them, record a release.

    The release's manifest reads the updated services from their containers and carries the
    other services' entries over from the live release. On failure only the updated services
    are put back, as with a deploy. Unknown service names fail before anything happens.
    """
    return _roll_out(ctx, limits, no_rollback, services, no_build, record_unchanged)


def _roll_out(
    ctx: Context,
    limits: gate.Limits,
    no_rollback: bool,
    only: Sequence[str] | None = None,
    no_build: bool = False,
    record_unchanged: bool = False,
) -> Deployed:
    config = ctx.compose.config()
    project = str(config["name"])
    compose = ctx.compose.named(project)
    everything = sorted(config.get("services") or {})
    services = everything if only is None else check_services(everything, only, "this project")
    action = "deploy" if only is None else "update"
    untouched = [s for s in everything if s not in services]
    files = resolve(compose, config)  # refuses over-limit files before anything changes
    # room for the release and, should it fail, the attempt (or a baseline first)
    preflight.check(ctx, preflight.Needs(store_bytes=2 * preflight.size_of(files.content.values())))
    init = ensure_store(ctx)
    store = init.store
    with store_lock(store.path, action, ctx.lock_timeout, ctx.reporter.warn):
        live = store.live()
        faults.point("deploy:locked")
        existing = ctx.daemon.containers(project)
        baseline = None
        if live is None and existing:
            baseline = live = record_baseline(ctx, store, compose, files, existing)
        if live is None and only is not None:
            raise ProjectError("nothing is deployed yet to update; run `cfgroll deploy` first")
        remount = _mounted_changes(ctx, store, live, files, services)
        try:
            builds = [s for s in services if "build" in config["services"][s]]
            if builds and not no_build:
                ctx.reporter.step(f"building images (docker compose build {' '.join(builds)})")
                compose.run(
                    "build", *([] if only is None else builds), on_line=ctx.reporter.output,
                    what="docker compose build",
                )  # fmt: skip
            faults.point("deploy:built")
            if only is None:
                up: tuple[str, ...] = ("up", "-d", "--remove-orphans")
            else:
                recreate = ("--no-build", "--force-recreate") if no_build else ()
                up = ("up", "-d", "--no-deps", *recreate, *services)
            start(ctx, compose, services, limits, up=up, recreate=remount)
            faults.point("deploy:gated")
            if live is not None and not record_unchanged:
                if unchanged(ctx, store, live, files, only):
                    return Deployed(live, init, baseline, unchanged=True)
            ctx.reporter.step("recording the release")
            entry = record_release(
                ctx, store, action=action, project=project, files=files, services=services,
                live=live, carry=untouched,
            )  # fmt: skip
        except (Exception, KeyboardInterrupt) as exc:
            recorded = recorded_meanwhile(ctx, store, live, exc)
            if recorded is not None:
                return Deployed(recorded, init, baseline)
            raise _failed(
                ctx, store, project, live, files, existing, exc, limits, no_rollback, only
            ) from exc
    return Deployed(entry, init, baseline)


def _failed(
    ctx: Context,
    store: Store,
    project: str,
    live: Entry | None,
    files: ProjectFiles,
    existing: list[Container],
    exc: BaseException,
    limits: gate.Limits,
    no_rollback: bool,
    only: Sequence[str] | None,
) -> DeployFailed | RollbackFailed:
    """Keep the attempt, then put back what ran before; the error to raise."""
    reason = one_line(exc)
    details = redact(_details(exc), secret_values(files.content, files.roles))
    try:
        attempt = record_attempt(
            ctx, store, action="deploy" if only is None else "update", project=project,
            files=files, live=live, reason=reason,
            excerpt=details,
        )  # fmt: skip
    except Exception as record_exc:  # noqa: BLE001 - without a copy, the files must stay
        return RollbackFailed(
            f"deploy failed ({reason}), and saving the attempt failed too "
            f"({one_line(record_exc)}); nothing was rolled back, so that your files stay as "
            "they are; running now: "
            f"{running(ctx, project)}",
            details,
        )
    kept = (
        f"your files are kept as {attempt.tag}: `cfgroll checkout {attempt.tag}` writes them back"
    )
    if no_rollback:
        return RollbackFailed(
            f"deploy failed ({reason}); left as it is (--no-rollback), running now: "
            f"{running(ctx, project)}; {kept}",
            details,
        )
    if live is None:
        before = {c.id for c in existing}
        created = [c for c in ctx.daemon.containers(project) if c.id not in before]
        for c in created:
            ctx.daemon.remove_container(c.id)
        removed = [c.name for c in created]
        return DeployFailed(
            f"deploy failed ({reason}); nothing ran before, so the container(s) this deploy "
            f"created were removed ({', '.join(removed) or 'none'}); {kept}",
            details,
        )
    paths = set(files.roles) | set(live.manifest.files)
    what = "deploy" if only is None else f"update of {', '.join(only)}"
    return recover(ctx, store, live, paths, Failure(what, reason, details, kept), limits, only)


def _mounted_changes(
    ctx: Context, store: Store, live: Entry | None, files: ProjectFiles, services: Sequence[str]
) -> set[str]:
    """The services to deploy whose mounted files (bind, config, secret) differ from the live
    release: Compose alone would leave their containers in place. Warns about services left
    out of a partial update whose files changed."""
    if live is None:
        return set()
    changed = changed_keys(store.files(live), files.content)
    users = files.layout.services_using(changed)
    left_out = sorted(users - set(services))
    if left_out:
        ctx.reporter.warn(
            f"files mounted by {', '.join(left_out)} changed ({names(changed, 5)}), but they "
            "are not part of this update; they keep the old files until they are deployed"
        )
    return users & set(services)


def _details(exc: BaseException) -> str:
    if isinstance(exc, CommandFailed):
        return "\n".join(exc.stderr.strip().splitlines()[-15:])
    return str(getattr(exc, "details", "") or "")
