"""Pull mode: the host follows a branch of the project's git repository (`cfgroll pull`,
`cfgroll watch`). Each new upstream commit is fast-forwarded into the work tree and deployed
exactly as `cfgroll deploy` does; the release (or the failed attempt) records the commit. A
commit that failed is not tried again until the branch moves on (or `retry`); a person's work
(uncommitted changes, local commits) is never overwritten; a force-push is followed only when
asked (`allow_reset`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from cfgroll.capabilities import notify
from cfgroll.context import STORE_DIR, Context
from cfgroll.errors import CfgrollError, DeployFailed, one_line
from cfgroll.history.following import (
    PULLED,
    Held,
    PullRefused,
    followed,
    held,
    pulled_state,
    read_line,
)
from cfgroll.settings import KEY
from cfgroll.settings import parse as settings_of
from cfgroll.store import lock
from cfgroll.store.files import write_atomic
from cfgroll.store.manifest import ATTEMPT, GitSource
from cfgroll.store.names import names
from cfgroll.store.repo import Store
from cfgroll.store.worktree import FetchFailed, WorkTree
from cfgroll.transactions.deploy import Deployed, deploy
from cfgroll.transactions.init import ensure_store

FETCH_TIMEOUT = 60.0
HELD_TOLD = "held-told"  # in the store: the rollback whose hold was told
Outcome = Literal["up to date", "skipped", "deployed", "unchanged", "held"]


@dataclass(frozen=True)
class PullOptions:
    remote: str | None = None
    branch: str | None = None
    allow_reset: bool = False  # follow a force-pushed upstream
    retry: bool = False  # deploy a commit that failed before
    resume: bool = False  # deploy even though a rollback by hand holds the branch


@dataclass(frozen=True)
class Pulled:
    outcome: Outcome
    source: GitSource  # the upstream commit
    subject: str  # its first line
    deployed: Deployed | None = None
    failed_as: str = ""  # the attempt a skipped commit failed as
    held: Held | None = None  # why a held pull deployed nothing


def pull(ctx: Context, options: PullOptions = PullOptions()) -> Pulled:
    """Fetch the branch followed; deploy its commit when it is new. `DeployFailed` (exit 3)
    after the automatic rollback, with the work tree back on the live release's commit."""
    tree = WorkTree.of(ctx.directory)
    branch = tree.branch()
    if branch is None:
        raise PullRefused(
            "HEAD is detached in the project's git repository; check out the branch to follow "
            "(git switch BRANCH)"
        )
    where, theirs = followed(ctx, tree, branch, options.remote, options.branch)
    tree.exclude(STORE_DIR + "/")  # the store, never the project's `.gitignore`
    store = ensure_store(ctx).store
    wait = ctx.flags.lock_timeout or 0
    with lock.store_lock(store.path, "pull", wait, ctx.reporter.warn, nested=True):
        # the live release's own files (a rollback by hand wrote them) are safe in the store;
        # anything else that differs from the commit is a person's work
        changed = tree.changed()
        theirs_too = _live_files(ctx, store, changed)
        mine = [p for p in changed if p not in theirs_too]
        if mine:
            raise PullRefused(
                f"uncommitted changes to tracked files ({names(mine, 5)}); commit and push them, "
                "or `git stash` them; nothing was changed"
            )
        upstream = tree.fetch(where, theirs, FETCH_TIMEOUT)
        before = tree.former(f"refs/remotes/{where}/{theirs}")  # what it named until now
        source = tree.source(upstream, where, theirs)
        subject = tree.subject(upstream)
        head = tree.head()
        if not options.resume and (hold := held(store, upstream)) is not None:
            pulled = Pulled("held", source, subject, held=hold)
            told = store.path / HELD_TOLD
            if read_line(told) != hold.tag:  # once per rollback, not once per pull
                block = ctx.compose.config().get(KEY)
                notify.tell(ctx, block, "held", "cfgroll: pull is held", said(pulled))
                write_atomic(told, (hold.tag + "\n").encode(), private=True)
            return pulled
        if head == upstream and not changed and _handled(store, upstream):
            return Pulled("up to date", source, subject)
        failed = "" if options.retry else _failed_as(store, upstream)
        if failed:
            return Pulled("skipped", source, subject, failed_as=failed)
        if changed:
            tree.reset(head)  # the live release's files, kept in the store: the commit's again
        try:
            _move(tree, head, upstream, before, f"{where}/{theirs}", options.allow_reset)
            deployed = deploy(ctx, git=source)
        except BaseException:
            # the files are the live release's again (the deploy rolled back): so is the tree
            tree.reset(head)
            _write_back(ctx, theirs_too)
            raise
        live_now = deployed.entry.tag  # the new release, or the live one it left unchanged
        write_atomic(store.path / PULLED, f"{upstream} {live_now}\n".encode(), private=True)
    return Pulled("unchanged" if deployed.unchanged else "deployed", source, subject, deployed)


def _live_files(ctx: Context, store: Store, changed: list[str]) -> dict[str, bytes]:
    """Of the `changed` paths, those whose content on disk is the live release's, by path."""
    live = store.live()
    if live is None or not changed:
        return {}
    files = store.files(live)
    same = {}
    for path in changed:
        recorded = files.get(path)
        try:
            data = (ctx.directory / path).read_bytes()
        except OSError:
            continue
        if recorded is not None and recorded.data == data:
            same[path] = data
    return same


