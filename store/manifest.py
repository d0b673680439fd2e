"""The services manifest stored in every release commit at `MANIFEST_PATH`.

Keys are written in a fixed order so that `git diff` between two releases shows only what
changed (`cfgroll.store.manifest_yaml` writes and reads it). The format: docs/store-format.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from cfgroll.engine.daemon import Health, State

# Inside the project, `.cfgroll/` belongs to cfgroll (the store lives there), so no file of the
# user's can collide with this path.
MANIFEST_PATH = ".cfgroll/manifest.yaml"
STACK_PATH = ".cfgroll/stack.yaml"  # a Swarm release's rendered stack file
OWN_FILES = (MANIFEST_PATH, STACK_PATH)  # cfgroll's files in a commit; the rest is the project's
# 2 added `uses`, `not_recorded` and `env_files`; 3 marks a Swarm release (`orchestrator:
# swarm`), which an older cfgroll must not take for a Compose one. Compose releases stay 2.
FORMAT = 3
COMPOSE_FORMAT = 2
T = TypeVar("T")

# Kinds of commit in the store: releases are on `main`; attempts (failed deploys) and drafts
# (the user's unsaved edits, kept before an overwrite) are side commits reachable by tag only.
Kind = Literal["release", "attempt", "draft"]
RELEASE: Kind = "release"
ATTEMPT: Kind = "attempt"
DRAFT: Kind = "draft"
# What made a commit, and how it ended (an attempt's `reason` says why it failed).
Action = Literal["deploy", "update", "rollback", "baseline", "draft", "import"]
Result = Literal["ok", "failed", "saved"]
RESULTS: tuple[Result, ...] = ("ok", "failed", "saved")

# What runs a release: `docker compose up`, or `docker stack deploy` on a Swarm manager.
Orchestrator = Literal["compose", "swarm"]
ORCHESTRATORS: tuple[Orchestrator, ...] = ("compose", "swarm")

# What a project file is to the stack. `env` and `secret` files hold secrets: `env` values are
# masked in every output (keys stay visible), `secret` files are never shown at all.
Role = Literal["compose", "env", "secret", "config", "mount", "tracked", "hook"]
ENV: Role = "env"
COMPOSE: Role = "compose"
SECRET: Role = "secret"
# When a file has several roles, the one listed first wins (a secret stays a secret).
ROLE_ORDER: tuple[Role, ...] = (
    "secret",
    "env",
    "compose",
    "config",
    "mount",
    "hook",
    "tracked",
)

# How a service reads a file or folder.
Via = Literal["env_file", "bind", "config", "secret"]
# Why a file the stack reads is not in the release.
Reason = Literal["outside the project", "writable folder", "ignored", "missing"]


@dataclass(frozen=True)
class FileUse:
    """A service reads `path` (a project file or folder) through `via`, at `target` inside."""

    path: str
    service: str
    via: Via
    target: str = ""
    read_only: bool = False


@dataclass(frozen=True)
class Unrecorded:
    """Something the stack reads that the release does not hold, and why."""

    path: str  # project-relative, or absolute outside the project
    reason: Reason
    service: str = ""
    via: str = ""  # a `Via`, or "include", "extends", "env-file" for files of the project


# The points where cfgroll runs the project's hooks, and how a hook run ended.
HookPoint = Literal[
    "pre-deploy", "check", "post-deploy", "pre-rollback", "post-rollback", "on-failure"
]
HookResult = Literal["ok", "failed", "timed out", "not started"]


@dataclass(frozen=True)
class HookRecord:
    """One hook's run as a release or attempt keeps it: how it ended and its last lines
    (secrets redacted). `tries`: how often it ran (the `check` hook repeats until it passes)."""

    name: HookPoint
    result: HookResult
    exit_code: int | None = None  # None: killed, or never started
    seconds: float = 0.0
    tries: int = 1
    output: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "result": self.result,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 2),
            "tries": self.tries,
            "output": self.output,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HookRecord:
        return cls(
            d["name"],
            d["result"],
            d.get("exit_code"),
            float(d.get("seconds") or 0),
            int(d.get("tries") or 1),
            str(d.get("output") or ""),
        )


@dataclass(frozen=True)
class Layout:
    """Everything a release says about the project's files except their content."""

    roles: dict[str, Role] = field(default_factory=dict)  # project-relative path -> role
    compose_files: tuple[str, ...] = ()  # the `-f` files, in Compose's merge order
    env_files: tuple[str, ...] = ()  # the `--env-file`s (none: Compose reads `.env`)
    uses: tuple[FileUse, ...] = ()
    not_recorded: tuple[Unrecorded, ...] = ()
    # The project's `x-cfgroll:` block as Compose resolved it: a rollback starts the release
    # with the settings (gate timeout, hooks folder, …) it was deployed with.
    settings: dict[str, Any] = field(default_factory=dict)

    def services_using(self, paths: Iterable[str]) -> set[str]:
        """The services that mount (bind, config, secret) one of `paths` or a folder holding
        one: those Compose would not recreate when only the file changed."""
        found = set()
        for path in paths:
            for use in self.uses:
                if use.via != "env_file" and (path == use.path or path.startswith(use.path + "/")):
                    found.add(use.service)
        return found


