"""The store as its mirror holds it: the same history with every secret file sealed.

Each commit of the store has one translation: the same tree, except that the files of role
`env` and `secret` and a Swarm release's rendered stack file hold their age ciphertext, and
`.cfgroll/sealed.yaml` names them and their recipients; the same author, committer, message
and (translated) parents. A commit without a secret file translates to itself. Tags, pins and
the notes (re-keyed by the translated commits) follow. The translations live under
`refs/mirror/` in the store, and `mirror.map` (private, beside the refs) remembers which
object became which: a secret file unchanged since the last release keeps its ciphertext, and
a history recorded before recipients were set is sealed whole on its first push.

A clone goes the other way (`restore`): it opens the sealed files and writes the original
commits again, byte for byte, so the restored store has the same commits and tags as the lost
one. Part of the store's git door with `cfgroll.store.repo`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import git
import yaml
from git.objects.fun import tree_entries_from_data

from cfgroll.errors import MirrorRefused
from cfgroll.store import files as store_files
from cfgroll.store import remote
from cfgroll.store.manifest import MANIFEST_PATH, STACK_PATH
from cfgroll.store.manifest_yaml import manifest_from_yaml
from cfgroll.store.objects import TREE_MODE, Objects, tree_files, update_refs
from cfgroll.store.remote import MIRROR, PUSHED, kept
from cfgroll.store.secrets import is_env, is_secret

SEALED_PATH = ".cfgroll/sealed.yaml"
_SHA = re.compile(r"[0-9a-f]{40}$")
MAP_NAME = "mirror.map"


@dataclass(frozen=True)
class Sealing:
    """How secret files reach the mirror: sealed by `seal` (to the recipients whose digest is
    `key`), left as they are (`plaintext`), or refused (neither)."""

    seal: Callable[[bytes], bytes] | None = None
    key: str = ""
    recipients: tuple[str, ...] = ()
    plaintext: bool = False


@dataclass(frozen=True)
class Opening:
    """How a clone opens sealed files: `open(data, recipients, path)`, and the digest
    `Sealing.key` of a set of recipients."""

    open: Callable[[bytes, tuple[str, ...], str], bytes]
    key: Callable[[tuple[str, ...]], str]


class Mirror:
    """The translations of one store's objects, and the map that remembers them."""

    def __init__(self, repo: git.Repo, path: Path) -> None:
        self._repo = repo
        self.path = path
        self._objects = Objects(repo, path)
        self._map: dict[str, str] = {}
        self._new: list[str] = []
        self._refs: dict[str, str] | None = None
        try:
            text = (path / MAP_NAME).read_text(encoding="ascii")
        except FileNotFoundError:
            text = ""
        self._cut = bool(text) and not text.endswith("\n")  # the next write starts a line
        for line in text.splitlines():
            parts = line.split()
            # a line a crash cut short is left out: it is translated again
            if len(parts) == 2 and _SHA.fullmatch(parts[1]) and _SHA.search(parts[0]):
                self._map[parts[0]] = parts[1]

    # -- the remote ------------------------------------------------------------------------

    def url(self) -> str | None:
        return remote.url(self._repo)

    def set_url(self, value: str) -> None:
        """Point the store at a mirror; a new one holds nothing yet."""
        if remote.url(self._repo) != value:
            self.forget_pushed()
        remote.set_url(self._repo, value)

    def remove(self) -> bool:
        self.forget_pushed()
        return remote.remove(self._repo)

    def push(self, timeout: float) -> remote.Pushed:
        """Push every translation (all or nothing); then the store knows what the mirror
        holds."""
        done = remote.push(self._repo, timeout, self.refs())
        self.held()
        return done

    def held(self) -> None:
        """Remember that the mirror holds every translation as it is now."""
        held = {n: s for n, s in self.refs().items() if n.startswith(MIRROR)}
        moves = (f"update {PUSHED}{n[len(MIRROR) :]} {s}\n" for n, s in held.items())
        self._update_refs("".join(moves))

    def remote_refs(self, timeout: float) -> dict[str, str]:
        return remote.remote_refs(self._repo, timeout)

    def fetch(self, where: str, timeout: float) -> None:
        remote.fetch(self._repo, where, timeout)

    def forget_pushed(self) -> None:
        gone = [n for n in self.refs() if n.startswith(PUSHED)]
        if gone:
            self._update_refs("".join(f"delete {n}\n" for n in gone))

    # -- refs --------------------------------------------------------------------------

    def refs(self) -> dict[str, str]:
        """Every ref of the store -> the object it names (one `git for-each-ref`, read again
        only after this mirror moved refs)."""
        if self._refs is None:
            out = self._repo.git.for_each_ref("--format=%(objectname) %(refname)")
            self._refs = {}
            for line in out.splitlines():
                sha, _, name = line.partition(" ")
                self._refs[name] = sha
        return dict(self._refs)

    def translated(self, sha: str) -> str | None:
        return self._map.get(sha)

    def pending(self, refs: Mapping[str, str] | None = None) -> list[str]:
        """The store's refs the mirror does not hold as they are now (not translated yet, or
        not pushed since)."""
        refs = self.refs() if refs is None else refs
        return sorted(
            name
            for name, sha in refs.items()
            if kept(name)
            and (self._map.get(sha) is None or refs.get(PUSHED + name[5:]) != self._map[sha])
        )

    def translate(self, names: Iterable[str], sealing: Sealing) -> dict[str, str]:
        """Translate the refs `names` (and whatever they reach that is not yet), point
        `refs/mirror/…` at the translations; mirror ref -> object."""
        refs = self.refs()
        moved = {}
        for name in names:
            sha = refs[name]
            if name == "refs/notes/commits":
                continue  # last: its notes name translated commits
            moved[MIRROR + name[5:]] = self._forward(sha, sealing)
        if "refs/notes/commits" in names:

            def note(_top: str, raw: bytes) -> str:
                return self._note_commit(raw, lambda s: self._forward(s, sealing), self._map)

            moved[MIRROR + "notes/commits"] = self._walk(refs["refs/notes/commits"], note)
        self.commit(moved)
        return moved

    def commit(self, refs: Mapping[str, str]) -> None:
        """Make the new objects durable, move `refs` to them (one transaction: from then on
        they are reachable, and `git gc` keeps them), then keep the map. A crash before the
        map is written costs the next push a new translation, never a ref to a lost object."""
        self._objects.sync()
        if refs:
            self._update_refs("".join(f"update {n} {s}\n" for n, s in sorted(refs.items())))
        if self._new:
            with open(self.path / MAP_NAME, "a", encoding="ascii") as fh:
                fh.write("\n" * self._cut + "".join(self._new))
                fh.flush()
                os.fsync(fh.fileno())
            store_files.fsync_dir(self.path)
            self._new, self._cut = [], False

    def _update_refs(self, commands: str) -> None:
        self._refs = None
        update_refs(self._repo, commands)

    def _remember(self, source: str, translation: str) -> None:
        if self._map.get(source) != translation:
            self._map[source] = translation
            self._new.append(f"{source} {translation}\n")

    # -- objects ------------------------------------------------------------------------

    def _raw(self, sha: str) -> tuple[str, bytes]:
        info = self._repo.odb.stream(bytes.fromhex(sha))
        kind = info.type.decode() if isinstance(info.type, bytes) else str(info.type)
        return kind, info.read()

    def _walk(
        self, sha: str, convert: Callable[[str, bytes], str], into: dict[str, str] | None = None
    ) -> str:
        """The translation of commit (or tag) `sha`, converting what it reaches first (its
        parents, a tag's commit), without recursion: a history may be long. `into`: where
        translations are kept (the map, unless given)."""
        done = self._map if into is None else into
        todo = [sha]
        while todo:
            top = todo[-1]
            if top in done:
                todo.pop()
                continue
            kind, raw = self._raw(top)
            header = raw.split(b"\n\n", 1)[0].decode()
            before = [
                line.split()[1]
                for line in header.splitlines()
                if line.startswith(("parent ", "object ")) and kind in ("commit", "tag")
            ]
            missing = [p for p in before if p not in done]
            if missing:
                todo += missing
                continue
            todo.pop()
            new = convert(top, raw) if kind in ("commit", "tag") else top
            if into is None:
                self._remember(top, new)
            else:
                into[top] = new
        return done[sha]

    def _forward(self, sha: str, sealing: Sealing) -> str:
        def convert(top: str, raw: bytes) -> str:
            if raw.startswith(b"object "):
                return self._relinked("tag", raw, self._map)
            tree = raw.split(b"\n", 1)[0].split()[1].decode()
            return self._relinked("commit", raw, self._map, self._sealed_tree(tree, sealing))

        return self._walk(sha, convert)

    def _relinked(
        self, kind: str, raw: bytes, mapping: Mapping[str, str], tree: str | None = None
    ) -> str:
        """`raw` (a commit or tag) with its tree replaced and its parents or object
        translated by `mapping`."""
        header, sep, message = raw.partition(b"\n\n")
        lines = []
        for line in header.split(b"\n"):
            word, _, rest = line.partition(b" ")
            if word == b"tree" and tree is not None:
                line = b"tree " + tree.encode()
            elif word in (b"parent", b"object"):
                line = word + b" " + mapping[rest.decode()].encode()
            lines.append(line)
        return self._objects.put(kind, b"\n".join(lines) + sep + message).hex()

    def _sealed_tree(self, tree: str, sealing: Sealing) -> str:
        blobs = self._blobs(tree)
        manifest = self._blob(blobs.get(MANIFEST_PATH))
        roles = manifest_from_yaml(manifest).files if manifest is not None else {}
        secret = sorted(
            p
            for p in blobs
            if p == STACK_PATH or (p in roles and (is_secret(roles[p]) or is_env(p, roles[p])))
        )
        if not secret or sealing.plaintext:
            return tree
        if sealing.seal is None:
            raise MirrorRefused(
                f"the store holds secret files ({', '.join(secret[:3])}) and "
                "`x-cfgroll: recipients:` names no one to seal them to; set recipients (age "
                "public keys), or `mirror_plaintext: true` for a private mirror"
            )
        changes: dict[str, str | None] = {}
        for path in secret:
            plain = blobs[path]
            key = f"{sealing.key}:{plain}"
            if key not in self._map:
                sealed = sealing.seal(self._blob(plain) or b"")
                self._remember(key, self._objects.put("blob", sealed).hex())
            changes[path] = self._map[key]
        note = {"sealed_with": "age", "recipients": list(sealing.recipients), "files": secret}
        text = "# cfgroll: these files are sealed with age; `cfgroll clone` opens them\n"
        text += yaml.safe_dump(note, sort_keys=False)
        changes[SEALED_PATH] = self._objects.put("blob", text.encode()).hex()
        return self._rewrite(tree, "", changes)

    # -- a clone: the way back ------------------------------------------------------------

    def restore(self, refs: Mapping[str, str], opening: Opening) -> dict[str, str]:
        """The store's own refs from the mirror's (`refs/mirror/…` -> object): every sealed
        file opened, the original commits written again; store ref -> object. The map learns
        each pair, so that the restored store pushes on where the lost one stopped."""
        back: dict[str, str] = {}  # mirror object -> store object
        opened: dict[str, str] = {}  # sealed blob -> its plaintext blob

        def convert(_top: str, raw: bytes) -> str:
            if raw.startswith(b"object "):
                return self._relinked("tag", raw, back)
            return self._opened(raw, back, opening, opened)

        def note(_top: str, raw: bytes) -> str:
            return self._note_commit(raw, lambda s: self._walk(s, convert, back), back)

        mapped = {}
        for name in sorted(refs, key=lambda n: n.endswith("notes/commits")):  # notes last
            walk = note if name.endswith("notes/commits") else convert
            mapped["refs/" + name.removeprefix(MIRROR)] = self._walk(refs[name], walk, back)
        for mirror_sha, store_sha in back.items():
            self._remember(store_sha, mirror_sha)
        return mapped

    def _opened(
        self, raw: bytes, back: Mapping[str, str], opening: Opening, opened: dict[str, str]
    ) -> str:
        tree = raw.split(b"\n", 1)[0].split()[1].decode()
        blobs = self._blobs(tree)
        note = self._blob(blobs.get(SEALED_PATH))
        if note is None:
            return self._relinked("commit", raw, back)
        sealed = yaml.safe_load(note.decode())
        recipients = tuple(str(r) for r in sealed.get("recipients") or ())
        changes: dict[str, str | None] = {SEALED_PATH: None}
        for path in sealed.get("files") or ():
            blob = blobs.get(path)
            if blob is None:
                continue
            if blob not in opened:
                data = opening.open(self._blob(blob) or b"", recipients, path)
                opened[blob] = self._objects.put("blob", data).hex()
            changes[path] = opened[blob]
            self._remember(f"{opening.key(recipients)}:{opened[blob]}", blob)
        return self._relinked("commit", raw, back, self._rewrite(tree, "", changes))

    # -- trees ---------------------------------------------------------------------------

    def _entries(self, tree: str) -> list[tuple[bytes, int, str]]:
        _, raw = self._raw(tree)
        return list(tree_entries_from_data(raw))

    def _blobs(self, tree: str) -> dict[str, str]:
        """Path -> blob id of every file under `tree`."""
        return {p: sha for p, (_mode, sha) in tree_files(lambda s: self._raw(s)[1], tree).items()}

    def _blob(self, sha: str | None) -> bytes | None:
        return None if sha is None else self._raw(sha)[1]

    def _rewrite(self, tree: str, prefix: str, changes: Mapping[str, str | None]) -> str:
        """`tree` with the blobs at `changes`' paths replaced (None: removed) or added."""
        entries: list[tuple[bytes, int, str]] = []
        seen = set()
        for binsha, mode, name in self._entries(tree):
            path = prefix + name
            seen.add(path)
            if mode == TREE_MODE and any(c.startswith(path + "/") for c in changes):
                inner = self._rewrite(binsha.hex(), path + "/", changes)
                entries.append((bytes.fromhex(inner), mode, name))
            elif path in changes:
                new = changes[path]
                if new is not None:
                    entries.append((bytes.fromhex(new), mode, name))
            else:
                entries.append((binsha, mode, name))
        for path, new in changes.items():
            name = path[len(prefix) :]
            if path.startswith(prefix) and "/" not in name and path not in seen and new:
                entries.append((bytes.fromhex(new), 0o100644, name))
        return self._put_tree(entries)

    def _put_tree(self, entries: list[tuple[bytes, int, str]]) -> str:
        return self._objects.put_tree(entries).hex()

    def _note_commit(
        self, raw: bytes, name_of: Callable[[str], str], mapping: Mapping[str, str]
    ) -> str:
        """A notes commit with its notes re-keyed by `name_of` (a flat tree: git reads any
        fan-out)."""
        tree = raw.split(b"\n", 1)[0].split()[1].decode()
        entries = [
            (bytes.fromhex(blob), 0o100644, name_of(path.replace("/", "")))
            for path, blob in self._blobs(tree).items()
        ]
        return self._relinked("commit", raw, mapping, self._put_tree(entries))
