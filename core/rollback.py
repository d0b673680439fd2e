"""`cfgroll rollback` and `cfgroll checkout`: putting a recorded release back."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

from cfgroll import faults, gate, preflight, project
from cfgroll.context import Context
from cfgroll.errors import ImageMissing, UsageError, one_line
from cfgroll.history import Side, diff, entry_side, short, working_side
from cfgroll.project import ProjectFiles
from cfgroll.release import record_release, recorded_meanwhile, save_draft
from cfgroll.restore import Failure, missing_images, recover, restore
from cfgroll.snapshot import check_services
from cfgroll.store.lock import store_lock
from cfgroll.store.manifest import RELEASE
from cfgroll.store.repo import Entry


@dataclass(frozen=True)
class Plan:
    """What a rollback will do, checked before anything changes."""

    target: Entry
    live: Entry
    only: tuple[str, ...] | None = None  # just these services; the files stay as they are


@dataclass(frozen=True)
class RolledBack:
    entry: Entry  # the new release recording the rollback
    draft: Entry | None  # the user's edits kept before the files were overwritten


def plan(ctx: Context, ref: str, only: Sequence[str] | None = None) -> Plan:
    """Resolve `ref` and check that every image the release needs (of the services `only`, if
    given) still exists."""
    store = ctx.open_store()
    target = store.resolve(ref)
    if target.manifest.kind != RELEASE:
        raise UsageError(
            f"{target.tag} is a {target.manifest.kind}, not a release; use `cfgroll checkout "
            f"{target.tag}` to get its files back, then `cfgroll deploy`"
        )
    live = store.live()
    assert live is not None  # target is a release, so main exists
    if only is not None:
        only = tuple(check_services(target.manifest.services, only, f"release {target.tag}"))
    missing = [m for m in missing_images(ctx, target) if only is None or m[0] in only]
    if missing:
        raise ImageMissing(target.tag, missing)
    if only is None:
        store.files(target)  # every file must still read (a damaged store fails here, not later)
    return Plan(target, live, only)


@dataclass(frozen=True)
class Choice:
    entry: Entry
    restorable: bool
    live: bool


def choices(ctx: Context, limit: int = 20) -> list[Choice]:
    """The newest releases, each with whether it can still be restored (all images exist)."""
    store = ctx.open_store()
    live = store.live()
    return [
        Choice(e, not missing_images(ctx, e), live is not None and e.commit == live.commit)
        for e in islice(store.releases(), limit)
    ]


def preview(ctx: Context, planned: Plan, show_secrets: bool = False) -> Iterator[str]:
    """What the rollback would change: the file diff (masked) and the image of each service."""
    store = ctx.open_store()
    if planned.only is None:
        current: Side = working_side(ctx, planned.live)
        yield from diff(current, entry_side(store, planned.target), show_secrets)
    else:
        yield "the project files stay as they are (--services)"
    live_services = planned.live.manifest.services
    for name, svc in sorted(planned.target.manifest.services.items()):
        if planned.only is not None and name not in planned.only:
            continue
        was = live_services.get(name)
        now_id = short(was.image_id) if was else "none"
        change = "unchanged" if was and was.image_id == svc.image_id else f"{now_id} ->"
        yield f"service {name}: {change} {short(svc.image_id)} ({svc.image}, from {svc.backup_ref})"
    for name in sorted(set(live_services) - set(planned.target.manifest.services)):
        if planned.only is not None:
            break
        yield f"service {name}: removed (not in {planned.target.tag})"


def rollback(ctx: Context, planned: Plan, limits: gate.Limits = gate.DEFAULT_LIMITS) -> RolledBack:
    """Bring the stack back to a recorded release, as a transaction.

    Retag the release's images (by ID) under the references Compose uses, write its files into
    the project atomically, `docker compose up -d --remove-orphans` with no build and no pull,
    pass the health gate, and record the rollback as a new release. The user's unsaved edits
    are kept first as a draft. On any failure or Ctrl-C the release that was live is put back
    (`DeployFailed`, exit 3; `RollbackFailed`, exit 4, when that fails too).
    """
    store = ctx.open_store()
    draft_bytes = preflight.size_of(store.files(planned.live).values())
    preflight.check(ctx, preflight.Needs(draft_bytes, project=planned.only is None))
    with store_lock(store.path, "rollback", ctx.lock_timeout, ctx.reporter.warn):
        # Checked again under the lock: another run may have changed things since the plan.
        planned = plan(ctx, planned.target.tag, planned.only)
        target, live, only = planned.target, planned.live, planned.only
        paths: set[str] | None = None
        draft = None
        if only is None:
            paths = set(target.manifest.files) | set(live.manifest.files)
            draft = save_draft(ctx, store, live, target.manifest.files)
            if draft:
                ctx.reporter.step(f"saved your edits to the project files as {draft.tag}")
            faults.point("rollback:draft-saved")
        else:
            ctx.reporter.step("the project files stay as they are (--services)")
        try:
            restore(ctx, store, target, paths, limits, only)
            ctx.reporter.step("recording the rollback")
            if only is None:
                files = ProjectFiles.recorded(target.manifest, store.files(target))
            else:
                config = ctx.compose.config()
                files = project.resolve(ctx.compose.named(str(config["name"])), config)
            everything = set(target.manifest.services) | set(live.manifest.services)
            entry = record_release(
                ctx, store, action="rollback", project=target.manifest.project, files=files,
                services=sorted(target.manifest.services if only is None else only), live=live,
                target=target.tag, carry=[] if only is None else sorted(everything - set(only)),
            )  # fmt: skip
        except (Exception, KeyboardInterrupt) as exc:
            if (recorded := recorded_meanwhile(ctx, store, live, exc)) is not None:
                return RolledBack(recorded, draft)
            kept = f"your edits are kept as {draft.tag}" if draft else ""
            what = f"rollback to {target.tag}" + (f" of {', '.join(only)}" if only else "")
            failure = Failure(what, one_line(exc), str(getattr(exc, "details", "")), kept)
            raise recover(ctx, store, live, paths, failure, limits, only) from exc
    return RolledBack(entry, draft)


@dataclass(frozen=True)
class CheckedOut:
    entry: Entry
    draft: Entry | None
    written: list[str]


def checkout(ctx: Context, ref: str) -> CheckedOut:
    """Write a release's, attempt's or draft's files into the project folder, without deploying.

    Project files that differ from the live release are saved first as a draft.
    """
    store = ctx.open_store()
    live = store.live()
    draft_bytes = preflight.size_of(store.files(live).values()) if live else 0
    preflight.check(ctx, preflight.Needs(draft_bytes, project=True, engine=False))
    with store_lock(store.path, "checkout", ctx.lock_timeout, ctx.reporter.warn):
        entry = store.resolve(ref)
        live = store.live()
        wanted = store.files(entry)
        paths = set(wanted) | (set(live.manifest.files) if live else set())
        draft = save_draft(ctx, store, live, entry.manifest.files) if live else None
        written = project.write(
            ctx.directory, {p: wanted.get(p) for p in paths}, entry.manifest.files
        )
    return CheckedOut(entry, draft, written)