@dataclass(frozen=True)
class ContainerRecord:
    name: str
    state: State  # as the engine said it when the release was recorded
    health: Health | None = None


@dataclass(frozen=True)
class ServiceRecord:
    image: str  # the reference Compose uses for the service (`repo:tag` or `project-service`)
    image_id: str  # sha256:… the containers ran when recorded
    backup_ref: str  # `<repository>:<release tag>`, the tag cfgroll put on image_id
    config_hash: str = ""  # Compose's hash of the service's configuration
    containers: tuple[ContainerRecord, ...] = ()
    repo_digest: str = ""  # `repository@sha256:…` when the image came from a registry


@dataclass(frozen=True)
class EngineRecord:
    """The engine a release ran on: its ID and name (`docker info`), and the docker context
    that reached it."""

    id: str
    name: str
    context: str = "default"


@dataclass(frozen=True)
class GitSource:
    """The commit of the project's own git repository a release was deployed from (`cfgroll
    pull`)."""

    commit: str
    branch: str
    remote: str
    author: str
    committed_at: datetime  # UTC

    @property
    def short(self) -> str:
        return self.commit[:7]


@dataclass(frozen=True)
class Manifest:
    tag: str
    action: Action
    project: str
    created_at: datetime  # UTC
    host: str
    user: str
    cfgroll_version: str
    result: Result
    kind: Kind = RELEASE
    reason: str = ""  # why an attempt failed
    target: str | None = None  # what a rollback went back to
    services_changed: tuple[str, ...] = ()
    layout: Layout = field(default_factory=Layout)
    services: dict[str, ServiceRecord] = field(default_factory=dict)
    log: str | None = None  # failure excerpt of an attempt
    hooks: tuple[HookRecord, ...] = ()  # the hooks run before this was recorded
    hooks_skipped: bool = False  # `--no-hooks`
    source: str | None = None  # the `.backup/` folder an imported release was read from
    orchestrator: Orchestrator = "compose"
    engine: EngineRecord | None = None  # None: recorded before cfgroll noted the engine
    git: GitSource | None = None  # the project commit `cfgroll pull` deployed
    fleet_host: str | None = None  # the fleet's host it was made on (a release: the first)

    @property
    def outcome(self) -> str:
        """`ok`, `saved`, or `failed: <reason>`, as `log` and `show` print it."""
        return f"{self.result}: {self.reason}" if self.reason else self.result

    @property
    def files(self) -> dict[str, Role]:
        """Project-relative path -> role of every file the release holds."""
        return self.layout.roles

    @property
    def compose_files(self) -> tuple[str, ...]:
        return self.layout.compose_files


def orchestrator_of(value: object) -> Orchestrator:
    """`value` as an `Orchestrator`; `ValueError` when it is none of them."""
    for known in ORCHESTRATORS:
        if value == known:
            return known
    raise ValueError(f"orchestrator {value!r}")


def changed_keys(
    old: Mapping[str, T], new: Mapping[str, T], key: Callable[[T], object] = lambda v: v
) -> list[str]:
    """Keys added, removed, or whose value (as `key` sees it) differs between two mappings."""
    return sorted(
        k
        for k in old.keys() | new.keys()
        if k not in old or k not in new or key(old[k]) != key(new[k])
    )


def changed_services(
    old: Mapping[str, ServiceRecord] | None, new: Mapping[str, ServiceRecord]
) -> list[str]:
    """Services whose image or Compose configuration differs between two manifests (added and
    removed ones too): the services Compose recreated."""
    return changed_keys(old or {}, new, lambda s: (s.image_id, s.config_hash))
