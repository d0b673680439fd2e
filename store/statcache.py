"""The stat cache: what each project file's `lstat` was when it was last read, and its id,
as git's index keeps them, so that a file whose size, times, inode and mode did not change
since is known unchanged without being read (`cfgroll status` on 2,000 files reads none).

A hit is trusted only when its id is the one the live release holds for the same path: the
store then has the content, and reads it from there if asked. Entries whose file was changed
within `RACY_NS` of being saved are not kept (a change in the same clock tick would leave the
same `lstat`). The file lives in the user's cache folder beside the summaries, private; lost
or damaged, the files are read instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cfgroll.store.files import FileData
from cfgroll.store.summaries import cache_file, read_cache, write_cache

VERSION = 1
RACY_NS = 3_000_000_000  # FAT keeps times to 2 s
Stat = tuple[int, int, int, int, int]  # size, mtime, ctime (ns), inode, mode


def stat_key(st: os.stat_result) -> Stat:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode)


class StatCache:
    """The stat cache of one project folder read for one store."""

    def __init__(self, directory: Path, store: Path) -> None:
        key = f"{directory.absolute()}\0{store.absolute()}".encode()
        self._file = cache_file("stat-" + hashlib.sha256(key).hexdigest()[:24] + ".json")
        self._entries: dict[str, tuple[Stat, str]] | None = None
        self._changed = False

    def _load(self) -> dict[str, tuple[Stat, str]]:
        if self._entries is None:
            try:
                found = read_cache(self._file, "files", VERSION)
                self._entries = {p: (tuple(st), str(i)) for p, (st, i) in found.items()}
            except (ValueError, TypeError, AttributeError):
                self._entries = {}  # damaged: read the files, write it anew
        return self._entries

    def get(self, path: str, st: os.stat_result) -> str | None:
        """The id of `path` as it was last read, if its `lstat` is still `st`."""
        found = self._load().get(path)
        return found[1] if found is not None and found[0] == stat_key(st) else None

    def put(self, path: str, st: os.stat_result, file_id: str) -> None:
        entries = self._load()
        entry = (stat_key(st), file_id)
        if entries.get(path) != entry:
            entries[path] = entry
            self._changed = True

    def save(self, keep: set[str] | None = None) -> None:
        """Write what changed (only `keep`'s paths, when given), leaving out entries too new
        to trust; any failure leaves the file as it was."""
        if not self._changed or self._file is None or self._entries is None:
            return
        settled = time.time_ns() - RACY_NS
        files = {
            p: [list(st), i]
            for p, (st, i) in self._entries.items()
            if st[1] < settled and st[2] < settled and (keep is None or p in keep)
        }
        text = json.dumps({"version": VERSION, "files": files}, separators=(",", ":"))
        if write_cache(self._file, text):
            self._changed = False


@dataclass(frozen=True)
class Known:
    """What reading the project may take as known: the stat cache, and the live release's
    files (path -> id, and reading one from the store by its id)."""

    cache: StatCache
    ids: Mapping[str, str]
    load: Callable[[str], FileData]

    def unchanged(self, path: str, st: os.stat_result) -> str | None:
        """The id of `path` when its `lstat` is still `st` and the live release holds that
        id (so the store has its content); None: read it."""
        cached = self.cache.get(path, st)
        return cached if cached is not None and cached == self.ids.get(path) else None
