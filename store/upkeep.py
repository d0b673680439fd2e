"""What the store holds besides its releases, and its upkeep: pins (releases retention never
touches), git notes (what ran after a release was recorded), `git update-ref` transactions,
packing, `git gc` and `git fsck`. Part of the store's git door with `cfgroll.store.repo`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import git

from cfgroll.errors import StoreError
from cfgroll.store.names import HOSTS_REFS
from cfgroll.store.objects import update_refs

if TYPE_CHECKING:
    from cfgroll.store.mirror import Mirror
    from cfgroll.store.repo import Entry

PINS = "refs/pins/"
TIDY_EVERY = 8  # releases written loose before they are packed (`tidy`)
NOTES_LOCK = "notes.lock"  # one note written at a time (`add_note`)
NOTES_WAIT = 60.0  # seconds a note waits for another's


class RefsAndUpkeep:
    """The part of `Store` that moves refs other than a release's and keeps the repository
    in shape."""

    _repo: git.Repo
    path: Path

    if TYPE_CHECKING:

        def resolve(self, ref: str) -> Entry: ...

    def mirror_url(self) -> str | None:
        """The mirror's URL (the store's git config, read in-process); None: no mirror."""
        from cfgroll.store.remote import url

        return url(self._repo)

    def mirror(self) -> Mirror:
        """The store's mirror: its URL, the sealed translation of the history, the pushes."""
        from cfgroll.store.mirror import Mirror

        return Mirror(self._repo, self.path)

    def fsck(self) -> list[str]:
        """What `git fsck --strict` finds wrong (dangling objects of failed writes are fine)."""
        try:
            self._repo.git.fsck("--strict", "--no-dangling", "--no-progress")
        except git.GitCommandError as exc:
            text = f"{exc.stdout or ''}\n{exc.stderr or ''}".replace("stderr: '", "")
            found = [line.strip(" '") for line in text.splitlines() if line.strip(" '")]
            return found or [f"git fsck exited {exc.status}"]
        return []

    # -- a fleet's hosts: the release each runs ---------------------------------------------

    def hosts_live(self) -> dict[str, str]:
        """The commit each fleet host's ref names (`refs/hosts/<name>`)."""
        return {
            ref.path.removeprefix(HOSTS_REFS): ref.commit.hexsha
            for ref in git.Reference.iter_items(self._repo, HOSTS_REFS)
        }

    def keep_log(self, ref: str) -> None:
        """Give `ref` a reflog (git appends to one that exists): every move of a host's live
        release is kept, as `main`'s are (`git reflog refs/hosts/<name>`)."""
        log = self.path / "logs" / ref
        if not log.exists():
            log.parent.mkdir(parents=True, exist_ok=True)
            log.touch()

    def moves(self, ref: str) -> list[str]:
        """The commits `ref` named, newest first, each once (from its reflog)."""
        try:
            lines = (self.path / "logs" / ref).read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        seen: list[str] = []
        for line in reversed(lines):
            fields = line.split(" ", 2)
            if len(fields) > 1 and fields[1] not in seen and fields[1] != "0" * 40:
                seen.append(fields[1])
        return seen

    def move_ref(self, ref: str, commit: str, expected: str | None, why: str) -> None:
        """Move `ref` to `commit` if it still names `expected` (None: it must not exist)."""
        self.keep_log(ref)
        old = expected or "0" * 40
        self._update_refs(f"update {ref} {commit} {old}\n", git.Actor(why, "cfgroll@localhost"))

    # -- pins: releases retention never touches ---------------------------------------------

    def pins(self) -> set[str]:
        """The tags pinned with `cfgroll pin` (refs `refs/pins/<tag>`)."""
        return {ref.path.removeprefix(PINS) for ref in git.Reference.iter_items(self._repo, PINS)}

    def pin(self, tag: str, on: bool = True) -> bool:
        """Pin (or unpin) the release `tag`; whether anything changed."""
        entry = self.resolve(tag)
        if (entry.tag in self.pins()) == on:
            return False
        actor = git.Actor(entry.manifest.user, "cfgroll@localhost")
        if on:
            self._update_refs(f"create {PINS}{entry.tag} {entry.commit}\n", actor)
        else:
            self._update_refs(f"delete {PINS}{entry.tag}\n", actor)
        return True

    def maintain(self) -> None:
        """git's own maintenance (`git gc`: pack, drop unreachable objects of failed writes),
        keeping the reflogs."""
        keep_reflogs = ["-c", "gc.reflogExpire=never", "-c", "gc.reflogExpireUnreachable=never"]
        self._repo.git.execute(["git", *keep_reflogs, "gc", "--quiet"])

    def after_interrupt(self) -> None:
        """Drop GitPython's long-running `git cat-file` helpers: a terminal's Ctrl-C reaches
        cfgroll's whole process group, so they died with it, and the next read would fail with
        a broken pipe. New ones start on the next read (recording the attempt, say)."""
        self.drop_readers()

    def drop_readers(self) -> None:
        """Stop GitPython's `git cat-file` helpers; new ones start on the next read (whose
        view of the repository is then fresh)."""
        self._repo.git.clear_cache()

    def add_note(self, commit: str, text: str) -> None:
        """Append `text` to the git note of `commit` (`refs/notes/commits`, so that plain
        `git log` shows it below the commit): what ran after a release was recorded."""
        env = {
            "GIT_AUTHOR_NAME": "cfgroll",
            "GIT_AUTHOR_EMAIL": "cfgroll@localhost",
            "GIT_COMMITTER_NAME": "cfgroll",
            "GIT_COMMITTER_EMAIL": "cfgroll@localhost",
        }
        from filelock import FileLock, Timeout

        # `git notes append` moves refs/notes/commits without checking what it named: two at
        # once (a fleet's host runs joining one release) lose one's text; one at a time
        lock = FileLock(str(self.path / NOTES_LOCK), timeout=NOTES_WAIT)
        with tempfile.TemporaryFile() as fh:
            fh.write(text.encode())
            fh.seek(0)
            try:
                with lock:
                    self._repo.git.notes("append", "-F", "-", commit, istream=fh, env=env)
            except Timeout as exc:
                raise StoreError(f"could not write a note in the store: {exc}") from exc
            except git.GitCommandError as exc:
                raise StoreError(f"could not write a note in the store: {exc.stderr}") from exc

    def note(self, commit: str) -> str:
        """The git note of `commit`, "" when it has none."""
        try:
            return str(self._repo.git.notes("show", commit))
        except git.GitCommandError:
            return ""

    def tidy(self) -> None:
        """Pack once `TIDY_EVERY` releases have been written loose since the last packing (a
        loose tag each tells): the cost of packing, which grows with the history (the packed
        tags are rewritten whole), is paid every few releases, not by each."""
        try:
            with os.scandir(self.path / "refs" / "tags") as found:
                loose = sum(1 for _ in found)
        except OSError:
            return
        if loose >= TIDY_EVERY:
            try:
                self.pack()
            except (git.GitCommandError, OSError):
                pass  # the releases are recorded; their loose objects wait for the next time

    def pack(self) -> None:
        """Pack the loose objects and refs releases leave (six objects and a tag each: seven
        files and seven disk blocks). Geometric repacking keeps a few packs whose sizes grow by
        halves, so the work per release stays small however long the history is."""
        self._repo.git.repack("-d", "-q", "--geometric=2")
        self._repo.git.pack_refs("--all", "--prune")

    def _update_refs(self, commands: str, actor: git.Actor) -> None:
        update_refs(self._repo, commands, actor)
