"""What pull follows in this project and whether a person's change holds it, read without
fetching (`status` shows it; `pull` decides by it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cfgroll.context import Context
from cfgroll.errors import CfgrollError
from cfgroll.settings import KEY, settings
from cfgroll.store.repo import Store
from cfgroll.store.worktree import WorkTree, WorkTreeError

PULLED = "pulled"  # in the store: the last upstream commit a pull handled, and what was live


class PullRefused(WorkTreeError):
    """The work tree holds a person's work, or the upstream was rewritten (exit 1)."""


@dataclass(frozen=True)
class Held:
    """Pull is held: a person changed the stack by hand after the last pull handled the
    commit upstream still names (rolled back away from it, or deployed something else)."""

    tag: str  # the release the person made
    target: str | None  # what a rollback went back to (None: a deploy or update by hand)
    at: datetime

    @property
    def how(self) -> str:
        return f"rolled back by hand to {self.target}" if self.target else "deployed by hand"


def held(store: Store, upstream: str) -> Held | None:
    """Held while the live release was made by hand after the last pull handled `upstream`
    (a rollback, or a deploy of other files; an automatic rollback records no release): the
    person's choice stands over that commit. A new commit, or `--resume`, goes on."""
    live = store.live()
    commit, live_then = pulled_state(store)
    if live is None or commit != upstream:
        return None
    if live.manifest.git is not None and live.manifest.git.commit == upstream:
        return None  # what the pull deployed
    if live_then and live.tag == live_then:
        return None  # as the pull left it (it found nothing to change)
    if not live_then and live.manifest.action != "rollback":
        return None  # recorded before cfgroll noted what was live
    target = (live.manifest.target or "?") if live.manifest.action == "rollback" else None
    return Held(live.tag, target, live.manifest.created_at)


@dataclass(frozen=True)
class Following:
    """What `pull` follows in this project, as the last fetch left it (`status`)."""

    upstream: str  # remote/branch
    commit: str  # what it names, as of the last fetch
    head: str  # the commit checked out
    held: Held | None


def following(ctx: Context, store: Store) -> Following | None:
    """What pull follows here, without fetching; None when the project folder is not a git
    work tree on a branch that follows one."""
    try:
        tree = WorkTree.of(ctx.directory)
        branch = tree.branch()
        if branch is None:
            return None
        where, theirs = followed(ctx, tree, branch)
    except CfgrollError:
        return None
    commit = tree.named(f"refs/remotes/{where}/{theirs}") or ""
    return Following(f"{where}/{theirs}", commit, tree.head(), held(store, commit))


def pulled_state(store: Store) -> tuple[str, str]:
    """The commit the last pull handled, and the release live when it was done with it."""
    commit, _, live = read_line(store.path / PULLED).partition(" ")
    return commit, live.strip()


def read_line(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return ""


def followed(
    ctx: Context,
    tree: WorkTree,
    branch: str,
    remote: str | None = None,
    their_branch: str | None = None,
) -> tuple[str, str]:
    """The remote and branch to follow: the flags (`remote`, `their_branch`), else
    `x-cfgroll: pull:`, else the branch's upstream."""
    block = settings(ctx.compose.config()).pull
    upstream = tree.upstream(branch) or (None, None)
    where = remote or block[0] or upstream[0]
    theirs = their_branch or block[1] or upstream[1] or (branch if where else None)
    if where is None or theirs is None:
        raise PullRefused(
            f"the branch {branch} follows no remote branch; set one (git branch -u "
            f"origin/{branch}), or pass --remote and --branch, or `{KEY}: pull:`"
        )
    if where not in tree.remotes():
        raise PullRefused(f"the project's git repository has no remote {where!r}")
    return where, theirs
