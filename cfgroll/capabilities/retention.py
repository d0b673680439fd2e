"""Retention: `cfgroll prune`, `pin` and `unpin`. It never deletes a way back.

Every release tags each service image with its name, so over months the tags pin every image
ever built. Prune removes the **image tags** of the releases beyond the policy (the newest
`keep`, and those younger than `keep_for`, stay), then the images those tags held that no
other tag and no container (of any project) uses, then lets git tidy the store. The releases
themselves stay in the history; `log` shows them as restorable `no` (or `pull`, when their
images can come back from a registry by digest).

Never touched: the live release, the last release before it that passed the health gate,
pinned releases, and any image a container uses or a kept release records.

On a fleet's host (a host run), the releases are those the host ran (its ref's reflog), the
images its engine's; the fleet tidies the store once, after all the hosts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from cfgroll.capabilities import mirror, preflight
from cfgroll.context import Context
from cfgroll.engine.refs import with_default_tag
from cfgroll.errors import UsageError, one_line
from cfgroll.settings import KEEP, parse, recorded
from cfgroll.store.manifest import RELEASE
from cfgroll.store.repo import Entry, Store

# Why a release keeps its image tags.
KeptBecause = Literal["live", "last good", "pinned", "newest", "recent"]
GATED = ("deploy", "update", "rollback")  # actions that passed the health gate


@dataclass(frozen=True)
class Policy:
    keep: int = KEEP  # the newest releases whose images stay
    keep_for: timedelta | None = None  # and those younger than this


@dataclass(frozen=True)
class Untagged:
    """A release beyond the policy, and those of its image tags that still exist."""

    entry: Entry
    refs: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    policy: Policy
    untag: tuple[Untagged, ...]
    kept: dict[str, KeptBecause]  # release tag -> why its images stay
    images: tuple[tuple[str, int], ...]  # (image ID, bytes) left without tag and container

    @property
    def freed(self) -> int:
        return sum(size for _, size in self.images)


@dataclass(frozen=True)
class Pruned:
    plan: Plan
    removed: tuple[str, ...]  # image IDs removed
    refused: tuple[str, ...]  # image IDs the engine would not remove (a child image, say)
    freed: int


def policy(ctx: Context, keep: int | None = None, older_than: str | None = None) -> Policy:
    """The policy of `cfgroll prune`: the flags, else the live release's `x-cfgroll: keep:`
    and `keep_for:`, else keep 10."""
    from cfgroll.settings import duration

    live = ctx.open_store().live()
    block = parse(live.manifest.layout.settings if live else None)
    if block.hosts and ctx.host is None:
        raise UsageError(
            "the live release is a fleet's: a prune here would prune one engine by the fleet's "
            "history; with `x-cfgroll: keep:` each host prunes its own engine after each deploy "
            "(docs/fleet.md); nothing was changed"
        )
    try:
        keep_for = duration(older_than) if older_than is not None else block.keep_for
    except ValueError as exc:
        raise UsageError(f"--older-than {exc}") from exc
    if keep is not None and keep < 1:
        raise UsageError("--keep must be at least 1: the live release always keeps its images")
    return Policy(keep if keep is not None else block.keep or KEEP, keep_for)


def plan(ctx: Context, chosen: Policy, store: Store | None = None) -> Plan:
    """What prune would do now under `chosen`; nothing changes."""
    store = store or ctx.open_store()
    releases = [e for e in store.releases() if e.manifest.kind == RELEASE]
    pins = store.pins()
    now = datetime.now(timezone.utc)
    kept: dict[str, KeptBecause] = {}
    beyond: list[Entry] = []
    last_good = next((e for e in releases[1:] if e.manifest.action in GATED), None)
    for i, e in enumerate(releases):
        why: KeptBecause | None = None
        if i == 0:
            why = "live"
        elif last_good is not None and e.commit == last_good.commit:
            why = "last good"
        elif e.tag in pins:
            why = "pinned"
        elif i < chosen.keep:
            why = "newest"
        elif chosen.keep_for is not None and now - e.manifest.created_at < chosen.keep_for:
            why = "recent"
        if why is None:
            beyond.append(e)
        else:
            kept[e.tag] = why
    images = ctx.daemon.images()
    refs_of = {i.id: {with_default_tag(r) for r in i.refs} for i in images}
    existing = {r for refs in refs_of.values() for r in refs}
    # a tag a kept release records stays, even where a pruned release records it too
    kept_refs = {
        with_default_tag(s.backup_ref)
        for e in releases
        if e.tag in kept
        for s in e.manifest.services.values()
    }
    untag = []
    for e in beyond:
        refs = sorted({with_default_tag(s.backup_ref) for s in e.manifest.services.values()})
        present = tuple(r for r in refs if r in existing and r not in kept_refs)
        if present:
            untag.append(Untagged(e, present))
    going = {r for u in untag for r in u.refs}
    needed = {s.image_id for e in releases if e.tag in kept for s in e.manifest.services.values()}
    in_use = ctx.daemon.images_in_use()
    candidates = {s.image_id for u in untag for s in u.entry.manifest.services.values()}
    sizes = {i.id: i.size for i in images}
    removable = tuple(
        (image_id, sizes.get(image_id, 0))
        for image_id in sorted(candidates)
        if image_id in refs_of
        and not (refs_of[image_id] - going)
        and image_id not in in_use
        and image_id not in needed
    )
    return Plan(chosen, tuple(untag), kept, removable)


def prune(ctx: Context, chosen: Policy) -> Pruned:
    """Remove the image tags and images `plan` names (planned again under the lock), then let
    git tidy the store."""
    store = ctx.open_store()
    preflight.check(ctx, preflight.Needs(0, project=False))
    timeout = recorded(ctx.flags, store.live()).lock_timeout
    with mirror.changing(ctx, store, "prune", timeout):
        return _prune(ctx, store, plan(ctx, chosen, store))


def after_release(ctx: Context, store: Store, block: object) -> Pruned | None:
    """Prune after a successful deploy, update or rollback when the project set `keep:`
    (opt-in); under the lock the caller holds. A failure is a warning, never the release's."""
    settings = parse(block)
    if settings.keep is None:
        return None
    try:
        pruned = _prune(ctx, store, plan(ctx, Policy(settings.keep, settings.keep_for), store))
    except Exception as exc:  # noqa: BLE001 - the release stands whatever prune does
        ctx.reporter.warn(f"prune after the release failed ({one_line(exc)}); run `cfgroll prune`")
        return None
    if pruned.plan.untag:
        ctx.reporter.step(
            f"pruned the image tags of {len(pruned.plan.untag)} old release(s) (keep: "
            f"{settings.keep}), removed {len(pruned.removed)} image(s), freed {size(pruned.freed)}"
        )
    return pruned


