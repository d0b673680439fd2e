"""`cfgroll rollback` and `cfgroll checkout`: putting a recorded release back."""

from __future__ import annotations

from dataclasses import dataclass

from cfgroll import gate
from cfgroll.context import Context
from cfgroll.errors import (
    CfgrollError,
    DeployFailed,
    ImageMissing,
    RollbackFailed,
    UsageError,
)
from cfgroll.release import (
    Undo,
    capture,
    compose_of,
    put_back,
    record_release,
    retag,
    save_draft,
    write_files,
)
from cfgroll.snapshot import project_files
from cfgroll.store.lock import store_lock
from cfgroll.store.manifest import RELEASE
from cfgroll.store.repo import Entry


@dataclass(frozen=True)
class Plan:
    """What a rollback will do, checked before anything changes."""

    target: Entry
    live: Entry
    images: dict[str, tuple[str, str]]  # service -> (reference Compose uses, image ID)


@dataclass(frozen=True)
class RolledBack:
    entry: Entry  # the new release recording the rollback
    draft: Entry | None  # the user's edits kept before the files were overwritten


def plan(ctx: Context, ref: str) -> Plan:
    """Resolve `ref` and check that everything the release needs still exists."""
    store = ctx.open_store()
    target = store.resolve(ref)
    if target.manifest.kind != RELEASE:
        raise UsageError(
            f"{target.tag} is a {target.manifest.kind}, not a release; use `cfgroll checkout "
            f"{target.tag}` to get its files back, then `cfgroll deploy`"
        )
    live = store.live()
    assert live is not None  # target is a release, so main exists
    images = {name: (svc.image, svc.image_id) for name, svc in target.manifest.services.items()}
    missing = [(name, iid) for name, (_ref, iid) in images.items() if not ctx.daemon.image_id(iid)]
    if missing:
        raise ImageMissing(target.tag, missing)
    return Plan(target, live, images)


def rollback(
    ctx: Context, planned: Plan, timeout: float = 120.0, settle: float = 3.0
) -> RolledBack:
    """Bring the stack back to a recorded release, as a transaction.

    Retag the release's images (by ID) under the references Compose uses, write its files into
    the project atomically, `docker compose up -d --remove-orphans` with no build and no pull,
    wait until healthy, and record the rollback as a new release. The user's unsaved edits are
    kept first as a draft. On any failure or Ctrl-C the files and references are put back and
    the release that was live is started again.
    """
    store = ctx.open_store()
    with store_lock(store.path, "rollback", ctx.lock_timeout, ctx.reporter.warn):
        live = store.live()
        assert live is not None
        # Re-check under the lock: another run may have changed things since the plan.
        planned = plan(ctx, planned.target.tag)
        target = planned.target
        target_files = store.files(target)
        paths = set(target_files) | set(live.manifest.files)
        draft = save_draft(ctx, store, live, paths)
        if draft:
            ctx.reporter.step(f"saved your edits to the project files as {draft.tag}")
        undo = capture(ctx, paths, [ref for ref, _id in planned.images.values()])
        compose = compose_of(ctx, target)
        try:
            ctx.reporter.step(f"retagging {len(planned.images)} image(s) of {target.tag}")
            retag(ctx, {ref: iid for ref, iid in planned.images.values()})
            ctx.reporter.step(f"writing the files of {target.tag}")
            write_files(ctx, {p: target_files.get(p) for p in paths}, target.manifest.files)
            before = gate.baseline(ctx.daemon, target.manifest.project)
            ctx.reporter.step("restarting (docker compose up -d --remove-orphans --no-build)")
            compose.run(
                "up",
                "-d",
                "--remove-orphans",
                "--no-build",
                "--pull",
                "never",
                on_line=ctx.reporter.output,
            )
            ctx.reporter.step("waiting for services to be healthy")
            gate.wait_healthy(
                ctx.daemon,
                target.manifest.project,
                planned.images,
                timeout,
                settle,
                before,
                ctx.reporter.states,
            )
        except BaseException as exc:
            _restore_live(ctx, live, undo, timeout, settle, exc)
            raise DeployFailed(
                f"rollback to {target.tag} failed ({_why(exc)}); {live.tag} is running again, "
                "as before"
            ) from exc
        ctx.reporter.step("recording the rollback")
        config = compose.config()
        entry = record_release(
            ctx,
            store,
            action="rollback",
            project=target.manifest.project,
            files=project_files(compose, config),
            services=sorted(config.get("services") or {}),
            live=live,
            target=target.tag,
        )
    return RolledBack(entry, draft)


def _why(exc: BaseException) -> str:
    return "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)


def _restore_live(
    ctx: Context,
    live: Entry,
    undo: Undo,
    timeout: float,
    settle: float,
    cause: BaseException,
) -> None:
    """Put back what was live; raise `RollbackFailed` when that fails too."""
    ctx.reporter.warn(f"{_why(cause)}; putting {live.tag} back")
    try:
        put_back(ctx, undo)
        compose = compose_of(ctx, live)
        before = gate.baseline(ctx.daemon, live.manifest.project)
        compose.run(
            "up",
            "-d",
            "--remove-orphans",
            "--no-build",
            "--pull",
            "never",
            on_line=ctx.reporter.output,
        )
        gate.wait_healthy(
            ctx.daemon,
            live.manifest.project,
            live.manifest.services,
            timeout,
            settle,
            before,
            ctx.reporter.states,
        )
    except (CfgrollError, KeyboardInterrupt) as exc:
        raise RollbackFailed(
            f"{_why(cause)}, and putting {live.tag} back failed too ({_why(exc)}); the stack "
            f"may be half-way: run `cfgroll status`, then `cfgroll rollback {live.tag} --yes`"
        ) from exc


@dataclass(frozen=True)
class CheckedOut:
    entry: Entry
    draft: Entry | None
    written: list[str]


def checkout(ctx: Context, ref: str) -> CheckedOut:
    """Write a release's or attempt's files into the project folder without deploying.

    Project files that differ from the live release are saved first as a draft.
    """
    store = ctx.open_store()
    with store_lock(store.path, "checkout", ctx.lock_timeout, ctx.reporter.warn):
        entry = store.resolve(ref)
        live = store.live()
        wanted = store.files(entry)
        paths = set(wanted) | (set(live.manifest.files) if live else set())
        draft = save_draft(ctx, store, live, paths) if live else None
        before = capture(ctx, paths, [])
        write_files(ctx, {p: wanted.get(p) for p in paths}, entry.manifest.files)
        written = sorted(p for p in paths if before.directory_files.get(p) != wanted.get(p))
    return CheckedOut(entry, draft, written)
