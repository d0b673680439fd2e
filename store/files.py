"""Project files as the store keeps them, and writing files the user owns: atomically, never
losing what was there."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cfgroll.errors import ProjectError
from cfgroll.store import system

# What git can tell apart: a regular file, an executable one, a symbolic link.
FileKind = Literal["file", "exec", "link"]


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
