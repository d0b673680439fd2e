"""What runs right now: the manifest entries of the project's containers."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Literal

from cfgroll.engine.daemon import Daemon, by_service
from cfgroll.errors import CfgrollError, ProjectError
from cfgroll.store.manifest import ContainerRecord, ServiceRecord
from cfgroll.store.names import backup_ref


def service_records(
    daemon: Daemon, project: str, services: Iterable[str] | None, tag: str, require: bool = True
) -> dict[str, ServiceRecord]:
    """The manifest entries of `services` (None: all that have containers) from their
    containers; with `tag`, the backup reference each image gets."""
    grouped = by_service(daemon.containers(project))
    records = {}
    for name in sorted(grouped) if services is None else services:
        containers = grouped.get(name, [])
        if not containers and not require:
            continue
        if not containers:
            raise CfgrollError(
                f"service {name} has no container in project {project}; run `docker compose "
                f"-p {project} ps -a` to see what happened"
            )
        newest = max(containers, key=lambda c: c.started_at)
        records[name] = ServiceRecord(
            image=newest.image_ref,
            image_id=newest.image_id,
            backup_ref=backup_ref(newest.image_ref, tag) if tag else "",
            config_hash=newest.config_hash,
            containers=tuple(ContainerRecord(c.name, c.state, c.health) for c in containers),
            repo_digest=daemon.repo_digest(newest.image_id, newest.image_ref) if tag else "",
        )
    return records


# Whether a release's image is in the engine, can be pulled by its digest, or neither.
Availability = Literal["yes", "pull", "no"]


def judge(
    services: Mapping[str, ServiceRecord], images: Collection[str]
) -> dict[str, Availability]:
    """Per service: `yes` when its image is among `images` (the engine's IDs), `pull` when it
    is not but was recorded with a registry digest, else `no`."""
    return {
        name: "yes" if s.image_id in images else "pull" if s.repo_digest else "no"
        for name, s in sorted(services.items())
    }


def overall(found: Mapping[str, Availability]) -> Availability:
    """A release as a whole: `no` if one image is neither here nor pullable, else `pull` if one
    must be pulled, else `yes`."""
    values = set(found.values())
    if not values:  # a files-only release (imported without images): nothing to start
        return "no"
    return "no" if "no" in values else "pull" if "pull" in values else "yes"


def check_services(known: Iterable[str], names: Sequence[str], owner: str) -> list[str]:
    """`names`, once each, if every one is a service of `owner` ("this project", "release …");
    else an error that names the services it has."""
    known = sorted(known)
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        what = f"no service named {', '.join(unknown)}" if unknown else "no service given"
        raise ProjectError(f"{what}; the services of {owner} are: {', '.join(known)}")
    return list(dict.fromkeys(names))
