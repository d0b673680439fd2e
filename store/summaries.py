"""What reading the newest releases needs, kept outside the store so that `cfgroll log` reads
them without git or YAML: per commit, its parent, its manifest as parsed data and its files'
ids. A commit never changes, so an entry never goes stale; the file is a cache (lost, damaged
or unwritable: the store is read instead) in the user's cache folder, private (0600), holding
the newest `KEEP` commits of each store.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEEP = 64
VERSION = 1


@dataclass(frozen=True)
class Summary:
    parent: str | None
    doc: Any  # the manifest file, parsed
    file_ids: dict[str, str] | None  # path -> "mode blob-id", None: not read yet


def cache_folder() -> Path:
    """`$XDG_CACHE_HOME/cfgroll`, else `~/.cache/cfgroll` (`CFGROLL_CACHE` overrides it; an
    empty value turns the cache off)."""
    chosen = os.environ.get("CFGROLL_CACHE")
    if chosen is not None:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cfgroll"


class Summaries:
    """The cache of one store (by its absolute path)."""

    def __init__(self, store: Path) -> None:
        self._file = cache_file(_name(store))
        self._entries: dict[str, dict[str, Any]] | None = None
        self._changed = False

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            self._entries = dict(read_cache(self._file, "commits", VERSION))
        return self._entries

    def get(self, commit: str) -> Summary | None:
        found = self._load().get(commit)
        if not isinstance(found, dict) or "doc" not in found:
            return None
        return Summary(found.get("parent"), found["doc"], found.get("files"))

    def put(self, commit: str, summary: Summary) -> None:
        """Keep `summary` of `commit`, if its manifest survives JSON unchanged (a YAML date in
        a user's setting would not: such a commit is just not cached)."""
        record = {"parent": summary.parent, "doc": summary.doc, "files": summary.file_ids}
        try:
            if json.loads(json.dumps(record)) != record:
                return
        except (TypeError, ValueError):
            return
        entries = self._load()
        if entries.get(commit) != record:
            entries[commit] = record
            self._changed = True

    def save(self) -> None:
        """Write what changed (the newest `KEEP` commits by release time), atomically; any
        failure leaves the cache as it was."""
        if not self._changed or self._file is None or self._entries is None:
            return
        newest = sorted(self._entries.items(), key=_created, reverse=True)[:KEEP]
        text = json.dumps({"version": VERSION, "commits": dict(newest)}, separators=(",", ":"))
        if not write_cache(self._file, text):
            return
        self._changed = False


def cache_file(name: str) -> Path | None:
    """The cache file `name` in `cache_folder()`; None when the cache is turned off."""
    folder = cache_folder()
    return None if str(folder) in ("", ".") else folder / name


def read_cache(file: Path | None, part: str, version: int) -> Any:
    """The `part` of the cache file `file` ({} when there is none, it is damaged, or it was
    written by another `version`): a cache is read around, never an error."""
    if file is None:
        return {}
    try:
        data = json.loads(file.read_bytes())
        return data[part] if data.get("version") == version else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def write_cache(file: Path, text: str) -> bool:
    """Replace the cache file `file` with `text` atomically (a private folder); False, and the
    file as it was, on any failure: a cache is never worth an error."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.stem}-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, file)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return False
    return True


def _name(store: Path) -> str:
    return hashlib.sha256(str(store.absolute()).encode()).hexdigest()[:24] + ".json"


def _created(item: tuple[str, dict[str, Any]]) -> str:
    try:
        return str(item[1]["doc"]["release"]["created_at"])
    except (KeyError, TypeError):
        return ""
