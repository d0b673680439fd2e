"""The machinery deploy, rollback and checkout share: recording a release, saving what the
user wrote, and putting files and image references back exactly as they were."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cfgroll import __version__
from cfgroll.context import Context, now, who
from cfgroll.engine.compose import Compose
from cfgroll.snapshot import ProjectFiles, disk_files, service_records
from cfgroll.store.files import write_atomic
from cfgroll.store.manifest import (
    COMPOSE,
    DRAFT,
    ENV,
    RELEASE,
    Manifest,
    ServiceRecord,
)
from cfgroll.store.names import DRAFT_PREFIX, RELEASE_PREFIX, new_name
from cfgroll.store.repo import Entry, Store
from cfgroll.store.secrets import is_env_path


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
) -> Entry:
    """Record what runs now as the new live release: tag its images, commit, move `main`."""
    moment = now()
    user, host = who()
    tag = new_name(RELEASE_PREFIX, moment, store.has_tag)
    records = service_records(ctx.daemon, project, services, tag)
    changed = changed_services(live.manifest.services if live else None, records)
    manifest = Manifest(
        tag=tag,
        action=action,
        target=target,
        kind=RELEASE,
        services_changed=tuple(changed),
        project=project,
        created_at=moment,
        host=host,
        user=user,
        cfgroll_version=__version__,
        result="ok",
        files=files.roles,
        compose_files=files.compose_files,
        services=records,
    )
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
    user, host = who()
    tag = new_name(DRAFT_PREFIX, moment, store.has_tag)
    differing = sorted(p for p in set(on_disk) | set(recorded) if on_disk.get(p) != recorded.get(p))
    manifest = Manifest(
        tag=tag,
        action="draft",
        kind=DRAFT,
        project=live.manifest.project,
        created_at=moment,
        host=host,
        user=user,
        cfgroll_version=__version__,
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


@dataclass
class Undo:
    """What was there before a change to files and image references, to put it back."""

    directory_files: dict[str, bytes | None]
    refs: dict[str, str | None]


def capture(ctx: Context, paths: Iterable[str], refs: Iterable[str]) -> Undo:
    files: dict[str, bytes | None] = {}
    for rel in paths:
        p = ctx.directory / rel
        files[rel] = p.read_bytes() if p.is_file() else None
    return Undo(files, {ref: ctx.daemon.image_id(ref) for ref in refs})


def write_files(ctx: Context, wanted: Mapping[str, bytes | None], roles: Mapping[str, str]) -> None:
    """Make the project files read `wanted` (None: the file must not exist)."""
    for rel, data in sorted(wanted.items()):
        path = ctx.directory / rel
        if data is None:
            path.unlink(missing_ok=True)
        elif not path.is_file() or path.read_bytes() != data:
            write_atomic(path, data, private=roles.get(rel) == ENV)


def retag(ctx: Context, refs: Mapping[str, str | None]) -> None:
    """Point each image reference at the given image ID (None: remove the reference)."""
    for ref, image_id in refs.items():
        if image_id is None:
            ctx.daemon.untag(ref)
        else:
            ctx.daemon.tag(image_id, ref)


def put_back(ctx: Context, undo: Undo) -> None:
    retag(ctx, undo.refs)
    write_files(ctx, undo.directory_files, {})


def compose_of(ctx: Context, entry: Entry) -> Compose:
    """The Compose project as `entry` ran it: its compose files in order, its project name."""
    files = tuple(ctx.directory / p for p in entry.manifest.compose_files)
    return Compose(ctx.directory, files, entry.manifest.project)
