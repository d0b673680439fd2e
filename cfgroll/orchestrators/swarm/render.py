"""Rendering a Swarm stack file from Compose's resolved model, and the stack files releases keep."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfgroll.engine.swarm import SWARM_OBJECTS, SwarmObject
from cfgroll.errors import ProjectError, StoreError
from cfgroll.store.manifest import STACK_PATH, ServiceRecord
from cfgroll.store.repo import Entry, Store

STACK_VERSION = "3.9"
HASH_LEN = 10

# Service keys of Compose's model that a stack file carries over as they are; what else a
# service has is left out, with a warning (`build:` and `image:` are handled apart).
_SERVICE_KEYS = frozenset(
    (
        "cap_add cap_drop command configs deploy dns dns_search domainname entrypoint "
        "environment extra_hosts healthcheck hostname init ipc isolation labels logging "
        "networks ports read_only secrets stop_grace_period stop_signal sysctls tmpfs tty "
        "stdin_open ulimits user userns_mode volumes working_dir"
    ).split()
)
# Keys Compose fills in or that mean nothing to Swarm: dropped without a word.
_SILENT = frozenset(
    "build image env_file pull_policy restart depends_on container_name links scale".split()
)


@dataclass(frozen=True)
class Pinned:
    """A service's image: the reference in the compose file, the local image, its digest."""

    image: str  # `registry/team/web:1`
    image_id: str  # sha256:… in this engine
    digest: str  # `registry/team/web@sha256:…`

    @property
    def pinned(self) -> str:
        """`registry/team/web:1@sha256:…`: the tag for people, the digest for Swarm."""
        return f"{self.image.split('@', 1)[0]}@{self.digest.split('@', 1)[1]}"


@dataclass(frozen=True)
class Rendered:
    """A stack file as cfgroll deploys and records it, and what it says of each service."""

    text: str  # the YAML; holds interpolated values: never printed
    records: dict[str, ServiceRecord] = field(default_factory=dict)

    @property
    def doc(self) -> dict[str, Any]:
        import yaml

        loaded: dict[str, Any] = yaml.safe_load(self.text) or {}
        return loaded

    @property
    def objects(self) -> dict[SwarmObject, tuple[str, ...]]:
        """The names of the Swarm configs and secrets the file creates, by kind."""
        doc = self.doc
        return {
            kind: tuple(
                sorted(v["name"] for v in doc[f"{kind}s"].values() if not v.get("external"))
            )
            for kind in SWARM_OBJECTS
            if doc.get(f"{kind}s")
        }


# -- rendering ------------------------------------------------------------------------------


def render(
    stack: str,
    config: Mapping[str, Any],
    pinned: Mapping[str, Pinned],
    directory: Path,
    warn: Callable[[str], None] = lambda _m: None,
) -> Rendered:
    """The stack file of Compose's model `config` for the services of `pinned` (each with its
    image's digest), configs and secrets named by their content."""
    services: dict[str, Any] = {}
    dropped: dict[str, list[str]] = {}
    for name, svc in sorted((config.get("services") or {}).items()):
        if name not in pinned:
            continue  # an update renders only its services
        out: dict[str, Any] = {"image": pinned[name].pinned}
        for key, value in svc.items():
            if key in _SERVICE_KEYS:
                if value is None or value == {} or value == []:
                    continue
                out[key] = _service_value(key, value, directory)
            elif key not in _SILENT and not key.startswith("x-"):
                dropped.setdefault(key, []).append(name)
        services[name] = out
    for key, names in sorted(dropped.items()):
        warn(f"Swarm ignores `{key}:` ({', '.join(names)}); it is left out of the stack file")
    doc: dict[str, Any] = {"version": STACK_VERSION, "services": services}
    networks = {n: _network(v) for n, v in (config.get("networks") or {}).items()}
    if networks:
        doc["networks"] = networks
    volumes = {n: _volume(v) for n, v in (config.get("volumes") or {}).items()}
    if volumes:
        doc["volumes"] = volumes
    for kind in ("configs", "secrets"):
        found = {
            key: _object(stack, kind, key, value, directory)
            for key, value in sorted((config.get(kind) or {}).items())
        }
        if found:
            doc[kind] = found
    text = _dump(doc)
    records = {
        name: ServiceRecord(
            image=pinned[name].image,
            image_id=pinned[name].image_id,
            backup_ref="",
            config_hash=_spec_hash(services[name], doc),
            repo_digest=pinned[name].digest,
        )
        for name in services
    }
    return Rendered(text, records)


def _spec_hash(section: Mapping[str, Any], doc: Mapping[str, Any]) -> str:
    """What the service's spec is: its section, and the names (content hashes) of the configs
    and secrets it mounts, so that a changed config file changes it as Swarm sees it."""
    used: dict[str, list[str]] = {}
    for kind in ("configs", "secrets"):
        declared = doc.get(kind) or {}
        sources = [
            r.get("source") if isinstance(r, Mapping) else r for r in section.get(kind) or ()
        ]
        used[kind] = sorted(str((declared.get(s) or {}).get("name")) for s in sources)
    return _hash(json.dumps({"service": section, "uses": used}, sort_keys=True).encode())


