"""Project files as the store keeps them, and writing files the user owns: atomically, never
losing what was there."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cfgroll.errors import ProjectError
from cfgroll.store import system

# What git can tell apart: a regular file, an executable one, a symbolic link.
FileKind = Literal["file", "exec", "link"]
MODES: dict[FileKind, int] = {"file": 0o100644, "exec": 0o100755, "link": 0o120000}
KINDS = {mode: kind for kind, mode in MODES.items()}


@dataclass(frozen=True)
class FileData:
    """One project file: its bytes (for a link, the link's target) and its kind."""

    data: bytes
    kind: FileKind = "file"

    @property
    def binary(self) -> bool:
        """git's rule: a NUL byte in the first 8000 bytes (or bytes that are not UTF-8)."""
        if self.kind == "link":
            return False
        if b"\0" in self.data[:8000]:
            return True
        try:
            self.data.decode()
        except UnicodeDecodeError:
            return True
        return False


def file_id(file: FileData) -> str:
    """What git names `file` in a tree: "mode blob-id" (equal when content and kind are)."""
    blob = hashlib.sha1(b"blob %d\0" % len(file.data) + file.data).hexdigest()  # noqa: S324 - git's object name
    return f"{MODES[file.kind]:o} {blob}"


def kind_of(file_id: str) -> FileKind:
    return KINDS.get(int(file_id.split(" ", 1)[0], 8), "file")


class Files(Mapping[str, FileData]):
    """Project files by path, each with its id (`file_id`), read only when asked for.

    `ids` names every file; `have` holds those already read; the others are read with `load`
    (an id -> the file), from the store: so an unchanged file of a large configuration costs
    neither a read nor a hash. Comparing two `Files` compares ids (`changed_files`).
    """

    def __init__(
        self,
        ids: Mapping[str, str],
        load: Callable[[str], FileData] | None = None,
        have: Mapping[str, FileData] | None = None,
        sizes: Mapping[str, int] | None = None,
    ) -> None:
        self.ids = dict(ids)
        self._load = load
        self._have = dict(have or {})
        self._given = set(self._have)  # read from elsewhere (disk), not from the store
        self._sizes = dict(sizes or {})

    @classmethod
    def of(cls, files: Mapping[str, FileData]) -> Files:
        """`files` as `Files` (read already: their ids are computed)."""
        if isinstance(files, Files):
            return files
        return cls({p: file_id(f) for p, f in files.items()}, have=files)

    def __getitem__(self, path: str) -> FileData:
        found = self._have.get(path)
        if found is None:
            file_id = self.ids[path]  # KeyError for a path it does not hold, as a dict
            if self._load is None:
                raise KeyError(path)
            found = self._have[path] = self._load(file_id)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, path: object) -> bool:
        return path in self.ids

    def stored(self, path: str) -> str | None:
        """The id of `path` when its content comes from the store (read from there, or not
        read yet): the store has it already."""
        return None if path in self._given else self.ids[path]

    def size(self) -> int:
        """The bytes of all files, from what is known without reading where it can."""
        return sum(self._sizes[p] if p in self._sizes else len(self[p].data) for p in self.ids)

    def busiest_folder(self) -> str:
        """The folder (`a/b/`) holding the most files (a file at the top counts as its own)."""
        counts: dict[str, int] = {}
        for rel in self.ids:
            folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else rel
            counts[folder] = counts.get(folder, 0) + 1
        return max(counts, key=lambda k: counts[k])

    def adding(self, more: dict[str, FileData]) -> Files:
        """These files and `more`, read already (which win)."""
        kept = {p: self._have[p] for p in self._given if p not in more}
        return Files(
            {**self.ids, **{p: file_id(f) for p, f in more.items()}},
            self._load,
            {**kept, **more},
            {p: n for p, n in self._sizes.items() if p not in more},
        )

    def read_all(self) -> None:
        """Read every file now (a damaged store fails here, not halfway through a write)."""
        for path in self.ids:
            self[path]


def changed_files(old: Mapping[str, FileData], new: Mapping[str, FileData]) -> list[str]:
    """The paths added, removed or changed (content or kind) between two sets of files,
    reading neither where both know their ids."""
    a, b = Files.of(old).ids, Files.of(new).ids
    return sorted(p for p in a.keys() | b.keys() if a.get(p) != b.get(p))


def read_file(path: Path) -> FileData | None:
    """What `path` holds as the store would record it; None when it is missing or is neither a
    regular file nor a link (a folder, a socket)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if _is_link(st.st_mode):
        return FileData(os.fsencode(os.readlink(path)), "link")
    if not _is_regular(st.st_mode):
        return None
    return FileData(path.read_bytes(), "exec" if st.st_mode & 0o100 else "file")


def write_file(path: Path, file: FileData, private: bool = False) -> None:
    """Make `path` hold `file` (content and kind), atomically."""
    if file.kind == "link":
        _link_atomic(path, os.fsdecode(file.data))
    else:
        write_atomic(path, file.data, private, executable=file.kind == "exec")


def write_atomic(
    path: Path, data: bytes, private: bool = False, executable: bool | None = None
) -> None:
    """Replace `path` with `data` so that readers see the old or the new file, never a mix.

    The temporary file is made in the same folder (so the rename cannot cross file systems),
    synced, given the old file's mode (0600 for a new private file) with the execute bits set
    or cleared as `executable` says (None: as they were), then renamed over it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        st = path.lstat()
        mode = st.st_mode & 0o7777 if _is_regular(st.st_mode) else _new_mode(private)
    except FileNotFoundError:
        mode = _new_mode(private)
    if executable is True:
        mode |= (mode & 0o444) >> 2  # execute wherever read is allowed, as `chmod +x` does
    elif executable is False:
        mode &= ~0o111
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".cfgroll-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # by path: os.fchmod does not exist on Windows
        _replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


# Windows refuses to replace a file another program holds open (an editor, a virus scan):
# such locks are mostly brief, so the rename is tried again for about this long.
LOCKED_RETRY = (0.05, 0.1, 0.2, 0.4, 0.8)


def _replace(tmp: str | Path, path: Path) -> None:
    for pause in (*LOCKED_RETRY, None):
        try:
            os.replace(tmp, path)
            return
        except PermissionError as exc:
            if not system.windows():
                raise
            if pause is None:
                raise ProjectError(
                    f"cannot replace {path}: another program holds it open (an editor, a "
                    "virus scan); close it and run the command again"
                ) from exc
            time.sleep(pause)


def _link_atomic(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.cfgroll-tmp"
    tmp.unlink(missing_ok=True)
    try:
        os.symlink(target, tmp)
    except OSError as exc:  # Windows: links need a privilege or developer mode
        raise ProjectError(
            f"cannot create {path} as a link to {target}: {exc.strerror or exc}; on Windows, "
            "turn on developer mode (or run as administrator) so links can be made"
        ) from exc
    try:
        _replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _is_link(mode: int) -> bool:
    return mode & 0o170000 == 0o120000


def _is_regular(mode: int) -> bool:
    return mode & 0o170000 == 0o100000


def _new_mode(private: bool) -> int:
    return 0o600 if private else 0o644 & ~_umask()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in `folder` durable (its entry is in the folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; the rename is durable enough there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
