"""The services manifest stored in every release commit at `MANIFEST_PATH`.

Keys are written in a fixed order so that `git diff` between two releases shows only what
changed. The format is documented in the README ("Store format").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from cfgroll.errors import StoreError

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
HOOK_POINTS: tuple[HookPoint, ...] = (
    "pre-deploy",
    "check",
    "post-deploy",
    "pre-rollback",
    "post-rollback",
    "on-failure",
)
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


def hooks_to_yaml(records: Iterable[HookRecord]) -> str:
    """Hook runs kept after a release was recorded (a git note on its commit)."""
    import yaml

    doc = {"hooks": [r.to_dict() for r in records]}
    header = "# cfgroll: hooks run after this was recorded; see the README, 'Hooks'\n"
    return header + yaml.dump(doc, Dumper=_dumper(), sort_keys=False, width=100)


def hooks_from_yaml(text: str) -> list[HookRecord]:
    import yaml

    try:
        doc = yaml.load(text, Loader=_loader())  # noqa: S506 - a safe loader
        return [HookRecord.from_dict(d) for d in (doc or {}).get("hooks") or ()]
    except (KeyError, TypeError, ValueError, AttributeError, yaml.YAMLError):
        return []  # a note edited by hand is not worth failing `show` over


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

    def to_yaml(self) -> str:
        import yaml

        doc: dict[str, Any] = {
            "format": FORMAT if self.orchestrator == "swarm" else COMPOSE_FORMAT,
            "release": {
                "tag": self.tag,
                "kind": self.kind,
                "action": self.action,
                "target": self.target,
                "services_changed": list(self.services_changed),
                "project": self.project,
                "created_at": self.created_at.astimezone(timezone.utc).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
                "host": self.host,
                "user": self.user,
                "cfgroll_version": self.cfgroll_version,
                "result": self.result,
                **({"reason": self.reason} if self.reason else {}),
                "compose_files": list(self.compose_files),
                "env_files": list(self.layout.env_files),
                "orchestrator": self.orchestrator,
                **({"engine": asdict(self.engine)} if self.engine else {}),
            },
            "files": dict(sorted(self.files.items())),
            "uses": [asdict(u) for u in self.layout.uses],
            "not_recorded": [asdict(u) for u in self.layout.not_recorded],
            "services": {
                name: {
                    "image": svc.image,
                    "image_id": svc.image_id,
                    "backup_ref": svc.backup_ref,
                    "config_hash": svc.config_hash,
                    **({"repo_digest": svc.repo_digest} if svc.repo_digest else {}),
                    "containers": [
                        {"name": c.name, "state": c.state, "health": c.health}
                        for c in svc.containers
                    ],
                }
                for name, svc in sorted(self.services.items())
            },
        }
        if self.layout.settings:
            doc["x-cfgroll"] = dict(self.layout.settings)
        if self.log is not None:
            doc["log"] = self.log
        if self.source is not None:
            doc["release"]["source"] = self.source
        if self.hooks or self.hooks_skipped:
            doc["hooks"] = [r.to_dict() for r in self.hooks]
            doc["hooks_skipped"] = self.hooks_skipped
        header = (
            f"# cfgroll release manifest (format {doc['format']}); see the README, 'Store format'\n"
        )
        body = yaml.dump(
            doc, Dumper=_dumper(), sort_keys=False, default_flow_style=False, width=100
        )
        return header + body

    @classmethod
    def from_yaml(cls, text: str | bytes) -> Manifest:
        return cls.from_doc(parse(text))

    @classmethod
    def from_doc(cls, doc: Any) -> Manifest:
        """The manifest of a parsed manifest file (`parse`)."""
        try:
            if int(doc.get("format", 1)) > FORMAT:
                raise StoreError(
                    f"a release in the store was written by a newer cfgroll (manifest format "
                    f"{doc['format']}); upgrade cfgroll to read it"
                )
            rel = doc["release"]
            said, _, reason = str(rel["result"]).partition(": ")  # before: "failed: <reason>"
            if said not in RESULTS:
                raise ValueError(f"result {said!r}")
            result: Result = said
            reason = str(rel.get("reason") or reason)
            created = datetime.fromisoformat(rel["created_at"].replace("Z", "+00:00"))
            services = {
                name: ServiceRecord(
                    image=svc["image"],
                    image_id=svc["image_id"],
                    backup_ref=svc["backup_ref"],
                    config_hash=svc.get("config_hash", ""),
                    containers=tuple(
                        ContainerRecord(c["name"], c["state"], c.get("health"))
                        for c in svc.get("containers") or ()
                    ),
                    repo_digest=svc.get("repo_digest", ""),
                )
                for name, svc in (doc.get("services") or {}).items()
            }
            return cls(
                tag=rel["tag"],
                kind=rel.get("kind", RELEASE),
                action=rel["action"],
                target=rel.get("target"),
                services_changed=tuple(rel.get("services_changed") or ()),
                project=rel["project"],
                created_at=created,
                host=rel["host"],
                user=rel["user"],
                cfgroll_version=rel["cfgroll_version"],
                result=result,
                reason=reason,
                layout=Layout(
                    roles=dict(doc.get("files") or {}),
                    compose_files=tuple(rel.get("compose_files") or ()),
                    env_files=tuple(rel.get("env_files") or ()),
                    uses=tuple(
                        FileUse(
                            u["path"],
                            u["service"],
                            u["via"],
                            u.get("target", ""),
                            bool(u.get("read_only")),
                        )
                        for u in doc.get("uses") or ()
                    ),
                    not_recorded=tuple(
                        Unrecorded(u["path"], u["reason"], u.get("service", ""), u.get("via", ""))
                        for u in doc.get("not_recorded") or ()
                    ),
                    settings=dict(doc.get("x-cfgroll") or {}),
                ),
                services=services,
                log=doc.get("log"),
                hooks=tuple(HookRecord.from_dict(d) for d in doc.get("hooks") or ()),
                hooks_skipped=bool(doc.get("hooks_skipped")),
                source=rel.get("source"),
                orchestrator=orchestrator_of(rel.get("orchestrator") or "compose"),
                engine=_engine(rel.get("engine")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _unreadable(exc) from exc


def orchestrator_of(value: object) -> Orchestrator:
    """`value` as an `Orchestrator`; `ValueError` when it is none of them."""
    for known in ORCHESTRATORS:
        if value == known:
            return known
    raise ValueError(f"orchestrator {value!r}")


def _engine(value: Any) -> EngineRecord | None:
    if not value:
        return None
    return EngineRecord(
        str(value["id"]), str(value.get("name") or ""), str(value.get("context") or "default")
    )


def parse(text: str | bytes) -> Any:
    """A manifest file's YAML, as plain data."""
    import yaml

    try:
        return yaml.load(text, Loader=_loader())  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise _unreadable(exc) from exc


def _unreadable(exc: BaseException) -> StoreError:
    return StoreError(
        f"a release manifest in the store cannot be read ({exc}); the store may have "
        "been edited by hand: check it with `git --git-dir <store> fsck`"
    )


def _loader() -> Any:
    """libyaml's safe loader where PyYAML has it (ten times faster), else the Python one."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _dumper() -> Any:
    import yaml

    return getattr(yaml, "CSafeDumper", yaml.SafeDumper)


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
