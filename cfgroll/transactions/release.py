"""Recording what deploy, update and rollback did: releases, failed attempts, and drafts of
what the user wrote (kept before cfgroll overwrites it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from cfgroll import __version__, faults, orchestrators, project
from cfgroll.capabilities.snapshot import service_records
from cfgroll.context import Context, now, who
from cfgroll.errors import StoreError, one_line
from cfgroll.project import ProjectFiles
from cfgroll.store.files import changed_files
from cfgroll.store.manifest import (
    ATTEMPT,
    DRAFT,
    RELEASE,
    STACK_PATH,
    Action,
    EngineRecord,
    GitSource,
    Manifest,
    Orchestrator,
    Role,
    ServiceRecord,
    changed_keys,
    changed_services,
)
from cfgroll.store.names import (
    ATTEMPT_PREFIX,
    DRAFT_PREFIX,
    RELEASE_PREFIX,
    backup_ref,
    moment_of,
    names,
    new_name,
)
from cfgroll.store.repo import Entry, Store

if TYPE_CHECKING:
    from cfgroll.capabilities.hooks import Hooks
    from cfgroll.orchestrators.swarm.render import Rendered


@dataclass(frozen=True)
class Release:
    """What a release (or a failed attempt) records: which run made it, of which project, with
    which files and services."""

    action: Action
    project: str
    files: ProjectFiles
    services: tuple[str, ...]  # read from their containers
    live: Entry | None  # the release live before; the parent commit
    target: str | None = None  # what a rollback went back to
    carry: tuple[str, ...] = ()  # services whose entries are taken over from `live`
    stack: Rendered | None = None  # a Swarm release's stack file (its services read from Swarm)
    orchestrator: Orchestrator = "compose"  # what runs it
    git: GitSource | None = None  # the project commit it was deployed from (`cfgroll pull`)


def reserve_name(store: Store, *taken: str | None) -> str:
    """The tag the release a run is making will have (told to its hooks before it exists);
    `taken`: names already reserved in this run."""
    return new_name(RELEASE_PREFIX, now(), lambda n: store.has_tag(n) or n in taken)


def _hook_fields(hooks: Hooks | None) -> dict[str, object]:
    if hooks is None:
        return {}
    return {"hooks": tuple(hooks.runs), "hooks_skipped": hooks.skipped}


def subject(action: str, services: Iterable[str], target: str | None = None) -> str:
    names = ", ".join(services) or "configuration only"
    return f"{action} to {target}: {names}" if target else f"{action}: {names}"


def _manifest(ctx: Context, tag: str, **fields: object) -> Manifest:
    user, host = who()
    return Manifest(
        tag=tag,
        host=host,
        user=user,
        cfgroll_version=__version__,
        fleet_host=ctx.host,
        **fields,  # type: ignore[arg-type]
    )


def record_release(
    ctx: Context,
    store: Store,
    release: Release,
    tag: str | None = None,
    hooks: Hooks | None = None,
) -> Entry:
    """Record what runs now as the new live release: tag its images, commit, move `main`.

    The release's services are read from their containers; the entries of the services it
    carries are taken over from the live release unchanged (a partial update did not touch
    them). `tag`: the name reserved for it (default: a new one); `hooks`: what they did."""
    # a name reserved when the run started also dates the release: tag and time agree
    moment = moment_of(tag) if tag else now()
    tag = tag or new_name(RELEASE_PREFIX, moment, store.has_tag)
    action, project, files, live = release.action, release.project, release.files, release.live
    target = release.target
    own: dict[str, bytes] = {}
    runner = orchestrators.of(release.orchestrator)
    records = runner.records(ctx, project, release.services, release.stack, tag)
    if release.stack is not None:
        own[STACK_PATH] = release.stack.text.encode()
    if live:
        for name in release.carry:
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
        layout=files.layout,
        services=records,
        orchestrator=release.orchestrator,
        engine=engine_record(ctx),
        git=release.git,
        **_hook_fields(hooks),
    )
    user, host = manifest.user, manifest.host
    changed_paths = changed_files(store.files(live) if live else {}, files.content)
    body = [f"Release {tag} of Compose project {project}, by {user} on {host}."]
    if changed_paths:
        body.append("Files changed: " + names(changed_paths) + ".")
    message = subject(action, changed, target) + "\n\n" + "\n".join(body) + "\n"
    tagged: list[str] = []
    try:
        for svc in records.values():
            if svc.backup_ref and svc.backup_ref not in tagged:
                ctx.daemon.tag(svc.image_id, svc.backup_ref)
                tagged.append(svc.backup_ref)
        faults.point("release:tagged")
        parent = live.commit if live else None
        if store.host is not None and store.has_tag(tag):
            return _join(store, tag, files, records, parent)
        try:
            return store.record(files.content, manifest, message, parent, on_main=True, own=own)
        except StoreError:
            if store.host is None or not store.has_tag(tag):
                raise
            return _join(store, tag, files, records, parent)  # another host was first
    except BaseException:
        for ref in tagged:
            ctx.daemon.untag(ref)
        raise


def _join(
    store: Store, tag: str, files: ProjectFiles, records: Mapping[str, Any], parent: str | None
) -> Entry:
    """A fleet host's run whose release another host recorded first: this host runs it too
    when it has the same files and the same images (by ID: the same bytes); its ref moves to
    that release. Anything else is a failure of this host's run."""
    entry = store.resolve(tag)
    differ = changed_files(store.files(entry), files.content)
    images = {n: r.image_id for n, r in records.items()}
    theirs = {n: r.image_id for n, r in entry.manifest.services.items()}
    if differ or images != theirs:
        what = f"the files {names(differ)}" if differ else "other images"
        raise StoreError(
            f"host {store.host} would run {what} than {tag}, which another host of the fleet "
            "recorded; a fleet's hosts run one release (same files, same image IDs)"
        )
    store.move_ref(store.live_ref, entry.commit, parent, f"{entry.manifest.action} {tag}")
    return entry


