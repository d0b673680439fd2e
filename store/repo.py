"""The store's bare git repository. This is the only module that imports GitPython.

A release is written from objects up: blobs, trees, the commit and its annotated tag go into the
object database first, and only then do the refs move, `main` and the tag together in one
`git update-ref --stdin` transaction. A release that fails half-way leaves unreachable objects
(which `git gc` removes) and no visible change.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import git
from git.objects.fun import tree_entries_from_data, tree_to_stream
from gitdb import IStream, LooseObjectDB

from cfgroll import faults
from cfgroll.errors import StoreError, UnknownRelease
from cfgroll.store import system
from cfgroll.store.files import FileData, FileKind, fsync_dir
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
)
from cfgroll.store.summaries import Summaries, Summary

MAIN_REF = "refs/heads/main"
TIDY_EVERY = 8  # releases written loose before they are packed (`Store.tidy`)
PINS = "refs/pins/"
_TREE_MODE = 0o040000
_MODES: dict[FileKind, int] = {"file": 0o100644, "exec": 0o100755, "link": 0o120000}
_KINDS = {mode: kind for kind, mode in _MODES.items()}
# Durability: git syncs the objects, packs and refs it writes itself; cfgroll syncs the loose
# objects it writes in-process before any ref points at them (see `record`).
DURABLE = {"fsync": "objects,reference", "fsyncMethod": "fsync"}
# What GitPython and gitdb raise for a damaged or unreadable repository.
_DAMAGE = (git.GitError, ValueError, KeyError, IndexError, AssertionError)
_Node = dict[str, "tuple[bytes, int] | _Node"]  # a folder: name -> (blob id, mode) or sub-folder


@dataclass(frozen=True)
class Entry:
    """One commit of the store: a release (on `main`), a failed attempt or a draft."""

    commit: str
    parent: str | None
    manifest: Manifest

    @property
    def tag(self) -> str:
        return self.manifest.tag


class Store:
    """A cfgroll store at `path` (a bare git repository)."""

    def __init__(self, path: Path, repo: git.Repo) -> None:
        self.path = path
        self._repo = repo
        self._written: list[bytes] = []  # objects written by the current `record`
        self._loose = LooseObjectDB(str(path / "objects"))
        self._summaries = Summaries(path)
        # A commit never changes: what `files` read once serves every later call (a deploy
        # compares, checks and records against the same live release).
        self._files: dict[str, dict[str, FileData]] = {}

    # -- opening ---------------------------------------------------------------------------

    @staticmethod
    def exists(path: Path) -> bool:
        return (path / "HEAD").is_file() and (path / "objects").is_dir()

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open the store at `path`; `StoreError` when there is none."""
        if not cls.exists(path):
            raise StoreError(
                f"there is no cfgroll store at {path}; run `cfgroll init` or `cfgroll deploy` "
                "in the project first, or point --store / CFGROLL_STORE at the store"
            )
        try:
            store = cls(path, git.Repo(path))
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
            return self._repo.commit(MAIN_REF)
        except (git.BadName, ValueError):
            return None

    def live(self) -> Entry | None:
        """The release `main` points at: the one that is (or last was) deployed."""
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
        manifest is one read of `commit:.cfgroll/manifest.yaml`."""
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
            return str(git.SymbolicReference.dereference_recursive(self._repo, MAIN_REF))
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
        """Failed attempts and drafts (commits reachable only by their tag)."""
        found = []
        for ref in self._repo.tags:
            if ref.name.startswith((ATTEMPT_PREFIX, DRAFT_PREFIX)):
                found.append(self._entry(ref.commit))
        return found

    def _blobs(self, entry: Entry) -> Iterator[git.Blob]:
        for item in self._repo.commit(entry.commit).tree.traverse():
            if isinstance(item, git.Blob) and item.path not in OWN_FILES:
                yield item

    def file_ids(self, entry: Entry) -> dict[str, str]:
        """Project-relative path -> blob id and mode of every project file of `entry` (equal
        when the content and the kind are equal): its trees read straight from git, one read
        each."""
        cached = self._summaries.get(entry.commit)
        if cached is not None and cached.file_ids is not None:
            return dict(cached.file_ids)
        found: dict[str, str] = {}
        try:
            self._tree_ids(f"{entry.commit}^{{tree}}", "", found)
        except _DAMAGE as exc:
            raise damaged(self.path, exc) from exc
        found = {p: i for p, i in found.items() if p not in OWN_FILES}
        if cached is not None:
            self._summaries.put(entry.commit, replace(cached, file_ids=found))
        return found

    def _tree_ids(self, ref: str, prefix: str, found: dict[str, str]) -> None:
        _, _, _, stream = self._repo.git.stream_object_data(ref)
        for binsha, mode, name in tree_entries_from_data(stream.read()):
            if mode == _TREE_MODE:
                self._tree_ids(binsha.hex(), f"{prefix}{name}/", found)
            else:
                found[prefix + name] = f"{mode:o} {binsha.hex()}"

    def own_file(self, entry: Entry, path: str) -> bytes | None:
        """One of cfgroll's own files (`OWN_FILES`) of `entry`, None when it has none."""
        return self._blob_at(entry.commit, path)

    def files(self, entry: Entry) -> dict[str, FileData]:
        """Project-relative path -> content and kind of every project file of `entry`."""
        if entry.commit not in self._files:
            try:
                self._files[entry.commit] = {
                    str(blob.path): FileData(
                        bytes(blob.data_stream.read()), _KINDS.get(blob.mode, "file")
                    )
                    for blob in self._blobs(entry)
                }
            except _DAMAGE as exc:
                raise damaged(self.path, exc) from exc
        return dict(self._files[entry.commit])

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
        self._written = []
        extra = {p: FileData(data) for p, data in (own or {}).items()}
        tree = self._write_tree(
            {**files, **extra, MANIFEST_PATH: FileData(manifest_to_yaml(manifest).encode())}
        )
        actor = git.Actor(manifest.user, f"{manifest.user}@{manifest.host}")
        stamp = int(manifest.created_at.timestamp())
        who = f"{actor.name} <{actor.email}> {stamp} +0000"
        commit_body = (
            f"tree {tree.hex()}\n"
            + (f"parent {parent}\n" if parent else "")
            + f"author {who}\ncommitter {who}\n\n{message}"
        ).encode()
        commit_sha = self._store_object("commit", commit_body).hex()
        tag_body = (
            f"object {commit_sha}\ntype commit\ntag {manifest.tag}\n"
            f"tagger {who}\n\n"
            f"{message.splitlines()[0]}\n"
        ).encode()
        tag_sha = self._store_object("tag", tag_body).hex()
        # No ref may point at an object that a power cut could still take away.
        self._sync_objects(self._written)
        faults.point("store:objects-written")
        zero = "0" * 40
        commands = f"create refs/tags/{manifest.tag} {tag_sha}\n"
        if on_main:
            commands += f"update {MAIN_REF} {commit_sha} {parent or zero}\n"
        self._update_refs(commands, actor)
        faults.point("store:refs-moved")
        if pack:
            self.tidy()
        return Entry(commit_sha, parent, manifest)

    def _sync_objects(self, shas: list[bytes]) -> None:
        """fsync the loose object files written in-process (gitdb does not) and their
        folders, so the objects are on disk before a ref names them."""
        folders = set()
        for sha in shas:
            hexsha = sha.hex()
            path = self.path / "objects" / hexsha[:2] / hexsha[2:]
            try:
                system.fsync_file(path)
            except FileNotFoundError:
                continue  # it was already in a pack
            folders.add(path.parent)
        for folder in (*folders, self.path / "objects"):
            fsync_dir(folder)

    def fsck(self) -> list[str]:
        """What `git fsck --strict` finds wrong (dangling objects of failed writes are fine)."""
        try:
            self._repo.git.fsck("--strict", "--no-dangling", "--no-progress")
        except git.GitCommandError as exc:
            text = f"{exc.stdout or ''}\n{exc.stderr or ''}".replace("stderr: '", "")
            found = [line.strip(" '") for line in text.splitlines() if line.strip(" '")]
            return found or [f"git fsck exited {exc.status}"]
        return []

    def tags(self) -> list[str]:
        """Every tag's name."""
        return [ref.name for ref in self._repo.tags]

    def tag_entry(self, name: str) -> Entry:
        try:
            commit = git.TagReference(self._repo, f"refs/tags/{name}").commit
        except _DAMAGE as exc:
            raise damaged(self.path, exc) from exc
        return self._entry(commit)

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
        with tempfile.TemporaryFile() as fh:
            fh.write(text.encode())
            fh.seek(0)
            try:
                self._repo.git.notes("append", "-F", "-", commit, istream=fh, env=env)
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

    def _store_object(self, kind: str, data: bytes) -> bytes:
        """Write one object as a loose object file, in-process (GitPython's own `store` starts
        a `git hash-object` per object), unless the store has it already."""
        binsha = hashlib.sha1(f"{kind} {len(data)}\0".encode() + data).digest()  # noqa: S324 - git's object name
        if not self._has(binsha):
            self._loose.store(IStream(kind, len(data), io.BytesIO(data)))
            self._written.append(binsha)
        return binsha

    def _has(self, binsha: bytes) -> bool:
        try:
            self._repo.odb.info(binsha)
        except (ValueError, git.BadObject, git.GitCommandError):
            return False
        return True

    def _write_tree(self, files: Mapping[str, FileData]) -> bytes:
        root: _Node = {}
        for path, file in files.items():
            *folders, name = path.split("/")
            node = root
            for folder in folders:
                child = node.setdefault(folder, {})
                assert isinstance(child, dict), f"{path}: a file and a folder of the same name"
                node = child
            node[name] = (self._store_object("blob", file.data), _MODES[file.kind])
        return self._write_node(root)

    def _write_node(self, node: _Node) -> bytes:
        entries: list[tuple[bytes, int, str]] = []
        for name, child in node.items():
            if isinstance(child, dict):
                entries.append((self._write_node(child), _TREE_MODE, name))
            else:
                entries.append((child[0], child[1], name))
        # git's order: by name bytes, a folder sorting as if its name ended in "/"
        entries.sort(key=lambda e: e[2].encode() + (b"/" if e[1] == _TREE_MODE else b""))
        buf = io.BytesIO()
        tree_to_stream(entries, buf.write)
        return self._store_object("tree", buf.getvalue())

    def _update_refs(self, commands: str, actor: git.Actor) -> None:
        env = {
            "GIT_COMMITTER_NAME": actor.name or "cfgroll",
            "GIT_COMMITTER_EMAIL": actor.email or "",
        }
        with tempfile.TemporaryFile() as fh:
            fh.write(commands.encode())
            fh.seek(0)
            try:
                self._repo.git.update_ref("--stdin", istream=fh, env=env)
            except git.GitCommandError as exc:
                why = " ".join(str(exc.stderr).split()).removeprefix("stderr: ").strip("'")
                if "cannot lock ref" in why and "but expected" in why:
                    raise StoreError(
                        "could not move the store's refs: another process wrote to the store "
                        "at the same time; nothing was recorded, retry"
                    ) from exc
                raise StoreError(
                    f"could not move the store's refs ({why}); nothing was recorded; run "
                    "`cfgroll doctor` to check the store"
                ) from exc


def damaged(path: Path, exc: BaseException) -> StoreError:
    detail = " ".join(str(exc).split())[:200] or type(exc).__name__
    return StoreError(
        f"the store {path} is damaged or unreadable ({detail}); run `cfgroll doctor` to see "
        "what is wrong, and restore the store from a copy (`git clone`) if it names lost objects"
    )


# -- the project's own git repository -----------------------------------------------------------


def tracked_paths(folder: Path) -> set[Path] | None:
    """The files under `folder` that the git repository holding it tracks (its index), as
    absolute paths; None when `folder` is not inside a git work tree."""
    try:
        repo = git.Repo(folder, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    if repo.bare or repo.working_tree_dir is None:
        return None
    top = Path(repo.working_tree_dir).resolve()
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