def _write_back(ctx: Context, files: dict[str, bytes]) -> None:
    """The live release's files back where they were (the tree was reset under them)."""
    for path, data in files.items():
        write_atomic(ctx.directory / path, data)


def _move(
    tree: WorkTree, head: str, upstream: str, before: list[str], name: str, allow_reset: bool
) -> None:
    """Bring the work tree to `upstream`: a fast-forward, or (a force-push, allowed) a reset;
    local commits are never thrown away. The checked-out commit was upstream's once (it is in
    what the tracking ref named before): the upstream was rewritten; else the commits are
    local."""
    if tree.contains(head, upstream):
        if head != upstream:
            tree.fast_forward(upstream)
        return
    was_upstream = any(tree.contains(head, old) for old in before if old != upstream)
    if tree.contains(upstream, head) or not was_upstream:
        raise PullRefused(
            f"the work tree has commits that are not on {name}; push them (or reset the "
            "branch to it) first; nothing was changed"
        )
    if not allow_reset:
        raise PullRefused(
            f"{name} was force-pushed: it no longer contains the commit checked out; "
            "`cfgroll pull --allow-reset` follows it; nothing was changed"
        )
    tree.reset(upstream)


def _handled(store: Store, commit: str) -> bool:
    """Whether `commit` is what the live release was deployed from, or what the last pull
    found nothing to change for."""
    live = store.live()
    if live is not None and live.manifest.git is not None and live.manifest.git.commit == commit:
        return True
    return pulled_state(store)[0] == commit


def _failed_as(store: Store, commit: str) -> str:
    """The newest failed attempt of `commit` (one that was interrupted does not count)."""
    found = [
        e
        for e in store.side_entries()
        if e.manifest.kind == ATTEMPT
        and e.manifest.git is not None
        and e.manifest.git.commit == commit
        and e.manifest.reason != "interrupted"
    ]
    return max(found, key=lambda e: e.manifest.created_at).tag if found else ""


# -- watch ----------------------------------------------------------------------------------

BACKOFF_MAX = 300.0


def watch(
    ctx: Context,
    options: PullOptions,
    interval: float,
    log: Callable[[str], None],
    stop: threading.Event,
    wake: threading.Event | None = None,
) -> None:
    """Pull every `interval` seconds until `stop` is set: one line per check and per deploy.
    A fetch that fails backs off (doubling, up to 5 min); no error ends the loop. `wake` (a
    push webhook, or whoever sets `stop`) ends a wait at once; a burst of them, one pull."""
    delay = interval
    told = ""  # a held branch is said once, not every interval
    failing_since: float | None = None  # when fetching started to fail, until it works again
    outage_told = False  # the notify targets hear of an outage once
    while not stop.is_set():
        try:
            line = said(pull(ctx, options))
            if not (line.startswith("held:") and line == told):
                log(line)
            told = line
            delay = interval
            failing_since, outage_told = None, False
        except FetchFailed as exc:
            delay = min(max(delay * 2, interval), BACKOFF_MAX)
            log(f"{one_line(exc)}; trying again in {delay:g} s")
            now = time.monotonic()
            failing_since = now if failing_since is None else failing_since
            # the settings are read only once it has failed a minute (the least one can set)
            if not outage_told and now - failing_since >= 60:
                block = _block(ctx)
                minutes = settings_of(block).notify.fetch_minutes
                if now - failing_since >= minutes * 60:
                    notify.tell(
                        ctx,
                        block,
                        "unreachable",
                        "cfgroll: pull cannot fetch",
                        f"{one_line(exc)}; for {minutes:g} minutes now; the host runs what it ran",
                    )
                    outage_told = True
        except DeployFailed as exc:
            if isinstance(exc.__cause__, KeyboardInterrupt):
                log(one_line(exc))
                raise KeyboardInterrupt from exc  # Ctrl-C: rolled back, and the watch ends
            log(f"{one_line(exc)}; this commit is skipped until the branch moves on")
            delay = interval
        except CfgrollError as exc:
            log(f"{one_line(exc)}; checking again in {interval:g} s")
            delay = interval
        if stop.is_set():
            break
        if wake is None:
            stop.wait(delay)
        else:
            wake.wait(delay)
            wake.clear()


def _block(ctx: Context) -> object:
    try:
        return ctx.compose.config().get(KEY)
    except CfgrollError:
        return None


def said(pulled: Pulled) -> str:
    """One line for what a pull did."""
    at = f"{pulled.source.short} ({pulled.source.remote}/{pulled.source.branch})"
    if pulled.outcome == "up to date":
        return f"up to date at {at}"
    if pulled.outcome == "held" and pulled.held is not None:
        h = pulled.held
        return (
            f"held: {h.how} at {h.at:%Y-%m-%d %H:%M} UTC ({h.tag}); "
            f"{pulled.source.short} will not be deployed again; a new commit on "
            f"{pulled.source.remote}/{pulled.source.branch}, or `cfgroll pull --resume`, goes on"
        )
    if pulled.outcome == "skipped":
        return (
            f"skipping {at}: it failed as {pulled.failed_as}; push a fix, or `cfgroll pull --retry`"
        )
    assert pulled.deployed is not None
    if pulled.outcome == "unchanged":
        return f"{at} changes nothing the stack reads: nothing recorded"
    return f"deployed {pulled.deployed.entry.tag} from {at}: {pulled.subject}"


def stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
