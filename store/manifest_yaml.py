"""Reading and writing the manifest file (`MANIFEST_PATH`) and the hooks' notes: YAML in a
fixed key order, so that `git diff` between two releases shows only what changed. The format
is documented in docs/store-format.md."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from cfgroll.errors import StoreError
from cfgroll.store.manifest import (
    COMPOSE_FORMAT,
    FORMAT,
    RELEASE,
    RESULTS,
    ContainerRecord,
    EngineRecord,
    FileUse,
    GitSource,
    HookRecord,
    Layout,
    Manifest,
    Result,
    ServiceRecord,
    Unrecorded,
    orchestrator_of,
)


def manifest_to_yaml(m: Manifest) -> str:
    """The manifest file's text: keys in a fixed order, so that `git diff` shows only what
    changed."""
    import yaml

    doc: dict[str, Any] = {
        "format": FORMAT if m.orchestrator == "swarm" else COMPOSE_FORMAT,
        "release": {
            "tag": m.tag,
            "kind": m.kind,
            "action": m.action,
            "target": m.target,
            "services_changed": list(m.services_changed),
            "project": m.project,
            "created_at": _stamp(m.created_at),
            "host": m.host,
            "user": m.user,
            "cfgroll_version": m.cfgroll_version,
            "result": m.result,
            **({"reason": m.reason} if m.reason else {}),
            "compose_files": list(m.compose_files),
            "env_files": list(m.layout.env_files),
            "orchestrator": m.orchestrator,
            **({"engine": asdict(m.engine)} if m.engine else {}),
            **({"git": _git_doc(m.git)} if m.git else {}),
            **({"fleet_host": m.fleet_host} if m.fleet_host else {}),
        },
        "files": dict(sorted(m.files.items())),
        "uses": [asdict(u) for u in m.layout.uses],
        "not_recorded": [asdict(u) for u in m.layout.not_recorded],
        "services": {
            name: {
                "image": svc.image,
                "image_id": svc.image_id,
                "backup_ref": svc.backup_ref,
                "config_hash": svc.config_hash,
                **({"repo_digest": svc.repo_digest} if svc.repo_digest else {}),
                "containers": [
                    {"name": c.name, "state": c.state, "health": c.health} for c in svc.containers
                ],
            }
            for name, svc in sorted(m.services.items())
        },
    }
    if m.layout.settings:
        doc["x-cfgroll"] = dict(m.layout.settings)
    if m.log is not None:
        doc["log"] = m.log
    if m.source is not None:
        doc["release"]["source"] = m.source
    if m.hooks or m.hooks_skipped:
        doc["hooks"] = [r.to_dict() for r in m.hooks]
        doc["hooks_skipped"] = m.hooks_skipped
    header = (
        f"# cfgroll release manifest (format {doc['format']}); see cfgroll's docs/store-format.md\n"
    )
    body = yaml.dump(doc, Dumper=_dumper(), sort_keys=False, default_flow_style=False, width=100)
    return header + body


def manifest_from_yaml(text: str | bytes) -> Manifest:
    return manifest_from_doc(parse(text))


def manifest_from_doc(doc: Any) -> Manifest:
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
        return Manifest(
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
            git=_git(rel.get("git")),
            fleet_host=rel.get("fleet_host"),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _unreadable(exc) from exc


def hooks_to_yaml(records: Iterable[HookRecord]) -> str:
    """Hook runs kept after a release was recorded (a git note on its commit)."""
    import yaml

    doc = {"hooks": [r.to_dict() for r in records]}
    header = "# cfgroll: hooks run after this was recorded; see cfgroll's docs/hooks.md\n"
    return header + yaml.dump(doc, Dumper=_dumper(), sort_keys=False, width=100)


def hooks_from_yaml(text: str) -> list[HookRecord]:
    import yaml

    try:
        doc = yaml.load(text, Loader=_loader())  # noqa: S506 - a safe loader
        return [HookRecord.from_dict(d) for d in (doc or {}).get("hooks") or ()]
    except (KeyError, TypeError, ValueError, AttributeError, yaml.YAMLError):
        return []  # a note edited by hand is not worth failing `show` over


def _git_doc(source: GitSource) -> dict[str, str]:
    return {
        "commit": source.commit,
        "branch": source.branch,
        "remote": source.remote,
        "author": source.author,
        "committed_at": _stamp(source.committed_at),
    }


def _git(value: Any) -> GitSource | None:
    if not isinstance(value, dict):
        return None
    moment = datetime.fromisoformat(str(value["committed_at"]).replace("Z", "+00:00"))
    return GitSource(
        str(value["commit"]),
        str(value.get("branch") or ""),
        str(value.get("remote") or ""),
        str(value.get("author") or ""),
        moment,
    )


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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