def _prune(ctx: Context, store: Store, planned: Plan) -> Pruned:
    for u in planned.untag:
        for ref in u.refs:
            ctx.daemon.untag(ref)
    removed: list[str] = []
    refused: list[str] = []
    for image_id, _ in planned.images:
        (removed if ctx.daemon.remove_image(image_id) else refused).append(image_id)
    sizes = dict(planned.images)
    pruned = Pruned(planned, tuple(removed), tuple(refused), sum(sizes[i] for i in removed))
    if ctx.host is not None:  # a fleet host's run: its engine's images only (the fleet, which
        return pruned  # takes no `data:`, tidies the store once, after every host's run)
    from cfgroll.capabilities import data

    gone = data.forget(ctx, planned.kept)
    if gone:
        ctx.reporter.step(f"removed {len(gone)} dump(s) of releases beyond the policy")
    try:
        store.maintain()
    except Exception as exc:  # noqa: BLE001 - the tags are gone; tidying can wait
        ctx.reporter.warn(f"git maintenance of the store failed: {one_line(exc)}")
    return pruned


def pin(ctx: Context, tag: str, on: bool = True) -> tuple[Entry, bool]:
    """Pin (`on`) or unpin a release; the release, and whether anything changed."""
    store = ctx.open_store()
    timeout = recorded(ctx.flags, store.live()).lock_timeout
    with mirror.changing(ctx, store, "pin", timeout):
        entry = store.resolve(tag)
        if entry.manifest.kind != RELEASE:
            raise UsageError(
                f"{entry.tag} is a {entry.manifest.kind}, not a release: only releases can be "
                "pinned"
            )
        changed = store.pin(entry.tag, on)
    return entry, changed


def size(n: int) -> str:
    """`12.3 MB` (decimal units, as `docker images` shows them)."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 1000 or unit == "GB":
            break
    return f"{value:.1f} {unit}"
