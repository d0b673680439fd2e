"""Putting a recorded release back: its images, its files, its containers; and recovering
from a failed deploy or rollback by putting the live release back."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from cfgroll import faults, project
from cfgroll.capabilities.hooks import Hooks, gate_check
from cfgroll.context import Context
from cfgroll.engine.compose import Compose
from cfgroll.errors import CfgrollError, DeployFailed, ImageMissing, RollbackFailed, one_line
from cfgroll.history.snapshot import Availability, judge
from cfgroll.orchestrators import gate, swarm
from cfgroll.settings import recorded
from cfgroll.store.repo import Entry, Store

UP_RELEASE = ("up", "-d", "--remove-orphans", "--no-build", "--pull", "never")
# Compose does not recreate a container when only a file it mounts changed, and a file
# replaced by rename stays the old inode inside a running container: recreate those services.
UP_RECREATE = ("up", "-d", "--no-deps", "--force-recreate", "--no-build", "--pull", "never")


def compose_of(ctx: Context, entry: Entry) -> Compose:
    """The Compose project as `entry` ran it: its compose and env files, its project name."""
    layout = entry.manifest.layout
    files = tuple(ctx.directory / p for p in layout.compose_files)
    env_files = tuple(
        Path(p) if Path(p).is_absolute() else ctx.directory / p for p in layout.env_files
    )
    return ctx.compose.variant(files, entry.manifest.project, env_files)


def availability(ctx: Context, entry: Entry) -> dict[str, Availability]:
    """Per service of `entry`: its image is in the engine (`yes`), can be pulled by its
    recorded digest (`pull`), or neither (`no`); the engine is asked for these images only."""
    ids = {s.image_id for s in entry.manifest.services.values()}
    return judge(entry.manifest.services, {i for i in ids if ctx.daemon.image_id(i) is not None})


def fetch(ctx: Context, entry: Entry, pulls: Collection[str]) -> None:
    """Pull the images of the services `pulls` (gone, but recorded with a registry digest) and
    check each is the recorded image; nothing else changes. `CfgrollError` when a pull fails
    or brings another image."""
    if not pulls:
        return
    ctx.reporter.step(f"pulling {len(pulls)} image(s) of {entry.tag} by digest")
    for name in pulls:
        svc = entry.manifest.services[name]
        try:
            pulled = ctx.daemon.pull(svc.repo_digest)
        except Exception as exc:  # noqa: BLE001 - any failure: one line, nothing changed
            raise CfgrollError(
                f"cannot pull the image of {name} ({svc.repo_digest}): {one_line(exc)}; nothing "
                f"was changed; check the registry, or rebuild the release from `cfgroll checkout "
                f"{entry.tag}`"
            ) from exc
        if pulled != svc.image_id:
            raise CfgrollError(
                f"{svc.repo_digest} is image {pulled[:19]} now, not the recorded "
                f"{svc.image_id[:19]}; nothing was changed"
            )


def start(
    ctx: Context,
    compose: Compose,
    services: Iterable[str],
    limits: gate.Limits,
    up: Iterable[str] = UP_RELEASE,
    recreate: Collection[str] = (),
    hooks: Hooks | None = None,
) -> None:
    """`docker compose up` and the health gate on `services`, then the `check` hook of
    `hooks`. The services in `recreate` (their mounted files changed) are recreated if `up`
    left their containers in place."""
    assert compose.name
    wanted = sorted(services)
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


def restore(
    ctx: Context,
    store: Store,
    entry: Entry,
    paths: Iterable[str] | None,
    only: Iterable[str] | None = None,
    hooks: Hooks | None = None,
    known: Mapping[str, Availability] | None = None,
) -> None:
    """Make `entry` live: its images (by ID) under the references Compose uses, its files in the
    project (files in `paths` it did not have are removed; None: leave the files alone), its
    containers up and healthy, its `check` hook passed. `only`: just those services, recreated
    without their deps. The gate's limits and the hooks folder are those `entry` recorded in
    its `x-cfgroll:` block, unless the command line says otherwise. `known`: where its images
    are, when the caller has just checked (under the lock), so they are not asked again."""
    settings = recorded(ctx.flags, entry)
    chosen = sorted(entry.manifest.services if only is None else only)
    found = known if known is not None else availability(ctx, entry)
    missing = [(n, entry.manifest.services[n].image_id) for n in chosen if found.get(n) == "no"]
    if missing:
        raise ImageMissing(entry.tag, missing)
    fetch(ctx, entry, [n for n in chosen if found.get(n) == "pull"])
    checking = replace(hooks, config=settings.hooks) if hooks is not None else None
    if entry.manifest.orchestrator == "swarm":
        # the release's own stack file, whole: its images are pinned by digest
        if paths is not None:
            _write_files(ctx, store, entry, paths)
        rendered = swarm.stack_of(store, entry)
        swarm.deploy_rendered(
            ctx, entry.manifest.project, rendered, chosen, settings.limits, checking
        )
        return
    ctx.reporter.step(f"retagging {len(chosen)} image(s) of {entry.tag}")
    for name in chosen:
        svc = entry.manifest.services[name]
        ctx.daemon.tag(svc.image_id, svc.image)
    faults.point("restore:retagged")
    recreate: set[str] = set()
    if paths is not None:
        written = _write_files(ctx, store, entry, paths)
        recreate = entry.manifest.layout.services_using(written) & set(chosen)
        compose = compose_of(ctx, entry)
    else:
        compose = ctx.compose.named(entry.manifest.project)
    if only is not None and not chosen:
        return  # no service of `entry` to put back (`up` without names would start them all)
    up = UP_RELEASE if only is None else (*UP_RELEASE, "--no-deps", *chosen)
    start(ctx, compose, chosen, settings.limits, up=up, recreate=recreate, hooks=checking)


def _write_files(ctx: Context, store: Store, entry: Entry, paths: Iterable[str]) -> list[str]:
    """Make the project files those of `entry` (files in `paths` it did not have are removed);
    the paths that changed."""
    files = store.files(entry)
    ctx.reporter.step(f"writing the files of {entry.tag}")
    wanted = {p: files.get(p) for p in set(paths) | set(files)}
    written = project.write(ctx.directory, wanted, entry.manifest.files)
    faults.point("restore:files-written")
    return written


@dataclass(frozen=True)
class Failure:
    """A failed deploy or rollback: what went wrong and where the user's files are kept."""

    what: str  # "deploy", "rollback to backup_…"
    reason: str
    details: str
    kept: str  # a sentence saying where the user's files are, or ""


