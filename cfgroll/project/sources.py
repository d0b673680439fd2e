"""What Compose's JSON model does not report, read from the compose files themselves: the
files reached through `include:` and `extends: file:`, and the `env_file:` paths of services
(Compose inlines their values without naming them).

Relative paths resolve as Compose resolves them: in a `-f` file against the project folder, in
an included file against its `project_directory` (default: its own folder), in a file reached
through `extends` against that file's folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cfgroll.engine.compose import Compose
from cfgroll.project.discovery import interpolate, read_env

SourceVia = Literal["file", "include", "extends"]


@dataclass(frozen=True)
class Source:
    """A compose file or env file Compose reads for the project."""

    path: Path  # absolute, not resolved through links
    via: SourceVia


@dataclass(frozen=True)
class EnvFileRef:
    """A service's `env_file:` entry."""

    path: Path
    service: str
    required: bool = True


@dataclass
class Sources:
    compose_files: list[Source] = field(default_factory=list)
    include_env_files: list[Source] = field(default_factory=list)
    env_files: list[EnvFileRef] = field(default_factory=list)


@dataclass(frozen=True)
class _File:
    path: Path
    workdir: Path  # where its relative paths resolve
    env: Mapping[str, str]  # what its `${…}` interpolate with


def walk(compose: Compose, env: Mapping[str, str], services: Iterable[str]) -> Sources:
    """The compose files reached from the project's `-f` files, and every `env_file:` of the
    project's `services`, wherever the service (or what it extends) is defined."""
    reader = _Reader(set(services))
    for f in compose.files:
        reader.compose_file(_File(f, compose.directory, env), "file")
    return reader.found


class _Reader:
    def __init__(self, services: set[str]) -> None:
        self.services = services
        self.found = Sources()
        self._docs: dict[Path, dict[str, Any]] = {}
        self._seen: set[tuple[Path, str]] = set()

    def load(self, path: Path) -> dict[str, Any]:
        if path not in self._docs:
            import yaml

            try:
                doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_loader())  # noqa: S506 - safe loader
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                doc = None  # Compose accepted the project; nothing more of ours to find here
            self._docs[path] = doc if isinstance(doc, dict) else {}
        return self._docs[path]

    def compose_file(self, f: _File, via: SourceVia) -> None:
        if (f.path, "") in self._seen:
            return
        self._seen.add((f.path, ""))
        if via != "file":
            self.found.compose_files.append(Source(f.path, via))
        doc = self.load(f.path)
        for entry in _as_list(doc.get("include")):
            self.include(f, entry)
        for name, svc in _mapping(doc.get("services")).items():
            if name in self.services:
                self.service(f, str(name), svc, final=str(name))

    def include(self, parent: _File, entry: Any) -> None:
        if isinstance(entry, str):
            entry = {"path": entry}
        if not isinstance(entry, dict):
            return
        paths = [p for p in _as_list(entry.get("path")) if isinstance(p, str) and _local(p)]
        if not paths:
            return
        resolved = [_join(parent.workdir, interpolate(p, parent.env)) for p in paths]
        workdir = resolved[0].parent
        if isinstance(entry.get("project_directory"), str):
            workdir = _join(parent.workdir, interpolate(entry["project_directory"], parent.env))
        env_paths = [
            _join(parent.workdir, interpolate(p, parent.env))
            for p in _as_list(entry.get("env_file"))
            if isinstance(p, str)
        ] or [workdir / ".env"]
        values: dict[str, str] = {}
        for p in env_paths:
            if p.is_file():
                self.found.include_env_files.append(Source(p, "include"))
                values.update(read_env(p))
        env = {**parent.env, **values, **os.environ}  # the process environment wins
        for p in resolved:
            self.compose_file(_File(p, workdir, env), "include")

    def service(self, f: _File, name: str, svc: Any, final: str) -> None:
        if not isinstance(svc, dict) or (f.path, name) in self._seen:
            return
        self._seen.add((f.path, name))
        for entry in _as_list(svc.get("env_file")):
            raw = entry.get("path") if isinstance(entry, dict) else entry
            if not isinstance(raw, str):
                continue
            required = entry.get("required", True) if isinstance(entry, dict) else True
            path = _join(f.workdir, interpolate(raw, f.env))
            self.found.env_files.append(EnvFileRef(path, final, required is not False))
        extends = svc.get("extends")
        if isinstance(extends, str):
            extends = {"service": extends}
        if not isinstance(extends, dict) or not isinstance(extends.get("service"), str):
            return
        base = f
        if isinstance(extends.get("file"), str):
            path = _join(f.workdir, interpolate(extends["file"], f.env))
            base = _File(path, path.parent, f.env)
            if (path, "") not in self._seen:
                self._seen.add((path, ""))
                self.found.compose_files.append(Source(path, "extends"))
        parent = _mapping(self.load(base.path).get("services")).get(extends["service"])
        self.service(base, extends["service"], parent, final)


def _loader() -> Any:
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _local(path: str) -> bool:
    """Not a remote include (`oci://…`, a git URL)."""
    return "://" not in path and not path.startswith(("git@", "oci:"))


def _join(folder: Path, path: str) -> Path:
    p = Path(os.path.expanduser(path))
    return Path(os.path.normpath(p if p.is_absolute() else folder / p))
