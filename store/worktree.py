"""The project's own git repository, when the project folder is in one: which files it tracks
(what a writable folder records), and what `cfgroll pull` asks of it (its branch and upstream,
local changes, fetch, fast-forward). Part of the store's git door with `cfgroll.store.repo`;
nothing here writes to the store."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import git

from cfgroll.errors import CfgrollError
from cfgroll.store import remote
from cfgroll.store.manifest import GitSource


class WorkTreeError(CfgrollError):
    """The project's git repository cannot do what was asked (exit 1)."""


class FetchFailed(WorkTreeError):
    """The remote could not be fetched (a network error: try again later)."""


def tracked_paths(folder: Path) -> set[Path] | None:
    """The files under `folder` that the git repository holding it tracks (its index), as
    absolute paths; None when `folder` is not inside a git work tree."""
    found = _repo(folder)
    if found is None:
        return None
    repo, top = found
    try:
        under = folder.resolve().relative_to(top).as_posix()
    except ValueError:
        return None
    prefix = "" if under == "." else under + "/"
    try:
        entries = repo.index.entries
    except (OSError, ValueError, git.GitError):
        return set()  # no index yet: nothing is tracked
    return {top / path for path, _stage in entries if str(path).startswith(prefix)}


def committed(folder: Path) -> set[Path]:
    """The files under `folder` that git tracks and that are as HEAD has them (nothing of
    them lives only on disk); none outside a work tree."""
    tracked = tracked_paths(folder)
    if not tracked:
        return set()
    tree = WorkTree.of(folder)
    try:
        changed = tree.changed()
    except WorkTreeError:
        return set()
    return tracked - {tree.top / path for path in changed}


def _repo(folder: Path) -> tuple[git.Repo, Path] | None:
    try:
        repo = git.Repo(folder, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    if repo.bare or repo.working_tree_dir is None:
        return None
    return repo, Path(repo.working_tree_dir).resolve()


class WorkTree:
    """The git work tree holding a project folder."""

    def __init__(self, repo: git.Repo, top: Path) -> None:
        self._repo = repo
        self.top = top

    @classmethod
    def of(cls, folder: Path) -> WorkTree:
        found = _repo(folder)
        if found is None:
            raise WorkTreeError(
                f"{folder} is not in a git work tree; `cfgroll pull` follows a branch of the "
                "project's git repository: clone it here (git clone URL), or deploy with "
                "`cfgroll deploy`"
            )
        return cls(*found)

    def _git(self, *args: str) -> str:
        try:
            return str(self._repo.git.execute(["git", *args]))
        except git.GitCommandError as exc:
            why = " ".join(str(exc.stderr).split()).removeprefix("stderr: ").strip("'")
            raise WorkTreeError(f"git {args[0]} failed in {self.top}: {remote.shown(why)}") from exc

    def branch(self) -> str | None:
        """The branch checked out; None when HEAD is detached."""
        try:
            return str(self._repo.active_branch.name)
        except TypeError:
            return None

    def upstream(self, branch: str) -> tuple[str, str] | None:
        """The remote and the remote's branch `branch` follows (`git branch -u`), if any."""
        reader = self._repo.config_reader("repository")
        section = f'branch "{branch}"'
        if not reader.has_section(section):
            return None
        where = str(reader.get_value(section, "remote", ""))
        merge = str(reader.get_value(section, "merge", ""))
        if not where or not merge:
            return None
        return where, merge.removeprefix("refs/heads/")

    def exclude(self, pattern: str) -> None:
        """Ignore `pattern` in this clone only (`info/exclude`): never an edit to a tracked
        file such as `.gitignore`."""
        path = Path(self._repo.git_dir) / "info" / "exclude"
        old = path.read_text(encoding="utf-8") if path.is_file() else ""
        if pattern in (line.strip() for line in old.splitlines()):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        sep = "" if not old or old.endswith("\n") else "\n"
        path.write_text(
            f"{old}{sep}# cfgroll's store (cfgroll pull)\n{pattern}\n", encoding="utf-8"
        )

    def remotes(self) -> list[str]:
        return [r.name for r in self._repo.remotes]

    def named(self, ref: str) -> str | None:
        """The commit `ref` names, if it exists."""
        try:
            return str(self._repo.git.execute(["git", "rev-parse", "--verify", "-q", ref]))
        except git.GitCommandError:
            return None

    def head(self) -> str:
        return self._git("rev-parse", "HEAD").strip()

    def former(self, ref: str, most: int = 20) -> list[str]:
        """The commits `ref` named before, newest first (its reflog: a remote-tracking ref's
        earlier values)."""
        try:
            out = self._repo.git.log("-g", f"-n{most}", "--format=%H", ref)
        except git.GitCommandError:
            return []
        return list(dict.fromkeys(str(out).split()))

    def changed(self) -> list[str]:
        """Tracked files with changes not committed (staged or not), both sides of a rename.
        Read NUL-separated: git quotes a path with a space or a non-ASCII letter otherwise."""
        fields = self._git("status", "--porcelain", "-z", "--untracked-files=no").split("\0")
        found, i = [], 0
        while i < len(fields):
            entry = fields[i]
            i += 1
            if len(entry) < 4:
                continue
            found.append(entry[3:])
            if entry[0] in "RC":  # a rename or copy: its source follows
                found.append(fields[i])
                i += 1
        return found

    def fetch(self, where: str, branch: str, timeout: float) -> str:
        """Fetch `branch` of the remote `where` (its tracking ref moves); the commit it names."""
        done = remote.bounded(self._repo, ["fetch", "--quiet", where, branch], timeout)
        if done is None:
            raise FetchFailed(f"fetching {where} did not finish within {timeout:g} s")
        code, _out, err = done
        if code != 0:
            if "couldn't find remote ref" in err:
                raise FetchFailed(
                    f"the branch {branch} is gone from {where}; nothing was changed; point "
                    "`cfgroll pull --branch` (or `x-cfgroll: pull:`) at the branch to follow"
                )
            raise FetchFailed(f"could not fetch {branch} from {where}: {remote.said(err, code)}")
        return self._git("rev-parse", "FETCH_HEAD^{commit}").strip()

    def contains(self, ancestor: str, descendant: str) -> bool:
        """Whether `ancestor` is `descendant` or one of its ancestors."""
        try:
            self._repo.git.merge_base("--is-ancestor", ancestor, descendant)
        except git.GitCommandError:
            return False
        return True

    def fast_forward(self, commit: str) -> None:
        self._git("merge", "--ff-only", "--quiet", commit)

    def reset(self, commit: str) -> None:
        """Put the branch, the index and the tracked files at `commit` (the work tree was
        clean before cfgroll moved it)."""
        self._git("reset", "--hard", "--quiet", commit)

    def source(self, commit: str, where: str, branch: str) -> GitSource:
        """What a release records of the commit it was deployed from."""
        author, stamp = self._git("show", "-s", "--format=%an <%ae>%n%ct", commit).splitlines()
        moment = datetime.fromtimestamp(int(stamp), tz=timezone.utc)
        return GitSource(commit, branch, where, author, moment)

    def subject(self, commit: str) -> str:
        return self._git("show", "-s", "--format=%s", commit).strip()
