"""The services manifest stored in every release commit at `MANIFEST_PATH`.

Keys are written in a fixed order so that `git diff` between two releases shows only what
changed. The format is documented in the README ("Store format").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from cfgroll.errors import StoreError

# Inside the project, `.cfgroll/` belongs to cfgroll (the store lives there), so no file of the
# user's can collide with this path.
MANIFEST_PATH = ".cfgroll/manifest.yaml"
FORMAT = 1
T = TypeVar("T")

# Kinds of commit in the store: releases are on `main`; attempts (failed deploys) and drafts
# (the user's unsaved edits, kept before an overwrite) are side commits reachable by tag only.
RELEASE = "release"
ATTEMPT = "attempt"
DRAFT = "draft"

# File roles: `env` files hold secrets and are masked in every output.
ENV = "env"
COMPOSE = "compose"


@dataclass(frozen=True)
class ContainerRecord:
    name: str
    state: str
    health: str | None = None


@dataclass(frozen=True)
class ServiceRecord:
    image: str  # the reference Compose uses for the service (`repo:tag` or `project-service`)
    image_id: str  # sha256:… the containers ran when recorded
    backup_ref: str  # `<repository>:<release tag>`, the tag cfgroll put on image_id
    config_hash: str = ""  # Compose's hash of the service's configuration
    containers: tuple[ContainerRecord, ...] = ()


@dataclass(frozen=True)
class Manifest:
    tag: str
    action: str  # deploy, rollback, baseline, update, …
    project: str
    created_at: datetime  # UTC
    host: str
    user: str
    cfgroll_version: str
    result: str  # "ok", or "failed: <reason>" for attempts
    kind: str = RELEASE
    target: str | None = None  # what a rollback went back to
    services_changed: tuple[str, ...] = ()
    files: dict[str, str] = field(default_factory=dict)  # project-relative path -> role
    compose_files: tuple[str, ...] = ()  # the `-f` files, in Compose's merge order
    services: dict[str, ServiceRecord] = field(default_factory=dict)
    log: str | None = None  # failure excerpt of an attempt

    def to_yaml(self) -> str:
        import yaml

        doc: dict[str, Any] = {
            "format": FORMAT,
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
                "compose_files": list(self.compose_files),
            },
            "files": dict(sorted(self.files.items())),
            "services": {
                name: {
                    "image": svc.image,
                    "image_id": svc.image_id,
                    "backup_ref": svc.backup_ref,
                    "config_hash": svc.config_hash,
                    "containers": [
                        {"name": c.name, "state": c.state, "health": c.health}
                        for c in svc.containers
                    ],
                }
                for name, svc in sorted(self.services.items())
            },
        }
        if self.log is not None:
            doc["log"] = self.log
        header = "# cfgroll release manifest (format 1); see the cfgroll README, 'Store format'\n"
        body = yaml.dump(
            doc, Dumper=_dumper(), sort_keys=False, default_flow_style=False, width=100
        )
        return header + body

    @classmethod
    def from_yaml(cls, text: str | bytes) -> Manifest:
        import yaml

        try:
            doc = yaml.load(text, Loader=_loader())  # noqa: S506 - a safe loader
            rel = doc["release"]
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
                result=rel["result"],
                files=dict(doc.get("files") or {}),
                compose_files=tuple(rel.get("compose_files") or ()),
                services=services,
                log=doc.get("log"),
            )
        except (KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
            raise StoreError(
                f"a release manifest in the store cannot be read ({exc}); the store may have "
                "been edited by hand: check it with `git --git-dir <store> fsck`"
            ) from exc


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
