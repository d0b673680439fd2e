"""Writing a release's objects into the store: its blobs and trees, the commit and the
annotated tag, as loose object files written in-process (GitPython's own `store` starts a
`git hash-object` per object) and synced to disk before any ref may name them; and
`update_refs`, the one transaction that moves refs to them. Part of the store's git door
with `cfgroll.store.repo`."""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Callable
from pathlib import Path

import git
from git.objects.fun import tree_entries_from_data, tree_to_stream
from gitdb import IStream, LooseObjectDB

from cfgroll.errors import StoreError
from cfgroll.store import system
from cfgroll.store.files import MODES, Files, fsync_dir

TREE_MODE = 0o040000
_Node = dict[str, "tuple[bytes, int] | _Node"]  # a folder: name -> (blob id, mode) or sub-folder


class Objects:
    """The objects one release writes."""

    def __init__(self, repo: git.Repo, path: Path) -> None:
        self._repo = repo
        self.path = path
        self._loose = LooseObjectDB(str(path / "objects"))
        self._written: list[bytes] = []

    def release(
        self, files: Files, who: str, message: str, parent: str | None, tag: str
    ) -> tuple[str, str]:
        """The commit of `files` (on `parent`) and its annotated tag `tag`, written and
        synced; their names."""
        tree = self._write_tree(files)
        commit_body = (
            f"tree {tree.hex()}\n"
            + (f"parent {parent}\n" if parent else "")
            + f"author {who}\ncommitter {who}\n\n{message}"
        ).encode()
        commit_sha = self.put("commit", commit_body).hex()
        tag_body = (
            f"object {commit_sha}\ntype commit\ntag {tag}\n"
            f"tagger {who}\n\n"
            f"{message.splitlines()[0]}\n"
        ).encode()
        tag_sha = self.put("tag", tag_body).hex()
        # No ref may point at an object that a power cut could still take away.
        self.sync()
        return commit_sha, tag_sha

    def sync(self) -> None:
        """fsync the loose object files written in-process (gitdb does not) and their
        folders, so the objects are on disk before a ref names them."""
        folders = set()
        for sha in self._written:
            hexsha = sha.hex()
            path = self.path / "objects" / hexsha[:2] / hexsha[2:]
            try:
                system.fsync_file(path)
            except FileNotFoundError:
                continue  # it was already in a pack
            folders.add(path.parent)
        for folder in (*folders, self.path / "objects"):
            fsync_dir(folder)

    def put(self, kind: str, data: bytes) -> bytes:
        """Write one object as a loose object file, in-process (GitPython's own `store` starts
        a `git hash-object` per object), unless the store has it already; its binary name.
        `sync` makes the objects written durable."""
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

    def _write_tree(self, files: Files) -> bytes:
        root: _Node = {}
        for path in files:
            *folders, name = path.split("/")
            node = root
            for folder in folders:
                child = node.setdefault(folder, {})
                assert isinstance(child, dict), f"{path}: a file and a folder of the same name"
                node = child
            stored = files.stored(path)
            if stored is not None:  # the store has it: neither read nor write it again
                mode, sha = stored.split(" ", 1)
                node[name] = (bytes.fromhex(sha), int(mode, 8))
            else:
                file = files[path]
                node[name] = (self.put("blob", file.data), MODES[file.kind])
        return self._write_node(root)

    def _write_node(self, node: _Node) -> bytes:
        entries: list[tuple[bytes, int, str]] = []
        for name, child in node.items():
            if isinstance(child, dict):
                entries.append((self._write_node(child), TREE_MODE, name))
            else:
                entries.append((child[0], child[1], name))
        return self.put_tree(entries)

    def put_tree(self, entries: list[tuple[bytes, int, str]]) -> bytes:
        """One tree object of `entries` (binary name, mode, name), in git's order: by name
        bytes, a folder sorting as if its name ended in "/"."""
        entries = sorted(
            entries, key=lambda e: e[2].encode() + (b"/" if e[1] == TREE_MODE else b"")
        )
        buf = io.BytesIO()
        tree_to_stream(entries, buf.write)
        return self.put("tree", buf.getvalue())


def tree_files(
    read: Callable[[str], bytes], tree: str, prefix: str = ""
) -> dict[str, tuple[int, str]]:
    """Path -> (mode, blob id) of every file under the tree `tree`, read with `read` (an
    object's raw content by its id), one read per tree."""
    found: dict[str, tuple[int, str]] = {}
    for binsha, mode, name in tree_entries_from_data(read(tree)):
        if mode == TREE_MODE:
            found.update(tree_files(read, binsha.hex(), f"{prefix}{name}/"))
        else:
            found[prefix + name] = (mode, binsha.hex())
    return found


def update_refs(repo: git.Repo, commands: str, actor: git.Actor | None = None) -> None:
    """Move refs in one `git update-ref --stdin` transaction: all of them or none."""
    actor = actor or git.Actor("cfgroll", "cfgroll@localhost")
    env = {
        "GIT_COMMITTER_NAME": actor.name or "cfgroll",
        "GIT_COMMITTER_EMAIL": actor.email or "",
    }
    with tempfile.TemporaryFile() as fh:
        fh.write(commands.encode())
        fh.seek(0)
        try:
            repo.git.update_ref("--stdin", istream=fh, env=env)
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
