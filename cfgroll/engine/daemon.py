"""The Docker engine: what cfgroll reads of it (containers, images, the engine itself, a Swarm
stack's services and tasks) and the few changes it makes (image tags, removals). Every request
goes through the engine's one `Transport` (`cfgroll.engine.transport`); which engine is
`cfgroll.engine.endpoint`'s choice (DOCKER_HOST, DOCKER_CONTEXT, `--context`), as the docker
CLI makes it. Pulls go through the docker CLI, which knows the registries' credentials.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from cfgroll.engine.endpoint import Endpoint, resolve
from cfgroll.engine.events import GATE_EVENTS, ONEOFF_LABEL, SERVICE_LABEL, Watch
from cfgroll.engine.folders import Mount, mounts_of
from cfgroll.engine.refs import repository, with_default_tag
from cfgroll.engine.swarm import (
    STACK_LABEL,
    SwarmObject,
    SwarmService,
    SwarmTask,
    service_of,
    task_of,
)
from cfgroll.engine.transport import Missing, Transport, open_transport, quoted, unreachable
from cfgroll.errors import CfgrollError, EngineRefused, EngineUnreachable

if TYPE_CHECKING:
    from cfgroll.engine.compose import Sink, Source
    from cfgroll.engine.folders import Folders

PROJECT_LABEL = "com.docker.compose.project"
CONFIG_HASH_LABEL = "com.docker.compose.config-hash"


# The engine's container states, and its health-check states.
State = Literal["created", "running", "paused", "restarting", "removing", "exited", "dead"]
Health = Literal["starting", "healthy", "unhealthy"]


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    service: str
    state: State
    health: Health | None  # None without a healthcheck
    image_id: str
    image_ref: str  # the reference the container was created from
    exit_code: int
    restart_count: int
    started_at: str
    config_hash: str  # Compose's hash of the service's configuration
    networks: tuple[str, ...] = ()  # the networks it is attached to
    created: str = ""  # when (the engine's ISO time): sorts a service's containers by age
    mounts: tuple[Mount, ...] = ()


def by_service(containers: Iterable[Container]) -> dict[str, list[Container]]:
    """The containers grouped by their Compose service, in the order given."""
    grouped: dict[str, list[Container]] = {}
    for c in containers:
        grouped.setdefault(c.service, []).append(c)
    return grouped


@dataclass(frozen=True)
class Image:
    id: str
    refs: tuple[str, ...]  # `repository:tag`
    size: int  # bytes of its own (not shared with another image)


@dataclass(frozen=True)
class EngineInfo:
    id: str
    name: str
    context: str
    swarm: str  # "inactive", "active", "pending", "error", "locked"
    manager: bool


def demux(data: bytes) -> bytes:
    """The payload of the engine's multiplexed log stream (frames of an 8-byte header: the
    stream, three zero bytes, the payload's length), stdout and stderr in order."""
    out, at = [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at + 4 : at + 8], "big")
        out.append(data[at + 8 : at + 8 + size])
        at += 8 + size
    return b"".join(out)


