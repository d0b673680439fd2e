"""Putting a recorded release back: its images, its files, its containers; and recovering
from a failed deploy or rollback by putting the live release back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cfgroll import gate
from cfgroll.context import Context
from cfgroll.engine.compose import Compose
from cfgroll.errors import DeployFailed, ImageMissing, RollbackFailed
from cfgroll.store.files import write_atomic
from cfgroll.store.manifest import ENV
from cfgroll.store.repo import Entry, Store

UP_RELEASE = ("up", "-d", "--remove-orphans", "--no-build", "--pull", "never")


def write_files(ctx: Context, wanted: Mapping[str, bytes | None], roles: Mapping[str, str]) -> None:
    """Make the project files read `wanted` (None: the file must not exist)."""
    for rel, data in sorted(wanted.items()):
        path = ctx.directory / rel
        if data is None:
            path.unlink(missing_ok=True)
        elif not path.is_file() or path.read_bytes() != data:
            write_atomic(path, data, private=roles.get(rel) == ENV)


def compose_of(ctx: Context, entry: Entry) -> Compose:
    """The Compose project as `entry` ran it: its compose files in order, its project name."""
    files = tuple(ctx.directory / p for p in entry.manifest.compose_files)
    return Compose(ctx.directory, files, entry.manifest.project)


def missing_images(ctx: Context, entry: Entry) -> list[tuple[str, str]]:
    """(service, image ID) of every image of `entry` that is gone from the engine."""
    return [
        (name, svc.image_id)
        for name, svc in sorted(entry.manifest.services.items())
        if ctx.daemon.image_id(svc.image_id) is None
    ]


def start(
    ctx: Context,
    compose: Compose,
    services: Iterable[str],
    limits: gate.Limits,
    up: Iterable[str] = UP_RELEASE,
) -> None:
    """`docker compose up` and the health gate on `services`."""
    assert compose.name
    wanted = sorted(services)
    before = gate.baseline(ctx.daemon, compose.name)
    ctx.reporter.step(f"starting services (docker compose {' '.join(up)})")
    compose.run(*up, on_line=ctx.reporter.output, what="docker compose up")
    ctx.reporter.step(f"waiting for {len(wanted)} service(s) to be healthy")
    gate.wait_healthy(ctx.daemon, compose.name, wanted, limits, before, ctx.reporter.states)


def restore(
    ctx: Context,
    store: Store,
    entry: Entry,
    paths: Iterable[str] | None,
    limits: gate.Limits,
    only: Iterable[str] | None = None,
) -> None:
    """Make `entry` live: its images (by ID) under the references Compose uses, its files in the
    project (files in `paths` it did not have are removed; None: leave the files alone), its
    containers up and healthy. `only`: just those services, recreated without their deps."""
    chosen = sorted(entry.manifest.services if only is None else only)
    missing = [m for m in missing_images(ctx, entry) if m[0] in chosen]
    if missing:
        raise ImageMissing(entry.tag, missing)
    ctx.reporter.step(f"retagging {len(chosen)} image(s) of {entry.tag}")
    for name in chosen:
        svc = entry.manifest.services[name]
        ctx.daemon.tag(svc.image_id, svc.image)
    if paths is not None:
        files = store.files(entry)
        ctx.reporter.step(f"writing the files of {entry.tag}")
        write_files(ctx, {p: files.get(p) for p in set(paths) | set(files)}, entry.manifest.files)
        compose = compose_of(ctx, entry)
    else:
        compose = ctx.compose.named(entry.manifest.project)
    if only is not None and not chosen:
        return  # no service of `entry` to put back (`up` without names would start them all)
    up = UP_RELEASE if only is None else (*UP_RELEASE, "--no-deps", *chosen)
    start(ctx, compose, chosen, limits, up=up)


def why(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return str(exc) or type(exc).__name__


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
    limits: gate.Limits,
    only: Iterable[str] | None = None,
) -> DeployFailed:
    """Put `live` (or its services `only`) back after `failure`; the error to raise says how
    that went (exit 3 or 4)."""
    ctx.reporter.warn(f"{failure.what} failed: {failure.reason}; rolling back to {live.tag}")
    kept = f"; {failure.kept}" if failure.kept else ""
    if only is not None:
        only = [s for s in only if s in live.manifest.services]
    try:
        restore(ctx, store, live, paths, limits, only)
    except (Exception, KeyboardInterrupt) as exc:
        raise RollbackFailed(
            f"{failure.what} failed ({failure.reason}), and rolling back to {live.tag} failed "
            f"too ({why(exc)}); running now: {running(ctx, live.manifest.project)}{kept}; fix "
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
