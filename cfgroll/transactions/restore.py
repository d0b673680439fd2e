"""Putting a recorded release back: its images, its files, its containers; and recovering
from a failed deploy or rollback by putting the live release back."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace

from cfgroll import orchestrators
from cfgroll.capabilities.hooks import Hooks
from cfgroll.capabilities.snapshot import Availability, judge
from cfgroll.context import Context
from cfgroll.errors import CfgrollError, DeployFailed, ImageMissing, RollbackFailed, one_line
from cfgroll.orchestrators import Comeback
from cfgroll.settings import recorded
from cfgroll.store.repo import Entry, Store


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


def restore(
    ctx: Context,
    store: Store,
    entry: Entry,
    paths: Iterable[str] | None,
    only: Iterable[str] | None = None,
    hooks: Hooks | None = None,
    known: Mapping[str, Availability] | None = None,
    intact: Collection[str] = (),
) -> None:
    """Make `entry` live: its images (by ID) under the references Compose uses, its files in the
    project (files in `paths` it did not have are removed; None: leave the files alone), its
    containers up and healthy, its `check` hook passed. `only`: just those services, recreated
    without their deps. The gate's limits and the hooks folder are those `entry` recorded in
    its `x-cfgroll:` block, unless the command line says otherwise. `known`: where its images
    are, when the caller has just checked (under the lock), so they are not asked again.
    `intact`: containers known to run `entry`'s files already (see `Comeback`)."""
    settings = recorded(ctx.flags, entry)
    chosen = sorted(entry.manifest.services if only is None else only)
    found = known if known is not None else availability(ctx, entry)
    missing = [(n, entry.manifest.services[n].image_id) for n in chosen if found.get(n) == "no"]
    if missing:
        raise ImageMissing(entry.tag, missing)
    fetch(ctx, entry, [n for n in chosen if found.get(n) == "pull"])
    checking = replace(hooks, config=settings.hooks) if hooks is not None else None
    back = Comeback(
        store, entry, paths, chosen, only, settings.limits, checking, settings.rollout, intact
    )
    orchestrators.of(entry.manifest.orchestrator).restore(ctx, back)


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
    intact: Collection[str] = (),
) -> DeployFailed:
    """Put `live` (or its services `only`) back after `failure`; the error to raise says how
    that went (exit 3 or 4). `intact`: the containers that ran `live` before the failure."""
    ctx.reporter.warn(f"{failure.what} failed: {failure.reason}; rolling back to {live.tag}")
    kept = f"; {failure.kept}" if failure.kept else ""
    if only is not None:
        only = [s for s in only if s in live.manifest.services]
    try:
        restore(ctx, store, live, paths, only, hooks, intact=intact)
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
