"""`cfgroll stats`: the delivery figures (DORA's four keys) of what actually ran on this host,
computed from the store's history: every deploy, update, failed attempt and rollback, with
its time.

- deployments: deploy and update runs, ok or failed (imports, baselines, drafts and rollbacks
  are not deployments);
- failures: failed attempts, and ok releases that a later rollback left;
- change failure rate: failures / deployments;
- time to restore, per failure: from the failed attempt (the moment it was found) or the
  failing release (when it was deployed) to the next ok state: the end of the attempt's
  automatic rollback, else the next ok release (the rollback or the fix that followed);
- deploys per week: deployments / the weeks from the window's start (`--since`, else the
  first deployment) to now, a day at the least;
- lead time: from the project commit to its deploy, for releases `cfgroll pull` made.

The figures are computed by `figures` from plain `Happened` records (tested with constructed
histories); `stats` reads them from the store.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from cfgroll.context import Context
from cfgroll.store.manifest import ATTEMPT, RELEASE, Action, Kind

if TYPE_CHECKING:
    from cfgroll.store.repo import Store

DEPLOYMENTS: tuple[Action, ...] = ("deploy", "update")
# the line a deploy's automatic rollback adds to its attempt's git note (`restored_note`)
_RESTORED = re.compile(r"^cfgroll: rolled back by itself; \S+ live again at (\S+)$", re.M)


@dataclass(frozen=True)
class Happened:
    """One release or attempt, as the figures see it."""

    tag: str
    action: Action
    kind: Kind
    at: datetime  # UTC
    ok: bool
    left: str | None = None  # the release that was live before it (what a rollback left)
    services: tuple[str, ...] = ()  # the services it changed
    restored_at: datetime | None = None  # an attempt: when its automatic rollback ended
    committed_at: datetime | None = None  # the project commit it was deployed from

    @property
    def deployment(self) -> bool:
        return self.action in DEPLOYMENTS and self.kind in (RELEASE, ATTEMPT)


@dataclass(frozen=True)
class Restore:
    """One failure and what ended it (None: nothing yet)."""

    failure: str
    started: datetime
    by: str | None
    seconds: float | None
    automatic: bool = False


@dataclass(frozen=True)
class Figures:
    deployments: int
    failures: int
    change_failure_rate: float | None  # None without deployments
    median_time_to_restore_s: float | None  # None without a restored failure
    deploys_per_week: float
    rollbacks_automatic: int
    rollbacks_by_hand: int
    median_lead_time_s: float | None  # None without a release deployed from a commit
    since: datetime | None = None
    service: str | None = None
    restores: list[Restore] = field(default_factory=list)
    window_days: float = 0.0


def restored_note(tag: str, at: datetime) -> str:
    """The git note line of an attempt whose automatic rollback put `tag` back at `at`."""
    return f"cfgroll: rolled back by itself; {tag} live again at {_iso(at)}"


def restored_at(note: str) -> datetime | None:
    found = _RESTORED.findall(note)
    return datetime.fromisoformat(found[-1].replace("Z", "+00:00")) if found else None


def figures(
    history: Sequence[Happened],
    now: datetime,
    since: datetime | None = None,
    service: str | None = None,
) -> Figures:
    """The figures of `history` (any order) within `since`..`now`; `service`: only the
    deployments that changed it (a failed attempt that names no service counts for all)."""
    ordered = sorted(history, key=_when)

    def counts(h: Happened) -> bool:
        if since is not None and h.at < since:
            return False
        return service is None or service in h.services or (not h.services and not h.ok)

    deployments = [h for h in ordered if h.deployment and counts(h)]
    failing: list[Happened] = [h for h in deployments if not h.ok]
    left = {h.left: h for h in ordered if h.action == "rollback" and h.ok and h.left}
    failing += [h for h in deployments if h.ok and h.tag in left]
    restores = [_restore(h, ordered, left.get(h.tag)) for h in sorted(failing, key=_when)]
    done = [r.seconds for r in restores if r.seconds is not None]
    rollbacks = [h for h in ordered if h.action == "rollback" and h.ok and counts(h)]
    automatic = [r for r in restores if r.automatic]
    leads = [
        (h.at - h.committed_at).total_seconds()
        for h in deployments
        if h.ok and h.committed_at is not None
    ]
    start = since or (deployments[0].at if deployments else now)
    days = max((now - start).total_seconds() / 86400, 1.0)
    return Figures(
        deployments=len(deployments),
        failures=len(failing),
        change_failure_rate=len(failing) / len(deployments) if deployments else None,
        median_time_to_restore_s=statistics.median(done) if done else None,
        deploys_per_week=round(len(deployments) / (days / 7), 2),
        rollbacks_automatic=len(automatic),
        rollbacks_by_hand=len(rollbacks),
        median_lead_time_s=statistics.median(leads) if leads else None,
        since=since,
        service=service,
        restores=restores,
        window_days=round(days, 1),
    )


def _when(h: Happened) -> tuple[datetime, str]:
    return h.at, h.tag


def _restore(failure: Happened, ordered: Sequence[Happened], rollback: Happened | None) -> Restore:
    if not failure.ok and failure.restored_at is not None:
        seconds = (failure.restored_at - failure.at).total_seconds()
        return Restore(failure.tag, failure.at, failure.left, max(seconds, 0.0), automatic=True)
    if rollback is not None:
        seconds = (rollback.at - failure.at).total_seconds()
        return Restore(failure.tag, failure.at, rollback.tag, max(seconds, 0.0))
    later = (h for h in ordered if h.ok and h.kind == RELEASE and _when(h) > _when(failure))
    fix = next((h for h in later if h.action in (*DEPLOYMENTS, "rollback")), None)
    if fix is None:
        return Restore(failure.tag, failure.at, None, None)
    return Restore(failure.tag, failure.at, fix.tag, (fix.at - failure.at).total_seconds())


def parse_since(value: str | None, now: datetime) -> datetime | None:
    """`30d`, `12h`, `2w` or an ISO date (`2026-11-01`) as a UTC moment; None for None."""
    if value is None:
        return None
    m = re.fullmatch(r"(\d+)\s*([hdw])", value.strip())
    if m:
        hours = {"h": 1, "d": 24, "w": 24 * 7}[m.group(2)] * int(m.group(1))
        return now - timedelta(hours=hours)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        from cfgroll.errors import UsageError

        raise UsageError(
            f"--since {value!r}: give an age (30d, 12h, 2w) or a date (2026-11-01)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def history(store: Store) -> list[Happened]:
    """Every release on `main` and every attempt of the store, as the figures see them (their
    manifests only: no file is read)."""
    entries = [*store.releases(), *store.side_entries()]
    tags = {entry.commit: entry.tag for entry in entries}
    found = []
    for entry in entries:
        m = entry.manifest
        if m.kind not in (RELEASE, ATTEMPT):
            continue
        restored = restored_at(store.note(entry.commit)) if m.kind == ATTEMPT else None
        found.append(
            Happened(
                m.tag,
                m.action,
                m.kind,
                m.created_at,
                m.result == "ok",
                tags.get(entry.parent or ""),
                tuple(m.services_changed),
                restored,
                m.git.committed_at if m.git else None,
            )
        )
    return found


def stats(ctx: Context, since: str | None = None, service: str | None = None) -> Figures:
    """The figures of this store's history, `since` (an age or a date) until now."""
    now = datetime.now(timezone.utc)
    return figures(history(ctx.open_store()), now, parse_since(since, now), service)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
