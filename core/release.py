"""The machinery deploy, rollback and checkout share: recording releases and attempts, saving
what the user wrote, and making a recorded release live again."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from cfgroll import __version__, gate
from cfgroll.context import Context, now, who
from cfgroll.engine.compose import Compose
from cfgroll.errors import DeployFailed, ImageMissing, RollbackFailed
from cfgroll.snapshot import ProjectFiles, disk_files, service_records
from cfgroll.store.files import write_atomic
from cfgroll.store.manifest import ATTEMPT, COMPOSE, DRAFT, ENV, RELEASE, Manifest, ServiceRecord
from cfgroll.store.names import ATTEMPT_PREFIX, DRAFT_PREFIX, RELEASE_PREFIX, backup_ref, new_name
from cfgroll.store.repo import Entry, Store
from cfgroll.store.secrets import is_env_path

UP_RELEASE = ("up", "-d", "--remove-orphans", "--no-build", "--pull", "never")


def changed_services(
    old: Mapping[str, ServiceRecord] | None, new: Mapping[str, ServiceRecord]
) -> list[str]:
    """Services whose image or Compose configuration differs between two manifests (added and
    removed ones too): the services Compose recreated."""
    old = old or {}
    return sorted(
        n
        for n in set(old) | set(new)
        if n not in old
        or n not in new
        or (old[n].image_id, old[n].config_hash) != (new[n].image_id, new[n].config_hash)
    )


def subject(action: str, services: Iterable[str], target: str | None = None) -> str:
    names = ", ".join(services) or "configuration only"
    return f"{action} to {target}: {names}" if target else f"{action}: {names}"


def _manifest(ctx: Context, tag: str, **fields: object) -> Manifest:
    user, host = who()
    return Manifest(tag=tag, host=host, user=user, cfgroll_version=__version__, **fields)  # type: ignore[arg-type]


def record_release(
    ctx: Context,
    store: Store,
    *,
    action: str,
    project: str,
    files: ProjectFiles,
    services: Iterable[str],
    live: Entry | None,
    target: str | None = None,
    carry: Iterable[str] = (),
) -> Entry:
    """Record what runs now as the new live release: tag its images, commit, move `main`.

    `services` are read from their containers; the entries of the services in `carry` are
    taken over from the live release unchanged (a partial update did not touch them)."""
    moment = now()
    tag = new_name(RELEASE_PREFIX, moment, store.has_tag)
    records = service_records(ctx.daemon, project, services, tag)
    if live:
        for name in carry:
            if name in live.manifest.services and name not in records:
                old = live.manifest.services[name]
                records[name] = replace(old, backup_ref=backup_ref(old.image, tag))
    records = dict(sorted(records.items()))
    changed = changed_services(live.manifest.services if live else None, records)
    manifest = _manifest(
        ctx,
        tag,
        action=action,
        target=target,
        kind=RELEASE,
        services_changed=tuple(changed),
        project=project,
        created_at=moment,
        result="ok",
        files=files.roles,
        compose_files=files.compose_files,
        services=records,
    )
    user, host = manifest.user, manifest.host
    changed_files = _changed_files(store, live, files.content)
    body = [f"Release {tag} of Compose project {project}, by {user} on {host}."]
    if changed_files:
        body.append("Files changed: " + ", ".join(changed_files) + ".")
    message = subject(action, changed, target) + "\n\n" + "\n".join(body) + "\n"
    tagged: list[str] = []
    try:
        for svc in records.values():
            if svc.backup_ref not in tagged:
                ctx.daemon.tag(svc.image_id, svc.backup_ref)
                tagged.append(svc.backup_ref)
        return store.record(
            files.content, manifest, message, live.commit if live else None, on_main=True
        )
    except BaseException:
        for ref in tagged:
            ctx.daemon.untag(ref)
        raise


def record_attempt(
    ctx: Context,
    store: Store,
    *,
    action: str,
    project: str,
    files: ProjectFiles,
    live: Entry | None,
    reason: str,
    excerpt: str,
) -> Entry:
    """Keep a failed attempt: its files and what its containers did, as a `failed_…` side
    commit on the live release. Its images are not tagged: it is not a release."""
    moment = now()
    tag = new_name(ATTEMPT_PREFIX, moment, store.has_tag)
    records = service_records(ctx.daemon, project, None, "", require=False)
    manifest = _manifest(
        ctx,
        tag,
        action=action,
        kind=ATTEMPT,
        services_changed=tuple(changed_services(live.manifest.services if live else {}, records)),
        project=project,
        created_at=moment,
        result=f"failed: {reason}",
        files=files.roles,
        compose_files=files.compose_files,
        services=records,
        log=excerpt or None,
    )
    message = (
        f"failed {action}: {reason}\n\nAttempt {tag} of Compose project {project}: not a "
        f"release. `cfgroll checkout {tag}` writes its files back.\n"
    )
    return store.record(files.content, manifest, message, live.commit if live else None, False)


def _changed_files(store: Store, live: Entry | None, content: Mapping[str, bytes]) -> list[str]:
    if live is None:
        return sorted(content)
    old = store.files(live)
    return sorted(p for p in set(old) | set(content) if old.get(p) != content.get(p))


def save_draft(ctx: Context, store: Store, live: Entry, paths: Iterable[str]) -> Entry | None:
    """Keep the project files that differ from the live release as a `draft_…` side commit.

    Returns None when there is nothing of the user's to keep.
    """
    recorded = store.files(live)
    on_disk = disk_files(ctx.directory, set(paths) | set(recorded))
    if on_disk == recorded:
        return None
    moment = now()
    tag = new_name(DRAFT_PREFIX, moment, store.has_tag)
    differing = sorted(p for p in set(on_disk) | set(recorded) if on_disk.get(p) != recorded.get(p))
    manifest = _manifest(
        ctx,
        tag,
        action="draft",
        kind=DRAFT,
        project=live.manifest.project,
        created_at=moment,
        result="saved",
        files={p: live.manifest.files.get(p, ENV if is_env_path(p) else COMPOSE) for p in on_disk},
        compose_files=live.manifest.compose_files,
        services=live.manifest.services,
    )
    message = (
        f"draft: edits to {', '.join(differing)}\n\nProject files as they were on disk before "
        f"cfgroll overwrote them; `cfgroll checkout {tag}` writes them back.\n"
    )
    return store.record(on_disk, manifest, message, live.commit, on_main=False)


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