def _filters(filters: dict[str, Any]) -> str:
    """The engine's filter form: every value a list of strings, as JSON."""
    return json.dumps(
        {k: [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in filters.items()}
    )


class Daemon:
    """The engine, reached on first use."""

    def __init__(self, endpoint: Endpoint | None = None, transport: Transport | None = None):
        self.endpoint = endpoint or resolve()
        self._transport = transport
        self._engine: EngineInfo | None = None

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = open_transport(self.endpoint)
        return self._transport

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        body = self.transport.request("GET", path, params)
        try:
            return json.loads(body)
        except ValueError as exc:
            raise unreachable(f"not JSON: {body[:80]!r}") from exc

    def ping(self) -> None:
        """Raise `EngineUnreachable` unless the engine answers."""
        self.transport.request("GET", "/_ping")

    def watch(self, project: str) -> Watch:
        """Start following the events of the project's containers (see `Watch`)."""
        filters = {
            "type": ["container"],
            "label": [f"{PROJECT_LABEL}={project}"],
            "event": list(GATE_EVENTS),
        }
        try:
            return Watch(self.transport.stream("/events", {"filters": _filters(filters)}))
        except (CfgrollError, Missing):
            return Watch(None)  # no stream: the gate polls instead

    def _containers(self, filters: dict[str, Any] | None = None) -> Any:
        params = {"all": "1", **({"filters": _filters(filters)} if filters else {})}
        return self._get("/containers/json", params)

    def _of(self, project: str, service: str | None = None) -> Any:
        """The summaries of the Compose project's containers (one-off `run` ones left out)."""
        labels = [f"{PROJECT_LABEL}={project}", f"{ONEOFF_LABEL}=False"]
        if service:
            labels.append(f"{SERVICE_LABEL}={service}")
        return self._containers({"label": labels})

    def container_ids(self, project: str) -> set[str]:
        """The IDs of the project's containers: one request (`containers` inspects each)."""
        return {str(summary["Id"]) for summary in self._of(project)}

    def containers(self, project: str, service: str | None = None) -> list[Container]:
        """Every container of the Compose project (one-off `run` containers left out)."""
        found = []
        for summary in self._of(project, service):
            try:
                info = self._get(f"/containers/{quoted(summary['Id'])}/json")
            except Missing:
                continue  # removed while we looked
            state = info["State"]
            attached = (info.get("NetworkSettings") or {}).get("Networks") or {}
            found.append(
                Container(
                    id=info["Id"],
                    name=info["Name"].lstrip("/"),
                    service=info["Config"]["Labels"].get(SERVICE_LABEL, ""),
                    state=state["Status"],
                    health=(state.get("Health") or {}).get("Status"),
                    image_id=info["Image"],
                    image_ref=info["Config"]["Image"],
                    exit_code=state.get("ExitCode", 0),
                    restart_count=info.get("RestartCount", 0),
                    started_at=state.get("StartedAt", ""),
                    config_hash=info["Config"]["Labels"].get(CONFIG_HASH_LABEL, ""),
                    networks=tuple(sorted(attached)),
                    created=info.get("Created", ""),
                    mounts=mounts_of(info),
                )
            )
        return sorted(found, key=lambda c: c.name)

    def _image(self, ref: str) -> Any:
        return self._get(f"/images/{quoted(ref)}/json")

    def image_ids(self) -> set[str]:
        """The IDs of every image the engine holds (one request)."""
        return {str(i["Id"]) for i in self._get("/images/json", {"all": "1"})}

    def image_id(self, ref: str) -> str | None:
        """The ID of the image `ref` names (a reference or an ID), None when there is none."""
        try:
            return str(self._image(ref)["Id"])
        except Missing:
            return None

    def repo_digest(self, image_id: str, image_ref: str) -> str:
        """The registry digest (`repository@sha256:…`) of `image_id` for the repository of
        `image_ref` (else any it has), "" for an image that never came from a registry."""
        try:
            digests = self._image(image_id).get("RepoDigests") or []
        except Missing:
            return ""
        wanted = repository(image_ref)
        same = [d for d in digests if d.split("@", 1)[0] == wanted]
        return str((same or digests or [""])[0])

    def pull(self, reference: str, env: Mapping[str, str] | None = None) -> str:
        """Pull `reference` (`repository@sha256:…`) with the docker CLI (the registries'
        credentials are its business) on the engine `env` chooses (default: this process's
        environment, which chose this one); the ID of the image pulled."""
        from cfgroll.engine.compose import docker

        docker(["pull", "--quiet", reference], env=env)
        found = self.image_id(reference)
        if found is None:
            raise EngineUnreachable(f"the engine pulled {reference} but does not show it")
        return found

    def images(self) -> list[Image]:
        """Every image: its ID, references, and the bytes of its own (its layers no other image
        shares: what removing it frees at least), from the engine's disk usage report."""
        found = []
        for i in self._get("/system/df").get("Images") or []:
            shared = max(int(i.get("SharedSize") or 0), 0)  # -1: not computed
            found.append(
                Image(
                    str(i["Id"]),
                    tuple(t for t in i.get("RepoTags") or () if t != "<none>:<none>"),
                    max(int(i.get("Size") or 0) - shared, 0),
                )
            )
        return found

    def images_in_use(self) -> set[str]:
        """The image IDs of every container of any project, running or not."""
        return {str(c["ImageID"]) for c in self._containers()}

    def remove_image(self, image_id: str) -> bool:
        """Remove an image no reference and no container uses; False when the engine refuses
        (a container or a child image still needs it)."""
        return self._delete(f"/images/{quoted(image_id)}", {"force": "0", "noprune": "0"})

    def tag(self, image_id: str, ref: str) -> None:
        """Point `ref` (`repository:tag`) at `image_id`, moving it if it pointed elsewhere."""
        full = with_default_tag(ref)
        repo = repository(full)
        params = {"repo": repo, "tag": full[len(repo) + 1 :], "force": "1"}
        self.transport.request("POST", f"/images/{quoted(image_id)}/tag", params)

    def untag(self, ref: str) -> None:
        """Remove the reference `ref`, never the image layers another reference still uses."""
        # force: the reference goes even when a container runs its image (which stays)
        self._delete(f"/images/{quoted(ref)}", {"force": "1", "noprune": "1"})

    def remove_container(self, container_id: str) -> None:
        self._delete(f"/containers/{quoted(container_id)}", {"force": "1", "v": "0"})

    def disconnect(self, container: Container) -> None:
        """Take the container out of every network it is attached to: the engine's DNS stops
        naming it, and nothing new reaches it (a connection in flight hangs)."""
        for network in container.networks:
            try:
                self.transport.request(
                    "POST",
                    f"/networks/{quoted(network)}/disconnect",
                    body={"Container": container.id, "Force": True},
                )
            except Missing:
                pass  # gone meanwhile: out of it all the same

    def stop(self, container_ids: Iterable[str]) -> None:
        """Stop containers as `docker stop` does, each within its own grace period (Compose
        sets it from `stop_grace_period`), all at once; the docker CLI waits however long."""
        from cfgroll.engine.compose import docker

        ids = list(container_ids)
        if ids:
            docker(["stop", *ids])

    @property
    def folders(self) -> Folders:
        """Containers' folders copied out and in, and the one-off containers beside them."""
        from cfgroll.engine.folders import Folders

        return Folders()

    def exec(self, container_id: str, argv: Iterable[str], timeout: float) -> str:
        """Run `argv` in the running container (`docker exec`, no shell), within `timeout`
        seconds; its output. `CommandFailed` when it fails or takes longer."""
        from cfgroll.engine.compose import docker

        return docker(["exec", container_id, *argv], timeout=timeout).stdout

    def exec_out(self, container_id: str, argv: Sequence[str], sink: Sink, timeout: float) -> None:
        """Run `argv` in the running container, its stdout streamed to `sink` (a dump)."""
        from cfgroll.engine.compose import docker_stream

        docker_stream(["exec", container_id, *argv], timeout, "the dump", sink=sink)

    def exec_in(
        self, container_id: str, argv: Sequence[str], source: Source, timeout: float
    ) -> None:
        """Run `argv` in the running container, `source` streamed to its stdin (a restore)."""
        from cfgroll.engine.compose import docker_stream

        docker_stream(["exec", "-i", container_id, *argv], timeout, "the restore", source=source)

    def _delete(self, path: str, params: dict[str, Any] | None = None) -> bool:
        """DELETE `path`: True when it is gone (or was), False when the engine refuses."""
        try:
            self.transport.request("DELETE", path, params)
        except Missing:
            return True
        except EngineRefused:
            return False
        return True

    def logs(self, container_id: str, lines: int = 20) -> str:
        params = {"stdout": "1", "stderr": "1", "tail": str(lines)}
        try:
            data = self.transport.request("GET", f"/containers/{quoted(container_id)}/logs", params)
        except Missing:
            return ""
        data = demux(data) if data[:1] in (b"\x00", b"\x01", b"\x02") else data
        return data.decode("utf-8", errors="replace")

    def health_log(self, container_id: str) -> str:
        """The output of the container's last health check, if it has one."""
        try:
            state = self._get(f"/containers/{quoted(container_id)}/json")["State"]
        except Missing:
            return ""
        runs = (state.get("Health") or {}).get("Log") or []
        if not runs:
            return ""
        last = runs[-1]
        return f"exit {last.get('ExitCode')}: {str(last.get('Output', '')).strip()}"

    # -- the engine itself, and Swarm -----------------------------------------------------

    def engine(self) -> EngineInfo:
        """Which engine this is (ID, name) and its place in a swarm: asked once a run (a
        rollback's plan, its check under the lock and its record all need it)."""
        if self._engine is None:
            info = self._get("/info")
            swarm = info.get("Swarm") or {}
            self._engine = EngineInfo(
                str(info.get("ID") or ""),
                str(info.get("Name") or ""),
                self.endpoint.context,
                str(swarm.get("LocalNodeState") or "inactive"),
                bool(swarm.get("ControlAvailable")),
            )
        return self._engine

    def _stack(self, path: str, stack: str) -> Any:
        return self._get(path, {"filters": _filters({"label": [f"{STACK_LABEL}={stack}"]})})

    def stack_services(self, stack: str) -> list[SwarmService]:
        """The Swarm services of the stack `stack`."""
        return sorted(
            (service_of(s) for s in self._stack("/services", stack)), key=lambda s: s.name
        )

    def stack_tasks(self, stack: str) -> list[SwarmTask]:
        """Every task of the stack's services the engine still lists (old ones included)."""
        return [task_of(t) for t in self._stack("/tasks", stack)]

    def stack_objects(self, kind: SwarmObject, stack: str) -> dict[str, str]:
        """The stack's Swarm configs or secrets: name -> ID."""
        return {str(o["Spec"]["Name"]): str(o["ID"]) for o in self._stack(f"/{kind}s", stack)}

    def remove_object(self, kind: SwarmObject, object_id: str) -> bool:
        """Remove a Swarm config or secret; False when the engine refuses (a service uses it)."""
        return self._delete(f"/{kind}s/{quoted(object_id)}")


class ImageIdsLater:
    """The engine's image IDs, for `cfgroll log` (to mark which releases can be restored),
    asked by a thread now, while the store is read (the engine takes some 30 ms to answer)."""

    def __init__(self, daemon: Daemon) -> None:
        self._ids: set[str] | None = None
        self._asking = threading.Thread(target=self._ask, args=(daemon,), daemon=True)
        self._asking.start()

    def _ask(self, daemon: Daemon) -> None:
        try:
            self._ids = daemon.image_ids()
        except (CfgrollError, Missing):
            self._ids = None

    def result(self, timeout: float = 10.0) -> set[str] | None:
        """The IDs, or None when the engine did not answer in time."""
        self._asking.join(timeout)
        return self._ids
