"""The store's bare git repository: opening it, reading releases, recording one. With
`cfgroll.store.objects` and `cfgroll.store.upkeep`, the only code that imports GitPython.

A release is written from objects up (blobs, trees, the commit, its annotated tag), and only
then do `main` and the tag move, together in one `git update-ref --stdin` transaction: a
release that fails half-way leaves unreachable objects (`git gc` removes them), nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import git

from cfgroll import faults
from cfgroll.errors import StoreError, UnknownRelease
from cfgroll.store.files import FileData, Files, kind_of
from cfgroll.store.manifest import MANIFEST_PATH, OWN_FILES, Manifest
from cfgroll.store.manifest_yaml import (
    manifest_from_doc,
    manifest_from_yaml,
    manifest_to_yaml,
    parse,
)
from cfgroll.store.names import (
    ATTEMPT_PREFIX,
    DRAFT_PREFIX,
    RELEASE_PREFIX,
    STAMP_RE,
    host_ref,
)
from cfgroll.store.objects import Objects, tree_files
from cfgroll.store.statcache import Known, StatCache
from cfgroll.store.summaries import Summaries, Summary
from cfgroll.store.upkeep import RefsAndUpkeep

MAIN_REF = "refs/heads/main"
# Durability: git syncs the objects, packs and refs it writes itself; cfgroll syncs the loose
# objects it writes in-process before any ref points at them (see `record`).
DURABLE = {"fsync": "objects,reference", "fsyncMethod": "fsync"}
# What GitPython and gitdb raise for a damaged or unreadable repository.
_DAMAGE = (git.GitError, ValueError, KeyError, IndexError, AssertionError)


@dataclass(frozen=True)
class Entry:
    """One commit of the store: a release (on `main`), a failed attempt or a draft."""

    commit: str
    parent: str | None
    manifest: Manifest

    @property
    def tag(self) -> str:
        return self.manifest.tag


class Store(RefsAndUpkeep):
    """A cfgroll store at `path` (a bare git repository). `host`: a fleet's host (issue 38),
    whose live release is `refs/hosts/<host>` instead of `main`."""

    def __init__(self, path: Path, repo: git.Repo, host: str | None = None) -> None:
        self.path = path
        self._repo = repo
        self.host = host
        self.live_ref = host_ref(host) if host else MAIN_REF
        self._summaries = Summaries(path)
        # A commit never changes: what `files` read once serves every later call (a deploy
        # compares, checks and records against the same live release).
        self._files: dict[str, Files] = {}
        self._entries: dict[str, Entry] = {}

    # -- opening ---------------------------------------------------------------------------

    @staticmethod
    def exists(path: Path) -> bool:
        return (path / "HEAD").is_file() and (path / "objects").is_dir()

    @classmethod
    def open(cls, path: Path, host: str | None = None) -> Store:
        """Open the store at `path` (for the fleet's `host`); `StoreError` when there is none."""
        if not cls.exists(path):
            raise StoreError(
                f"there is no cfgroll store at {path}; run `cfgroll init` or `cfgroll deploy` "
                "in the project first, or point --store / CFGROLL_STORE at the store"
            )
        try:
            store = cls(path, git.Repo(path), host)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
            raise StoreError(
                f"{path} is not a readable git repository ({type(exc).__name__}); run "
                "`cfgroll doctor` to check it"
            ) from exc
        if not store.durable():
            try:
                store.make_durable()  # a store made by an older cfgroll
            except OSError:
                pass  # read-only: reading works; `cfgroll doctor` reports it
        return store

    def durable(self) -> bool:
        """Whether git is told to sync what it writes (objects, packs, refs)."""
        reader = self._repo.config_reader("repository")
        return all(
            str(reader.get_value("core", key, "")) == value for key, value in DURABLE.items()
        )

    def make_durable(self) -> None:
        with self._repo.config_writer() as cfg:
            for key, value in DURABLE.items():
                cfg.set_value("core", key, value)

    @classmethod
    def create(cls, path: Path, description: str = "") -> tuple[Store, bool]:
        """Open the store at `path`, creating it private (0700) if needed; True if created."""
        if cls.exists(path):
            return cls.open(path), False
        if path.exists() and any(path.iterdir()):
            raise StoreError(f"{path} exists and is not a cfgroll store; choose another --store")
        old_umask = os.umask(0o077)  # everything created below is private to the owner
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(path, 0o700)
            # no template: no sample hooks, nothing but what git needs
            repo = git.Repo.init(
                path, bare=True, initial_branch="main", template="", allow_unsafe_options=True
            )
            with repo.config_writer() as cfg:
                # Objects and refs that plain git writes later stay private too.
                cfg.set_value("core", "sharedRepository", "0600")
                # A reflog for `main` only (every move of the live release, kept forever):
                # git appends to a reflog that exists. With logAllRefUpdates, HEAD (which
                # points at main) would log each move a second time.
                cfg.set_value("core", "logAllRefUpdates", "false")
                # Releases are packed every few (see `tidy`); plain git's own gc must
                # not detach from the command that triggered it, nor write dumb-HTTP info.
                cfg.set_value("gc", "autoDetach", "false")
                cfg.set_value("repack", "updateServerInfo", "false")
                for key, value in DURABLE.items():
                    cfg.set_value("core", key, value)
            (path / "logs" / "refs" / "heads").mkdir(parents=True)
            (path / "logs" / "refs" / "heads" / "main").touch()
            if description:
                (path / "description").write_text(description + "\n", encoding="utf-8")
        finally:
            os.umask(old_umask)
        return cls(path, repo), True

    # -- reading ---------------------------------------------------------------------------

    def _entry(self, commit: git.Commit) -> Entry:
        """The release (or attempt, draft) `commit` is; read once per commit (it never
        changes)."""
        if commit.hexsha not in self._entries:
            self._entries[commit.hexsha] = self._read_entry(commit)
        return self._entries[commit.hexsha]

    def _read_entry(self, commit: git.Commit) -> Entry:
        try:
            blob = commit.tree / MANIFEST_PATH
        except KeyError:
            raise StoreError(
                f"commit {commit.hexsha[:12]} in {self.path} has no {MANIFEST_PATH}; "
                "it was not written by cfgroll"
            ) from None
        except _DAMAGE as exc:
            raise damaged(self.path, exc) from exc
        parent = commit.parents[0].hexsha if commit.parents else None
        try:
            data = blob.data_stream.read()
        except _DAMAGE as exc:
            raise damaged(self.path, exc) from exc
        return Entry(commit.hexsha, parent, manifest_from_yaml(data))

    def _main(self) -> git.Commit | None:
        try:
            return self._repo.commit(self.live_ref)
        except (git.BadName, ValueError):
            return None

    def live(self) -> Entry | None:
        """The release `main` (a host's ref) points at: the one that is (or last was)
        deployed."""
        commit = self._main()
        return None if commit is None else self._entry(commit)

    def entry(self, commit: str) -> Entry:
        return self._entry(self._repo.commit(commit))

    def has_tag(self, name: str) -> bool:
        return git.TagReference(self._repo, f"refs/tags/{name}").is_valid()

    def resolve(self, ref: str) -> Entry:
        """A release or attempt by tag, by timestamp, or by alias (`live`, `previous`)."""
        if ref in ("live", "current"):
            live = self.live()
            if live is None:
                raise UnknownRelease(ref, "the store has no release yet")
            return live
        if ref == "previous":
            live = self.live()
            if live is None or live.parent is None:
                raise UnknownRelease(ref, "there is no release before the live one")
            return self.entry(live.parent)
        candidates = [ref]
        if STAMP_RE.match(ref):
            candidates = [p + ref for p in (RELEASE_PREFIX, ATTEMPT_PREFIX, DRAFT_PREFIX)]
        for name in candidates:
            if self.has_tag(name):
                return self._entry(git.TagReference(self._repo, f"refs/tags/{name}").commit)
        raise UnknownRelease(ref)

    def releases(self) -> Iterator[Entry]:
        """The releases on `main`, newest first (lazily: stop reading when you have enough).

        The newest come from the summaries cache (`cfgroll.store.summaries`); from the first
        commit it lacks, one `git rev-list` names the rest with their parents, and each
        manifest is one read of `commit:.cfgroll/manifest.yaml`. A fleet host's: the releases
        its ref named, newest first, from the ref's reflog (what ran there, in order)."""
        if self.host is not None:
            yield from (self.entry(sha) for sha in self.moves(self.live_ref))
            return
        sha = self._main_sha()
        while sha is not None:
            cached = self._summaries.get(sha)
            if cached is None:
                break
            yield Entry(sha, cached.parent, manifest_from_doc(cached.doc))
            sha = cached.parent
        if sha is None:
            return
        proc = self._repo.git.rev_list("--first-parent", "--parents", sha, as_process=True)
        try:
            for line in proc.stdout:
                sha, *parents = line.decode().split()
                parent = parents[0] if parents else None
                doc = self._doc_of(sha)
                self._summaries.put(sha, Summary(parent, doc, None))
                yield Entry(sha, parent, manifest_from_doc(doc))
        finally:
            proc.proc.kill()
            proc.proc.wait()

    def _main_sha(self) -> str | None:
        """The commit `main` names, read from the ref files (no object read)."""
        try:
            return str(git.SymbolicReference.dereference_recursive(self._repo, self.live_ref))
        except (ValueError, OSError):
            return None

    def _doc_of(self, sha: str) -> Any:
        data = self._blob_at(sha, MANIFEST_PATH)
        if data is None:
            self._entry(self._repo.commit(sha))  # raises what is wrong with it
            raise StoreError(f"commit {sha[:12]} holds no {MANIFEST_PATH}")
        return parse(data)

    def _blob_at(self, sha: str, path: str) -> bytes | None:
        """The content of `path` in commit `sha`, None when the commit has no such file."""
        try:
            _, _, _, stream = self._repo.git.stream_object_data(f"{sha}:{path}")
            return bytes(stream.read())
        except ValueError:
            return None
        except _DAMAGE as exc:
            raise damaged(self.path, exc) from exc

    def save_cache(self) -> None:
        """Keep what reading found in the summaries cache, for the next read."""
        self._summaries.save()

    def side_entries(self) -> list[Entry]:
        """Failed attempts and drafts (commits reachable only by their tag); a fleet host's
        own, for a store opened for one."""
        found = []
        for ref in self._repo.tags:
            if ref.name.startswith((ATTEMPT_PREFIX, DRAFT_PREFIX)):
                found.append(self._entry(ref.commit))
        return [e for e in found if self.host is None or e.manifest.fleet_host == self.host]

    def file_ids(self, entry: Entry) -> dict[str, str]:
        """Project-relative path -> blob id and mode of every project file of `entry` (equal
        when the content and the kind are equal): its trees read straight from git, one read
        each."""
        cached = self._summaries.get(entry.commit)
        if cached is not None and cached.file_ids is not None:
            return dict(cached.file_ids)
        try:
            files = tree_files(self._object, f"{entry.commit}^{{tree}}")
        except _DAMAGE as exc:
            raise damaged(self.path, exc) from exc
        found = {p: f"{mode:o} {sha}" for p, (mode, sha) in files.items() if p not in OWN_FILES}
        if cached is not None:
            self._summaries.put(entry.commit, replace(cached, file_ids=found))
        return found

    def _object(self, ref: str) -> bytes:
        _, _, _, stream = self._repo.git.stream_object_data(ref)
        return bytes(stream.read())

    def own_file(self, entry: Entry, path: str) -> bytes | None:
        """One of cfgroll's own files (`OWN_FILES`) of `entry`, None when it has none."""
        return self._blob_at(entry.commit, path)

    def files(self, entry: Entry) -> Files:
        """Project-relative path -> content and kind of every project file of `entry`, each
        read from the store when first asked for."""
        if entry.commit not in self._files:
            self._files[entry.commit] = Files(self.file_ids(entry), self.load)
        return self._files[entry.commit]

    def load(self, file_id: str) -> FileData:
        """The file the store names `file_id` ("mode blob-id", as `file_ids` gives)."""
        try:
            data = self._object(file_id.split(" ", 1)[1])
        except _DAMAGE as exc:
            raise damaged(self.path, exc) from exc
        return FileData(data, kind_of(file_id))

    def known(self, directory: Path, entry: Entry | None) -> Known:
        """What reading `directory` may take as known: its stat cache, `entry`'s files."""
        ids = self.files(entry).ids if entry is not None else {}
        return Known(StatCache(directory, self.path), ids, self.load)

    def tags(self) -> list[str]:
        """Every tag's name."""
        return [ref.name for ref in self._repo.tags]

    def tag_entry(self, name: str) -> Entry:
        try:
            commit = git.TagReference(self._repo, f"refs/tags/{name}").commit
        except _DAMAGE as exc:
            raise damaged(self.path, exc) from exc
        return self._entry(commit)

    # -- writing ---------------------------------------------------------------------------

    def record(
        self,
        files: Mapping[str, FileData],
        manifest: Manifest,
        message: str,
        parent: str | None,
        on_main: bool,
        pack: bool = True,
        own: Mapping[str, bytes] | None = None,
    ) -> Entry:
        """Write `files` and `manifest` as one commit with the annotated tag `manifest.tag`.

        `on_main`: the commit becomes the live release (`main` moves from `parent` to it, or
        nothing is written if `main` moved meanwhile); otherwise it is a side commit on `parent`
        reachable only by its tag. `pack=False` leaves the objects loose (for bulk imports that
        call `pack()` once at the end). `own`: cfgroll's own files beside the manifest
        (`OWN_FILES`: a Swarm release's rendered stack file).
        """
        taken = sorted(p for p in files if p in OWN_FILES)
        if taken:
            raise StoreError(f"{taken[0]} is cfgroll's own path; rename that project file")
        extra = {p: FileData(data) for p, data in (own or {}).items()}
        manifest_file = FileData(manifest_to_yaml(manifest).encode())
        actor = git.Actor(manifest.user, f"{manifest.user}@{manifest.host}")
        stamp = int(manifest.created_at.timestamp())
        who = f"{actor.name} <{actor.email}> {stamp} +0000"
        commit_sha, tag_sha = Objects(self._repo, self.path).release(
            Files.of(files).adding({**extra, MANIFEST_PATH: manifest_file}),
            who,
            message,
            parent,
            manifest.tag,
        )
        faults.point("store:objects-written")
        zero = "0" * 40
        commands = f"create refs/tags/{manifest.tag} {tag_sha}\n"
        if on_main:
            self.keep_log(self.live_ref)
            commands += f"update {self.live_ref} {commit_sha} {parent or zero}\n"
        self._update_refs(commands, actor)
        faults.point("store:refs-moved")
        if pack and self.host is None:  # a fleet's host runs pack once, after them all
            self.tidy()
        return Entry(commit_sha, parent, manifest)


def damaged(path: Path, exc: BaseException) -> StoreError:
    detail = " ".join(str(exc).split())[:200] or type(exc).__name__
    return StoreError(
        f"the store {path} is damaged or unreadable ({detail}); run `cfgroll doctor` to see "
        "what is wrong, and restore the store from a copy (`git clone`) if it names lost objects"
    )
