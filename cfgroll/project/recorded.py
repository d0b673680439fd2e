"""The recorded set: every file inside the project folder that the stack reads, the role it
plays, the services that use it, and what the stack reads that is not recorded, with why.

Compose's own model (`docker compose config` JSON) names the bind mounts, `configs:` and
`secrets:` with their resolved paths; `sources` adds what the JSON leaves out (include and
extends chains, `env_file:` paths); `x-cfgroll: track/ignore/notify` adjust the set. Limits
are checked here, before any container is touched."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from cfgroll.engine.compose import Compose
from cfgroll.errors import ProjectError
from cfgroll.project.discovery import project_env
from cfgroll.project.sources import walk
from cfgroll.settings import HOOKS_DIR, KEY, settings
from cfgroll.store.files import FileData, Files, file_id, read_file
from cfgroll.store.manifest import (
    ROLE_ORDER,
    FileUse,
    Layout,
    Manifest,
    Reason,
    Role,
    Unrecorded,
    Via,
)
from cfgroll.store.names import size_text
from cfgroll.store.statcache import Known

MIB = 1024 * 1024
MAX_FILE = 5 * MIB
MAX_FILES = 2000
MAX_TOTAL = 50 * MIB
STORE_DIR = ".cfgroll"  # cfgroll's own folder in the project: never part of a release
_GLOB = set("*?[")


@dataclass(frozen=True)
class ProjectFiles:
    """The files of one state of the project: what the release says of them, and their
    content by project-relative path."""

    layout: Layout
    content: Files

    @property
    def roles(self) -> dict[str, Role]:
        return self.layout.roles

    @property
    def compose_files(self) -> tuple[str, ...]:
        return self.layout.compose_files

    @classmethod
    def recorded(cls, manifest: Manifest, content: Mapping[str, FileData]) -> ProjectFiles:
        return cls(manifest.layout, Files.of(content))


def resolve(
    compose: Compose, config: Mapping[str, Any], known: Known | None = None
) -> ProjectFiles:
    """Every file of the project's configuration, read, with its role and users.

    Raises `ProjectError` naming the culprits when a file is over `MAX_FILE`, the set over
    `MAX_FILES` or `MAX_TOTAL`, a `track:` path does not exist, or a link inside a recorded
    folder leaves the project folder. `known`: the stat cache and the live release's files,
    so that a file unchanged since it was last read is neither read nor hashed again."""
    return _Collector(compose, config, known).run()


class _Collector:
    def __init__(self, compose: Compose, config: Mapping[str, Any], known: Known | None) -> None:
        self.compose = compose
        self.known = known
        self.dir = compose.directory
        self.config = config
        self.settings = settings(config)
        self.roles: dict[str, Role] = {}
        self.uses: dict[FileUse, None] = {}
        self.unrecorded: dict[Unrecorded, None] = {}
        self.problems: list[str] = []
        self._git: dict[str, set[Path] | None] = {}

    # -- what the stack reads --------------------------------------------------------------

    def run(self) -> ProjectFiles:
        services = self.config.get("services") or {}
        env = project_env(self.dir, self.compose.env_files)
        found = walk(self.compose, env, services)
        compose_files = tuple(self.compose.relative(f) for f in self.compose.files)
        for rel in compose_files:
            self.add(rel, "compose")
        for source in found.compose_files:
            self.source(source.path, "compose", source.via)
        env_files = []
        # a fleet's hosts' own env files: every one recorded, none listed (each host adds its own)
        for_hosts = {h.env_file for h in self.settings.hosts if h.env_file}
        for rel in sorted(for_hosts):
            self.source(self.dir / rel, "env", "host env_file")
        for f in self.compose.env_files:
            inside = self.rel(f)
            if inside not in for_hosts:
                env_files.append(inside if inside is not None else str(f))
                self.source(f, "env", "env-file")
        if not self.compose.env_files and (self.dir / ".env").is_file():
            self.add(".env", "env")
        for source in found.include_env_files:
            self.source(source.path, "env", "include")
        for ref in found.env_files:
            if ref.required or ref.path.exists():
                self.source(ref.path, "env", FileUse("", ref.service, "env_file"))
        for name, svc in sorted(services.items()):
            for vol in (svc or {}).get("volumes") or []:
                if isinstance(vol, dict) and vol.get("type") == "bind" and vol.get("source"):
                    target, ro = str(vol.get("target", "")), bool(vol.get("read_only"))
                    self.source(Path(vol["source"]), "mount", FileUse("", name, "bind", target, ro))
        self.configs_and_secrets(services)
        for pattern in self.settings.track:
            self.track(pattern)
        if notify := self.settings.notify.file:  # URLs with tokens: a secret, sealed on mirrors
            self.source(self.dir / notify, "secret", "notify")
        self.hooks()
        content = self.read()
        if self.problems:
            more = len(self.problems) - 5
            raise ProjectError(
                "cannot record the project's files: "
                + "; ".join(self.problems[:5])
                + (f"; and {more} more" if more > 0 else "")
                + "; nothing was changed"
            )
        layout = Layout(
            roles=dict(sorted((p, self.roles[p]) for p in content)),
            compose_files=compose_files,
            env_files=tuple(env_files),
            uses=tuple(self.uses),
            not_recorded=tuple(self.unrecorded),
            settings=dict(self.config.get(KEY) or {}),
        )
        return ProjectFiles(layout, content)

    def configs_and_secrets(self, services: Mapping[str, Any]) -> None:
        kinds: tuple[tuple[str, Role, Via, str], ...] = (
            ("configs", "config", "config", "/"),
            ("secrets", "secret", "secret", "/run/secrets/"),
        )
        for kind, role, via, default_dir in kinds:
            users: dict[str, list[tuple[str, str]]] = {}
            for name, svc in sorted(services.items()):
                for ref in (svc or {}).get(kind) or []:
                    source = ref if isinstance(ref, str) else ref.get("source", "")
                    target = "" if isinstance(ref, str) else str(ref.get("target") or "")
                    if not target.startswith("/"):
                        target = default_dir + (target or source)
                    users.setdefault(source, []).append((name, target))
            for key, entry in sorted((self.config.get(kind) or {}).items()):
                if not isinstance(entry, dict) or not entry.get("file"):
                    continue  # external, or from the environment or inline content
                for service, target in users.get(key) or [("", "")]:
                    self.source(Path(entry["file"]), role, FileUse("", service, via, target, True))

    # -- one source: a file or folder the stack reads --------------------------------------

    def source(self, path: Path, role: Role, use: FileUse | str = "") -> None:
        """A file or folder the stack reads: `use` says which service reads it and how (its
        path is filled in here), or (a string) how the project itself reads it ("include",
        "extends", "env-file")."""
        service, via = (use.service, use.via) if isinstance(use, FileUse) else ("", use)
        rel, real_rel = self.rel(path), self.rel(path.resolve())
        if rel is None or real_rel is None:  # outside, or a link that leads outside
            self.skip(str(path) if rel is None else rel, "outside the project", service, via)
            return
        if rel == STORE_DIR or rel.startswith(STORE_DIR + "/"):
            return
        real = self.dir / real_rel
        if not os.path.lexists(path):
            self.skip(rel, "missing", service, via)
            return
        if isinstance(use, FileUse) and use.service:
            self.uses[replace(use, path=rel)] = None
        read_only = isinstance(use, FileUse) and use.read_only
        if role in ("compose", "env"):  # the stack's own files: always recorded
            self.link_or_file(rel, role, strict=False)
            return
        pattern = self.ignored(rel)
        if pattern:
            self.skip(rel, "ignored", service, via)
            return
        if not real.is_dir():
            self.link_or_file(rel, role, strict=False)
            return
        if path.is_symlink():
            self.add(rel, role)  # the link itself; the folder it names is walked below
        if read_only or role != "mount" or self.named_for_tracking(real_rel):
            self.folder(real_rel, role)
            return
        # A writable folder is the service's data; only what people wrote into it (what git
        # tracks there) is configuration.
        self.skip(real_rel or ".", "writable folder", service, via)
        tracked = self.git_tracked(real)
        if tracked:
            self.folder(real_rel, role, only=tracked)

    def folder(self, rel: str, role: Role, only: set[Path] | None = None) -> None:
        top = self.dir / rel if rel else self.dir
        for root, dirs, names in os.walk(top):
            here = Path(root)
            root_rel = here.relative_to(self.dir).as_posix()
            prefix = "" if root_rel == "." else root_rel + "/"
            kept = []
            for d in sorted(dirs):
                sub = prefix + d
                if d == ".git" or sub == STORE_DIR:
                    continue
                if (here / d).is_symlink():
                    names.append(d)  # a link to a folder is recorded as a link
                    continue
                pattern = self.ignored(sub)
                if pattern:
                    self.skip(pattern, "ignored")
                    continue
                kept.append(d)
            dirs[:] = kept
            for name in sorted(names):
                sub = prefix + name
                if only is not None and here / name not in only:
                    continue
                pattern = self.ignored(sub)
                if pattern:
                    self.skip(pattern, "ignored")
                    continue
                self.link_or_file(sub, role, strict=True)

    def link_or_file(self, rel: str, role: Role, strict: bool) -> None:
        path = self.dir / rel
        try:
            mode = path.lstat().st_mode
        except OSError:
            return
        if not stat.S_ISLNK(mode):
            if stat.S_ISREG(mode):
                self.add(rel, role)
            return
        real = path.resolve()
        real_rel = self.rel(real)
        if real_rel is None:
            if strict:
                self.problems.append(
                    f"{rel} is a link to {os.readlink(path)}, outside the project folder (add "
                    "it to `x-cfgroll: ignore:`, or copy the file into the project)"
                )
            else:
                self.skip(rel, "outside the project")
            return
        self.add(rel, role)
        if real.is_file() and not self.ignored(real_rel):
            self.add(real_rel, role)

    def hooks(self) -> None:
        """The hook files (the executables in the hooks folder, not the `.sample`s): part of
        every release, so a rollback puts back the hooks that went with it."""
        folder = self.settings.hooks or HOOKS_DIR
        try:
            names = sorted(p.name for p in (self.dir / folder).iterdir())
        except OSError:  # no hooks folder: no hooks
            return
        for name in names:
            rel = f"{folder}/{name}"
            if name.endswith(".sample") or self.ignored(rel):
                continue
            path = self.dir / rel
            if path.is_dir() and not path.is_symlink():
                continue  # a hook is a file; helper folders are the user's to `track:`
            self.link_or_file(rel, "hook", strict=True)

    def track(self, pattern: str) -> None:
        bare = pattern.rstrip("/")
        if _GLOB & set(bare):
            matches = sorted(self.dir.glob(bare))
        else:
            matches = [self.dir / bare] if os.path.lexists(self.dir / bare) else []
            if not matches:
                self.problems.append(
                    f"`x-cfgroll: track:` names {pattern}, which does not exist (remove it "
                    "from the list, or create it)"
                )
        for path in matches:
            rel = self.rel(path)
            if rel is None or self.ignored(rel) or rel.split("/")[0] in (STORE_DIR, ".git"):
                continue
            if path.is_dir() and not path.is_symlink():
                self.folder(rel, "tracked")
            else:
                self.link_or_file(rel, "tracked", strict=True)

    # -- reading, and the limits -----------------------------------------------------------

    def read(self) -> Files:
        have: dict[str, FileData] = {}  # read now
        ids: dict[str, str] = {}
        sizes: dict[str, int] = {}  # of the files known unchanged, not read
        too_large = []
        known = self.known
        for rel in sorted(self.roles):
            path = self.dir / rel
            try:
                st = path.lstat()
                cached = known.unchanged(rel, st) if known is not None else None
                if cached is not None:
                    ids[rel], sizes[rel] = cached, st.st_size
                    size = st.st_size
                else:
                    data = read_file(path)
                    if data is None:
                        continue
                    have[rel], ids[rel], size = data, file_id(data), len(data.data)
                    if known is not None:
                        known.cache.put(rel, st, ids[rel])
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise ProjectError(
                    f"cannot read project file {rel}: {exc.strerror}; fix its permissions or "
                    "add it to `x-cfgroll: ignore:`"
                ) from exc
            if size > MAX_FILE:
                too_large.append(f"{rel} ({size_text(size)})")
        if known is not None:
            known.cache.save(keep=set(ids))
        if too_large:
            self.problems.append(
                f"{', '.join(too_large)} over the {size_text(MAX_FILE)} limit for one file (add "
                "to `x-cfgroll: ignore:`, or move out of the mounted folder)"
            )
        content = Files(ids, known.load if known else None, have, sizes)
        total = content.size()
        if len(content) > MAX_FILES or total > MAX_TOTAL:
            self.problems.append(
                f"the release would hold {len(content):,} files, {size_text(total)} (limits: "
                f"{MAX_FILES:,} files, {size_text(MAX_TOTAL)}); most are under "
                f"{content.busiest_folder()} (add it to `x-cfgroll: ignore:`)"
            )
        return content

    # -- helpers ---------------------------------------------------------------------------

    def add(self, rel: str, role: Role) -> None:
        old = self.roles.get(rel)
        if old is None or ROLE_ORDER.index(role) < ROLE_ORDER.index(old):
            self.roles[rel] = role

    def skip(self, path: str, reason: Reason, service: str = "", via: str = "") -> None:
        self.unrecorded[Unrecorded(path, reason, service, via)] = None

    def rel(self, path: Path) -> str | None:
        """`path` relative to the project folder with `/` ("" itself); None when outside."""
        p = Path(os.path.normpath(path if path.is_absolute() else self.dir / path))
        try:
            rel = p.relative_to(self.dir).as_posix()
        except ValueError:
            return None
        return "" if rel == "." else rel

    def ignored(self, rel: str) -> str | None:
        """The `ignore:` pattern that matches `rel` or a folder holding it."""
        parts = rel.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        for pattern in self.settings.ignore:
            bare = pattern.rstrip("/")
            if any(fnmatchcase(p, bare) for p in prefixes):
                return pattern
        return None

    def named_for_tracking(self, rel: str) -> bool:
        return any(
            rel == p or rel.startswith(p + "/") or fnmatchcase(rel, p)
            for p in (t.rstrip("/") for t in self.settings.track)
        )

    def git_tracked(self, folder: Path) -> set[Path] | None:
        key = str(folder)
        if key not in self._git:
            from cfgroll.store.worktree import tracked_paths

            self._git[key] = tracked_paths(folder)
        return self._git[key]