def engine_record(ctx: Context) -> EngineRecord:
    """The engine this run talks to, as a release records it."""
    info = ctx.daemon.engine()
    return EngineRecord(info.id, info.name, info.context)


def unchanged(
    ctx: Context,
    store: Store,
    live: Entry,
    files: ProjectFiles,
    services: Iterable[str] | None,
    stack: Rendered | None = None,
) -> bool:
    """Whether a release recorded now would repeat `live`: the same files (content, kind and
    layout) and the same images and Compose configuration for `services` (None: every service,
    none added or removed); for a Swarm stack, the same stack file deployed (its images
    pinned by digest)."""
    if files.layout != live.manifest.layout or changed_files(store.files(live), files.content):
        return False
    if stack is not None:
        return store.own_file(live, STACK_PATH) == stack.text.encode()
    project = live.manifest.project
    now = service_records(ctx.daemon, project, services, "", require=False)
    before = live.manifest.services
    if services is not None:
        before = {s: before[s] for s in services if s in before}
    return not changed_keys(before, now, lambda r: (r.image_id, r.config_hash))


def recorded_meanwhile(
    ctx: Context, store: Store, live: Entry | None, exc: BaseException
) -> Entry | None:
    """The release this run recorded before `exc` struck (after the refs moved: a Ctrl-C,
    say), or None. Such a release stands: rolling the stack back would leave `main` naming
    a release that no longer runs."""
    if isinstance(exc, KeyboardInterrupt):
        store.after_interrupt()
    try:
        now = store.live()
    except Exception:  # noqa: BLE001 - the store cannot tell: roll back as for any failure
        return None
    if now is None or (live is not None and now.commit == live.commit):
        return None
    ctx.reporter.warn(f"{one_line(exc)}, after {now.tag} was recorded; it stays the live release")
    return now


def record_attempt(
    ctx: Context,
    store: Store,
    release: Release,
    reason: str,
    excerpt: str,
    hooks: Hooks | None = None,
) -> Entry:
    """Keep a failed attempt: its files and what its containers did, as a `failed_…` side
    commit on the live release. Its images are not tagged: it is not a release."""
    records = service_records(ctx.daemon, release.project, None, "", require=False)
    for tries_left in (2, 1, 0):  # a fleet's hosts may fail in the same second
        moment = now()
        tag = new_name(ATTEMPT_PREFIX, moment, store.has_tag)
        try:
            return _record_attempt(ctx, store, release, reason, excerpt, hooks, tag, records)
        except StoreError:
            if not tries_left or not store.has_tag(tag):
                raise
    raise AssertionError("unreachable")


def _record_attempt(
    ctx: Context,
    store: Store,
    release: Release,
    reason: str,
    excerpt: str,
    hooks: Hooks | None,
    tag: str,
    records: dict[str, ServiceRecord],
) -> Entry:
    action, project, files, live = release.action, release.project, release.files, release.live
    moment = moment_of(tag)
    manifest = _manifest(
        ctx,
        tag,
        action=action,
        kind=ATTEMPT,
        services_changed=tuple(changed_services(live.manifest.services if live else {}, records)),
        project=project,
        created_at=moment,
        result="failed",
        reason=reason,
        layout=files.layout,
        services=records,
        log=excerpt or None,
        git=release.git,
        **_hook_fields(hooks),
    )
    message = (
        f"failed {action}: {reason}\n\nAttempt {tag} of Compose project {project}: not a "
        f"release. `cfgroll checkout {tag}` writes its files back.\n"
    )
    return store.record(files.content, manifest, message, live.commit if live else None, False)


def save_draft(
    ctx: Context, store: Store, live: Entry, roles: Mapping[str, Role], target: Entry | None = None
) -> Entry | None:
    """Keep the project files (`roles`: the paths about to be overwritten, and their roles)
    that differ from the live release as a `draft_…` side commit.

    Returns None when there is nothing of the user's to keep: the files are the live
    release's, or already the `target`'s (a fleet's rollback, host after host).
    """
    recorded = store.files(live)
    roles = {**roles, **live.manifest.files}
    on_disk = project.read(ctx.directory, roles)
    if not changed_files(recorded, on_disk):
        return None
    if target is not None and not changed_files(store.files(target), on_disk):
        return None
    moment = now()
    tag = new_name(DRAFT_PREFIX, moment, store.has_tag)
    differing = changed_files(recorded, on_disk)
    manifest = _manifest(
        ctx,
        tag,
        action="draft",
        kind=DRAFT,
        project=live.manifest.project,
        created_at=moment,
        result="saved",
        layout=replace(live.manifest.layout, roles={p: roles[p] for p in sorted(on_disk)}),
        services=live.manifest.services,
    )
    message = (
        f"draft: edits to {names(differing)}\n\nProject files as they were on disk before "
        f"cfgroll overwrote them; `cfgroll checkout {tag}` writes them back.\n"
    )
    return store.record(on_disk, manifest, message, live.commit, on_main=False)