def recover(
    ctx: Context,
    store: Store,
    live: Entry,
    paths: Iterable[str] | None,
    failure: Failure,
    only: Iterable[str] | None = None,
    hooks: Hooks | None = None,
) -> DeployFailed:
    """Put `live` (or its services `only`) back after `failure`; the error to raise says how
    that went (exit 3 or 4)."""
    ctx.reporter.warn(f"{failure.what} failed: {failure.reason}; rolling back to {live.tag}")
    kept = f"; {failure.kept}" if failure.kept else ""
    if only is not None:
        only = [s for s in only if s in live.manifest.services]
    try:
        restore(ctx, store, live, paths, only, hooks)
    except (Exception, KeyboardInterrupt) as exc:
        raise RollbackFailed(
            f"{failure.what} failed ({failure.reason}), and rolling back to {live.tag} failed "
            f"too ({one_line(exc)}); running now: {running(ctx, live.manifest.project)}{kept}; fix "
            f"the cause, then `cfgroll rollback {live.tag} --yes` or `cfgroll deploy`",
            failure.details,
        ) from exc
    return DeployFailed(
        f"{failure.what} failed ({failure.reason}); rolled back: {live.tag} is running again{kept}",
        failure.details,
    )


def running(ctx: Context, project: str) -> str:
    """A one-line account of the project's containers, for messages."""
    try:
        containers = ctx.daemon.containers(project)
    except Exception:  # noqa: BLE001 - a message must not fail because the engine is gone
        return "unknown (the engine does not answer)"
    if not containers:
        return "no container"
    parts = []
    for c in containers:
        state = f"exited {c.exit_code}" if c.state == "exited" else c.state
        parts.append(f"{c.name} {state}{'/' + c.health if c.health else ''}")
    return ", ".join(parts)
