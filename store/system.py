"""What differs between operating systems, in one place: which one this is (tests fake it),
project paths that stay inside the project on every system, and syncing a file to disk.

cfgroll runs on Linux, macOS and Windows. A path recorded on one must mean the same file on
another, so the forms Windows reads differently (`..\\x`, `C:x`, `file:stream`, `CON`, a
trailing dot) are refused everywhere, not only where they would do harm.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path


def windows() -> bool:
    """Whether this is Windows (a function, so that tests can fake the platform)."""
    return sys.platform == "win32"


_DEVICES = re.compile(r"^(CON|PRN|AUX|NUL|CONIN\$|CONOUT\$|COM[0-9¹²³]|LPT[0-9¹²³])(\..*)?$", re.I)


def outside(rel: str) -> str | None:
    """Why the project-relative path `rel` (with `/` between its parts) could lead outside
    the project folder, or to something other than a file in it, on some system; None when
    it is safe everywhere."""
    if not rel:
        return "it is empty"
    if "\\" in rel:
        return "it has a backslash (a folder separator on Windows); use /"
    if rel.startswith("/") or re.match(r"^[A-Za-z]:", rel):
        return "it is absolute"
    if ":" in rel:
        return "it has a colon (a drive or an alternate data stream on Windows)"
    for part in rel.split("/"):
        if part == "..":
            return "it climbs out with .."
        if _DEVICES.match(part):
            return f"{part!r} names a device on Windows"
        if part not in ("", ".") and part != part.rstrip(". "):
            return f"{part!r} ends with a dot or a space, which Windows drops"
    return None


def fsync_file(path: Path) -> None:
    """Make a file's content durable, even a read-only one: POSIX syncs through any handle,
    Windows only through one open for writing, which a read-only file refuses until its
    read-only flag is lifted for the moment."""
    if not windows():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return
    mode = path.stat().st_mode
    if not mode & stat.S_IWRITE:
        os.chmod(path, mode | stat.S_IWRITE)
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        if not mode & stat.S_IWRITE:
            os.chmod(path, mode)