def _dump(doc: Mapping[str, Any]) -> str:
    import yaml

    header = "# rendered by cfgroll from Compose's model; images pinned by digest\n"
    return header + yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=False, width=100)


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# the keys of a healthcheck that stack files (format 3.9) know
_HEALTHCHECK_KEYS = ("test", "interval", "timeout", "retries", "start_period", "disable")


def _service_value(key: str, value: Any, directory: Path) -> Any:
    if key == "deploy":
        return _deploy(value)
    if key == "healthcheck" and isinstance(value, Mapping):
        return {k: value[k] for k in _HEALTHCHECK_KEYS if k in value}
    if key == "ports":
        return [_port(p) for p in value]
    if key == "volumes":
        return [_mount(v, directory) for v in value]
    if key == "networks" and isinstance(value, Mapping):
        return {
            n: ({"aliases": v["aliases"]} if v and v.get("aliases") else None)
            for n, v in value.items()
        }
    return value


def _deploy(value: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in value.items() if v not in (None, {}, [])}
    resources = out.get("resources")
    if isinstance(resources, Mapping):
        out["resources"] = {
            part: {
                k: (f"{v}b" if k == "memory" and isinstance(v, int) else v) for k, v in r.items()
            }
            for part, r in resources.items()
            if r
        }
        if not out["resources"]:
            del out["resources"]
    return out


def _port(port: Any) -> Any:
    if not isinstance(port, Mapping):
        return port
    out = {k: port[k] for k in ("mode", "target", "protocol") if port.get(k) is not None}
    if port.get("published") not in (None, ""):
        out["published"] = int(str(port["published"]).split("-")[0])
    return out


def _mount(mount: Any, directory: Path) -> Any:
    if not isinstance(mount, Mapping):
        return mount
    out = {k: mount[k] for k in ("type", "source", "target", "read_only") if k in mount}
    if out.get("type") == "bind" and out.get("source"):
        out["source"] = _relative(str(out["source"]), directory)
    for part in ("volume", "tmpfs"):
        if mount.get(part):
            out[part] = mount[part]
    return out


def _network(value: Mapping[str, Any] | None) -> dict[str, Any]:
    value = value or {}
    if value.get("external"):
        return {"external": True, "name": value.get("name")}
    kept = ("driver_opts", "attachable", "internal", "labels", "ipam")
    out = {k: value[k] for k in kept if value.get(k)}
    if value.get("driver") not in (None, "bridge"):
        out["driver"] = value["driver"]
    return out


def _volume(value: Mapping[str, Any] | None) -> dict[str, Any]:
    value = value or {}
    if value.get("external"):
        return {"external": True, "name": value.get("name")}
    return {k: value[k] for k in ("driver", "driver_opts", "labels") if value.get(k)}


def _object(
    stack: str, kind: str, key: str, value: Mapping[str, Any], directory: Path
) -> dict[str, Any]:
    """A config or secret of the stack file: named `<stack>_<key>_<content hash>`."""
    if value.get("external"):
        return {"external": True, "name": value.get("name") or key}
    source = value.get("file")
    if not source:
        raise ProjectError(
            f"{kind[:-1]} {key} has no `file:`; a Swarm stack reads {kind} from files (or "
            "`external: true`)"
        )
    path = Path(source) if Path(source).is_absolute() else directory / source
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ProjectError(f"{kind[:-1]} {key}: cannot read {path} ({exc.strerror})") from None
    name = f"{stack}_{key}_{_hash(content)[:HASH_LEN]}"
    return {"name": name, "file": _relative(str(path), directory)}


def _relative(path: str, directory: Path) -> str:
    """A path inside the project as `./…` (the stack file is deployed from the project's
    folder, so a release still deploys after the folder moved), others as they are."""
    try:
        return "./" + Path(path).relative_to(directory).as_posix()
    except ValueError:
        return path


# -- images ---------------------------------------------------------------------------------


def stack_of(store: Store, entry: Entry) -> Rendered:
    """The rendered stack file `entry` recorded."""
    text = store.own_file(entry, STACK_PATH)
    if text is None:
        raise StoreError(
            f"{entry.tag} is a Swarm release without its stack file ({STACK_PATH}); the store "
            "may have been edited by hand: check it with `git --git-dir <store> fsck`"
        )
    return Rendered(text.decode(), dict(entry.manifest.services))


def merged(live: Rendered, new: Rendered, services: Collection[str]) -> Rendered:
    """`live`'s stack file with the sections of `services` taken from `new` (and the configs,
    secrets, networks and volumes they name): `update SERVICE` changes only those."""
    old_doc, new_doc = live.doc, new.doc
    doc = dict(old_doc)
    doc["services"] = {**old_doc.get("services", {})}
    for name in services:
        doc["services"][name] = new_doc["services"][name]
    for part in ("networks", "volumes", "configs", "secrets"):
        both = {**(old_doc.get(part) or {}), **(new_doc.get(part) or {})}
        if both:
            doc[part] = both
    records = {**live.records, **{n: new.records[n] for n in services}}
    return Rendered(_dump(doc), records)
