"""The Docker engine through the Docker SDK. This is the only module that imports `docker`.

Which engine: `cfgroll.engine.endpoint` (DOCKER_HOST, DOCKER_CONTEXT, `--context`, as the
docker CLI chooses). Reads from an engine on a local Unix socket, and image tags, go through
`_Local`, a few lines of HTTP over the standard library's sockets: importing the SDK and
`requests` costs about 0.15 s, more than `cfgroll log` or `cfgroll status` spend on everything
else. Every other engine (tcp, ssh, TLS) and every other change (pull, remove, untag) goes
through the SDK.
"""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from cfgroll.engine.endpoint import Endpoint, resolve
from cfgroll.engine.refs import repository, with_default_tag
from cfgroll.errors import CfgrollError, EngineRefused, EngineUnreachable

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
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


def by_service(containers: Iterable[Container]) -> dict[str, list[Container]]:
    """The containers grouped by their Compose service, in the order given."""
    grouped: dict[str, list[Container]] = {}
    for c in containers:
        grouped.setdefault(c.service, []).append(c)
    return grouped


class Missing(Exception):
    """The engine has no such container or image (HTTP 404)."""


UNREACHABLE = "check that it runs (`docker info`), then run the command again"


def _unreachable(why: str) -> EngineUnreachable:
    return EngineUnreachable(f"the Docker engine did not answer ({why}); {UNREACHABLE}")


class _Api:
    """The SDK's low-level client, each call turning a lost or failing engine into one
    readable `EngineUnreachable` (what the SDK raises is a stack of transport errors), a
    missing object into `Missing`."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            import docker
            import requests

            try:
                return method(*args, **kwargs)
            except docker.errors.NotFound as exc:
                raise Missing(str(exc)) from exc
            except docker.errors.APIError as exc:
                if exc.is_client_error():  # the engine answered: it will not do this
                    raise _refused(str(exc.explanation or exc)) from exc
                raise _unreachable(_short(exc)) from exc
            except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
                raise _unreachable(_short(exc)) from exc

        return call


def _refused(explanation: str) -> EngineRefused:
    return EngineRefused(f"the Docker engine refused: {' '.join(explanation.split())[:200]}")


def local_socket() -> str | None:
    """The Unix socket of the engine chosen (see `cfgroll.engine.endpoint`), None when that
    engine is reached another way (tcp, ssh, a Windows named pipe)."""
    return resolve().socket


class _Local:
    """Read-only requests to an engine on a local Unix socket, with the standard library: the
    same requests the SDK would make for the reads used here, under the engine's current API.
    Reads share one kept-alive connection, as the SDK's do (an engine that is shutting down
    still answers on it); the event stream has its own."""

    def __init__(self, socket_path: str, timeout: float = 60.0) -> None:
        self._path = socket_path
        self._timeout = timeout
        self._reached = False  # connected once: a later failure is a lost engine
        self._http: Any = None

    def _connect(self, timeout: float | None) -> Any:
        import socket

        if sys.platform == "win32":  # Windows engines listen on a named pipe: the SDK's door
            raise EngineUnreachable(f"unix://{self._path} is not an engine address on Windows")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(self._path)
        except OSError as exc:
            sock.close()
            if self._reached:  # it answered before: lost on the way
                raise _unreachable(_short(exc)) from exc
            raise EngineUnreachable(
                f"cannot reach the Docker engine at unix://{self._path} ({_short(exc)}); start "
                "Docker, or choose another engine (DOCKER_HOST, DOCKER_CONTEXT, --context)"
            ) from exc
        self._reached = True
        return sock

    def fetch(self, path: str, params: dict[str, Any] | None = None, method: str = "GET") -> bytes:
        """The body of `GET path?params` (or `method`, without a body) once the engine
        answered 2xx; `Missing` on 404,
        `EngineRefused` on other 4xx, `EngineUnreachable` otherwise. HTTP/1.1 on a kept-alive
        connection (a few lines here: `http.client` alone costs more to import than the
        request takes)."""
        from urllib.parse import urlencode

        url = path + (f"?{urlencode(params)}" if params else "")
        length = "Content-Length: 0\r\n" if method != "GET" else ""
        request = f"{method} {url} HTTP/1.1\r\nHost: docker\r\n{length}\r\n".encode()
        for fresh in (False, True):
            if self._http is None:
                fresh = True
                sock = self._connect(self._timeout)
                self._http = (sock, sock.makefile("rb"))
            sock, reader = self._http
            try:
                sock.sendall(request)
                status, body, keep = _response(reader)
                break
            except (OSError, ValueError) as exc:
                self._drop()
                if fresh:  # not a kept-alive connection the engine had closed meanwhile
                    raise _unreachable(_short(exc)) from exc
        if not keep:
            self._drop()
        if status >= 300:
            raise _answer_error(status, body.decode(errors="replace"))
        return body

    def _drop(self) -> None:
        if self._http is not None:
            sock, reader = self._http
            reader.close()
            sock.close()
            self._http = None

    def open(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """A file reading the body of `GET path?params` as it comes (the caller closes it), on
        a connection of its own with no time limit: for the event stream. HTTP/1.0, so the
        body is not chunked and ends when the engine closes the connection."""
        from urllib.parse import urlencode

        query = f"?{urlencode(params)}" if params else ""
        sock = self._connect(self._timeout)
        try:
            sock.sendall(f"GET {path}{query} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
            body = sock.makefile("rb")
            status_line = body.readline().decode("latin-1")
            while body.readline() not in (b"\r\n", b"\n", b""):
                pass  # headers: the body runs to the end of the connection
            sock.settimeout(None)
        except OSError as exc:
            sock.close()
            raise _unreachable(_short(exc)) from exc
        sock.close()  # the file keeps the connection open until it is closed
        try:
            status = int(status_line.split()[1])
        except (IndexError, ValueError):
            body.close()
            raise _unreachable(f"not an HTTP answer: {status_line.strip()[:80]!r}") from None
        if status < 300:
            return body
        text = body.read().decode(errors="replace")
        body.close()
        raise _answer_error(status, text)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            return json.loads(self.fetch(path, params))
        except ValueError as exc:
            raise _unreachable(_short(exc)) from exc

    # the SDK's names for the reads cfgroll makes

    def ping(self) -> None:
        self.fetch("/_ping")

    def containers(self, all: bool = False, filters: dict[str, Any] | None = None) -> Any:
        params: dict[str, Any] = {"all": "1" if all else "0"}
        if filters:
            params["filters"] = json.dumps(_filters(filters))
        return self.get("/containers/json", params)

    def inspect_container(self, container_id: str) -> Any:
        return self.get(f"/containers/{_quote(container_id)}/json")

    def images(self, all: bool = False, quiet: bool = False) -> Any:
        found = self.get("/images/json", {"all": "1" if all else "0"})
        return [i["Id"] for i in found] if quiet else found

    def inspect_image(self, ref: str) -> Any:
        return self.get(f"/images/{_quote(ref)}/json")

    def df(self) -> Any:
        return self.get("/system/df")

    def tag(self, image: str, repository: str, tag: str, force: bool = True) -> None:
        """The one change made here (each rollback and release makes a few, on the way to
        Compose): `POST /images/{image}/tag`, idempotent."""
        params = {"repo": repository, "tag": tag, "force": int(force)}
        self.fetch(f"/images/{_quote(image)}/tag", params, method="POST")

    def info(self) -> Any:
        return self.get("/info")

    def _listed(self, path: str, filters: dict[str, Any] | None) -> Any:
        return self.get(path, {"filters": json.dumps(_filters(filters or {}))})

    def services(self, filters: dict[str, Any] | None = None) -> Any:
        return self._listed("/services", filters)

    def tasks(self, filters: dict[str, Any] | None = None) -> Any:
        return self._listed("/tasks", filters)

    def configs(self, filters: dict[str, Any] | None = None) -> Any:
        return self._listed("/configs", filters)

    def secrets(self, filters: dict[str, Any] | None = None) -> Any:
        return self._listed("/secrets", filters)

    def remove_config(self, config_id: str) -> None:
        self.fetch(f"/configs/{_quote(config_id)}", method="DELETE")

    def remove_secret(self, secret_id: str) -> None:
        self.fetch(f"/secrets/{_quote(secret_id)}", method="DELETE")

    def logs(self, container_id: str, tail: int, stdout: bool, stderr: bool) -> bytes:
        params = {"stdout": int(stdout), "stderr": int(stderr), "tail": tail}
        data = self.fetch(f"/containers/{_quote(container_id)}/logs", params)
        return _demux(data) if data[:1] in (b"\x00", b"\x01", b"\x02") else data


def _response(reader: Any) -> tuple[int, bytes, bool]:
    """Read one HTTP/1.1 response: its status, its body (by Content-Length, chunked, or to
    the end of the connection) and whether the connection stays open."""
    line = reader.readline()
    if not line:
        raise ValueError("the engine closed the connection")
    status = int(line.split()[1])
    headers: dict[str, str] = {}
    while True:
        raw = reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    keep = headers.get("connection", "").lower() != "close" and not line.startswith(b"HTTP/1.0")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int(reader.readline().split(b";")[0], 16)
            if size == 0:
                while reader.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            parts.append(reader.read(size))
            reader.readline()  # the CRLF after each chunk
        return status, b"".join(parts), keep
    if "content-length" in headers:
        return status, reader.read(int(headers["content-length"])), keep
    if status in (204, 304) or 100 <= status < 200:
        return status, b"", keep
    return status, reader.read(), False


def _answer_error(status: int, text: str) -> CfgrollError | Missing:
    try:
        message = str(json.loads(text).get("message", text))
    except (ValueError, AttributeError):
        message = text
    if status == 404:
        return Missing(message)
    if 400 <= status < 500:
        return _refused(message)
    return _unreachable(f"{status} {message}"[:160])


def _demux(data: bytes) -> bytes:
    """The payload of the engine's multiplexed log stream (frames of an 8-byte header: the
    stream, three zero bytes, the payload's length), stdout and stderr in order."""
    out, at = [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at + 4 : at + 8], "big")
        out.append(data[at + 8 : at + 8 + size])
        at += 8 + size
    return b"".join(out)


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _filters(filters: dict[str, Any]) -> dict[str, list[str]]:
    """The engine's filter form: every value a list of strings."""
    return {k: [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in filters.items()}


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    for marker in ("Connection refused", "No such file or directory", "Read timed out"):
        if marker in text:
            return marker.lower()
    return text[:160] or type(exc).__name__


@dataclass(frozen=True)
class Image:
    id: str
    refs: tuple[str, ...]  # `repository:tag`
    size: int  # bytes of its own (not shared with another image)


class Daemon:
    """A connection to the engine, opened on first use: reads through `_Local` where the
    engine is on a local socket, everything else through the SDK."""

    def __init__(self, endpoint: Endpoint | None = None) -> None:
        self._client: Any = None
        self._engine: EngineInfo | None = None
        self.endpoint = endpoint or resolve()
        socket_path = self.endpoint.socket
        self._local = _Local(socket_path) if socket_path else None

    @property
    def api(self) -> Any:
        """The SDK's client (for changes, and for reads from an engine not on a local socket)."""
        if self._client is None:
            self._client = _sdk_client(self.endpoint)
        return self._client

    @property
    def read(self) -> Any:
        """Where reads go: `_Local` or the SDK, with the same method names."""
        return self._local if self._local is not None else self.api

    def ping(self) -> None:
        """Raise `EngineUnreachable` unless the engine answers."""
        self.read.ping()

    def watch(self, project: str) -> Watch:
        """Start following the events of the project's containers (see `Watch`)."""
        filters = {
            "type": ["container"],
            "label": [f"{PROJECT_LABEL}={project}"],
            "event": list(GATE_EVENTS),
        }
        try:
            if self._local is not None:
                query = {"filters": json.dumps(filters)}
                return Watch(_Lines(self._local.open("/events", query)))
            return Watch(self.api.events(decode=True, filters=filters))
        except (CfgrollError, Missing):
            return Watch(_Lines(io.BytesIO()))  # no stream: the gate polls instead

    def containers(self, project: str, service: str | None = None) -> list[Container]:
        """Every container of the Compose project (one-off `run` containers left out)."""
        labels = [f"{PROJECT_LABEL}={project}", f"{ONEOFF_LABEL}=False"]
        if service:
            labels.append(f"{SERVICE_LABEL}={service}")
        found = []
        for summary in self.read.containers(all=True, filters={"label": labels}):
            try:
                info = self.read.inspect_container(summary["Id"])
            except Missing:
                continue  # removed while we looked
            state = info["State"]
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
                )
            )
        return sorted(found, key=lambda c: c.name)

    def image_ids(self) -> set[str]:
        """The IDs of every image the engine holds (one request)."""
        return {str(i) for i in self.read.images(all=True, quiet=True)}

    def image_id(self, ref: str) -> str | None:
        """The ID of the image `ref` names (a reference or an ID), None when there is none."""
        try:
            return str(self.read.inspect_image(ref)["Id"])
        except Missing:
            return None

    def repo_digest(self, image_id: str, image_ref: str) -> str:
        """The registry digest (`repository@sha256:…`) of `image_id` for the repository of
        `image_ref` (else any it has), "" for an image that never came from a registry."""
        try:
            digests = self.read.inspect_image(image_id).get("RepoDigests") or []
        except Missing:
            return ""
        wanted = repository(image_ref)
        same = [d for d in digests if d.split("@", 1)[0] == wanted]
        return str((same or digests or [""])[0])

    def pull(self, reference: str) -> str:
        """Pull `reference` (`repository@sha256:…`); the ID of the image pulled."""
        repo, _, digest = reference.partition("@")
        self.api.pull(repo, tag=digest or None)
        found = self.image_id(reference)
        if found is None:
            raise EngineUnreachable(f"the engine pulled {reference} but does not show it")
        return found

    def images(self) -> list[Image]:
        """Every image: its ID, references, and the bytes of its own (its layers no other image
        shares: what removing it frees at least), from the engine's disk usage report."""
        found = []
        for i in self.read.df().get("Images") or []:
            shared = max(int(i.get("SharedSize") or 0), 0)  # -1: not computed
            found.append(
                Image(
                    str(i["Id"]),
                    tuple(t for t in i.get("RepoTags") or () if t != "<none>:<none>"),
                    max(int(i.get("Size") or 0) - shared, 0),
                )
            )
        return found

    def image_refs(self, image_id: str) -> list[str]:
        """The references (`repository:tag`) that point at `image_id`."""
        try:
            return [str(t) for t in self.read.inspect_image(image_id).get("RepoTags") or []]
        except Missing:
            return []

    def images_in_use(self) -> set[str]:
        """The image IDs of every container of any project, running or not."""
        return {str(c["ImageID"]) for c in self.read.containers(all=True)}

    def remove_image(self, image_id: str) -> bool:
        """Remove an image no reference and no container uses; False when the engine refuses
        (a container or a child image still needs it)."""
        try:
            self.api.remove_image(image_id, noprune=False)
        except Missing:
            return True
        except EngineRefused:
            return False
        return True

    def tag(self, image_id: str, ref: str) -> None:
        """Point `ref` (`repository:tag`) at `image_id`, moving it if it pointed elsewhere."""
        full = with_default_tag(ref)
        repo = repository(full)
        self.read.tag(image_id, repo, full[len(repo) + 1 :], force=True)

    def untag(self, ref: str) -> None:
        """Remove the reference `ref`, never the image layers another reference still uses."""
        try:
            # force: the reference goes even when a container runs its image (which stays)
            self.api.remove_image(ref, force=True, noprune=True)
        except Missing:
            pass

    def remove_container(self, container_id: str) -> None:
        try:
            self.api.remove_container(container_id, force=True, v=False)
        except Missing:
            pass

    def logs(self, container_id: str, lines: int = 20) -> str:
        try:
            out = self.read.logs(container_id, tail=lines, stdout=True, stderr=True)
        except Missing:
            return ""
        return out.decode(errors="replace") if isinstance(out, bytes) else str(out)

    def health_log(self, container_id: str) -> str:
        """The output of the container's last health check, if it has one."""
        try:
            state = self.read.inspect_container(container_id)["State"]
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
            self._engine = self._engine_info()
        return self._engine

    def _engine_info(self) -> EngineInfo:
        info = self.read.info()
        swarm = info.get("Swarm") or {}
        return EngineInfo(
            str(info.get("ID") or ""),
            str(info.get("Name") or ""),
            self.endpoint.context,
            str(swarm.get("LocalNodeState") or "inactive"),
            bool(swarm.get("ControlAvailable")),
        )

    def stack_services(self, stack: str) -> list[SwarmService]:
        """The Swarm services of the stack `stack`."""
        found = []
        for s in self.read.services(filters={"label": [f"{STACK_LABEL}={stack}"]}):
            spec = s["Spec"]
            template = spec.get("TaskTemplate") or {}
            container = template.get("ContainerSpec") or {}
            mode = spec.get("Mode") or {}
            replicas = (mode.get("Replicated") or {}).get("Replicas")
            update = s.get("UpdateStatus") or {}
            found.append(
                SwarmService(
                    id=str(s["ID"]),
                    name=str(spec["Name"]),
                    image=str(container.get("Image") or ""),
                    replicas=None if "Global" in mode else int(replicas or 0),
                    update_state=str(update.get("State") or ""),
                    update_message=str(update.get("Message") or ""),
                    spec_key=_task_key(template),
                    healthcheck=bool((container.get("Healthcheck") or {}).get("Test")),
                )
            )
        return sorted(found, key=lambda s: s.name)

    def stack_tasks(self, stack: str) -> list[SwarmTask]:
        """Every task of the stack's services the engine still lists (old ones included)."""
        found = []
        for t in self.read.tasks(filters={"label": [f"{STACK_LABEL}={stack}"]}):
            status = t.get("Status") or {}
            found.append(
                SwarmTask(
                    id=str(t["ID"]),
                    service_id=str(t.get("ServiceID") or ""),
                    slot=int(t.get("Slot") or 0),
                    state=str(status.get("State") or ""),
                    desired=str(t.get("DesiredState") or ""),
                    error=str(status.get("Err") or status.get("Message") or ""),
                    spec_key=_task_key(t.get("Spec") or {}),
                    image=str(((t.get("Spec") or {}).get("ContainerSpec") or {}).get("Image", "")),
                    container_id=str(
                        (status.get("ContainerStatus") or {}).get("ContainerID") or ""
                    ),
                    exit_code=(status.get("ContainerStatus") or {}).get("ExitCode"),
                )
            )
        return found

    def stack_objects(self, kind: SwarmObject, stack: str) -> dict[str, str]:
        """The stack's Swarm configs or secrets: name -> ID."""
        reader = self.read.configs if kind == "config" else self.read.secrets
        return {
            str(o["Spec"]["Name"]): str(o["ID"])
            for o in reader(filters={"label": [f"{STACK_LABEL}={stack}"]})
        }

    def remove_object(self, kind: SwarmObject, object_id: str) -> bool:
        """Remove a Swarm config or secret; False when the engine refuses (a service uses it)."""
        try:
            if kind == "config":
                self.read.remove_config(object_id)
            else:
                self.read.remove_secret(object_id)
        except Missing:
            return True
        except EngineRefused:
            return False
        return True


STACK_LABEL = "com.docker.stack.namespace"
SwarmObject = Literal["config", "secret"]
SWARM_OBJECTS: tuple[SwarmObject, ...] = ("config", "secret")


def _task_key(template: dict[str, Any]) -> str:
    """What tells a task made from a service's current spec from one of an earlier spec: the
    task template without the fields the engine fills in on its tasks."""
    import hashlib

    kept = {k: v for k, v in template.items() if k != "Runtime"}
    kept.setdefault("ForceUpdate", 0)  # absent on one, 0 on the other
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EngineInfo:
    id: str
    name: str
    context: str
    swarm: str  # "inactive", "active", "pending", "error", "locked"
    manager: bool


@dataclass(frozen=True)
class SwarmService:
    id: str
    name: str  # `<stack>_<service>`
    image: str  # as the spec says (`repository:tag@sha256:…` once pinned)
    replicas: int | None  # None: a global service
    update_state: str  # "", "updating", "paused", "completed", "rollback_…"
    update_message: str
    spec_key: str
    healthcheck: bool


@dataclass(frozen=True)
class SwarmTask:
    id: str
    service_id: str
    slot: int
    state: str  # "new" … "running", "complete", "failed", "rejected", "shutdown", …
    desired: str
    error: str
    spec_key: str
    image: str
    container_id: str
    exit_code: int | None

    @property
    def running(self) -> bool:
        """Running, and meant to (not one Swarm is stopping)."""
        return self.state == "running" and self.desired == "running"


# The container events that can change what the health gate sees.
GATE_EVENTS = "create start restart die kill oom stop destroy pause unpause health_status".split()


@dataclass(frozen=True)
class Died:
    """A service container's `die` event: it exited (with `exit_code`)."""

    container_id: str
    name: str
    service: str
    exit_code: int


class Watch:
    """The engine's container events for one project, read by a background thread: `wait`
    returns as soon as something happened to one of its containers, so that the gate reads
    the states again then, instead of polling; `deaths` are the service containers that
    exited meanwhile (the engine may take a while longer to answer an inspect of a container
    that just died: the event alone says it). Should the stream fail, `wait` falls back to
    short pauses (the caller polls)."""

    FALLBACK = 0.2  # seconds between reads once the stream is gone

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._changed = threading.Event()
        self._broken = False
        self._closed = False
        self._died: list[Died] = []
        self.events = 0
        threading.Thread(target=self._read, name="cfgroll-events", daemon=True).start()

    def deaths(self) -> list[Died]:
        """The service containers that died since the watch began, oldest first."""
        return list(self._died)

    def _read(self) -> None:
        try:
            for event in self._stream:
                self.events += 1
                died = _died(event)
                if died is not None:
                    self._died.append(died)
                self._changed.set()
        except Exception:  # noqa: BLE001, S110 - closed by `close`, or the engine went away
            pass
        self._broken = True
        self._changed.set()

    def wait(self, timeout: float) -> bool:
        """Up to `timeout` seconds until an event (True) or none came (False)."""
        if self._broken:
            time.sleep(min(timeout, self.FALLBACK))
            return True
        fired = self._changed.wait(timeout)
        self._changed.clear()
        return fired

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._stream.close()
            except Exception:  # noqa: BLE001, S110 - it is going away either way
                pass


def _died(event: Any) -> Died | None:
    """The `Died` an event reports: a service container (not a one-off `run`) that exited."""
    if not isinstance(event, dict) or event.get("Action", event.get("status")) != "die":
        return None
    actor = event.get("Actor") or {}
    labels = actor.get("Attributes") or {}
    if labels.get(ONEOFF_LABEL, "False") != "False" or SERVICE_LABEL not in labels:
        return None
    try:
        code = int(labels.get("exitCode", -1))
    except (TypeError, ValueError):
        code = -1
    cid = str(actor.get("ID") or event.get("id") or "")
    return Died(cid, str(labels.get("name", cid[:12])), str(labels[SERVICE_LABEL]), code)


class _Lines:
    """The JSON objects of an HTTP/1.0 event stream, one a line; `close` ends it."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def __iter__(self) -> Iterator[Any]:
        for line in self._body:
            if line.strip():
                yield json.loads(line)

    def close(self) -> None:
        import socket

        try:
            self._body.raw._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked reader
        except (AttributeError, OSError):
            pass
        self._body.close()


def _sdk_client(endpoint: Endpoint) -> Any:
    """The SDK's client for `endpoint`: `DOCKER_HOST` with the SDK's own reading of the
    environment (`DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`), a context's host with its TLS
    files, an `ssh://` host through the `ssh` client, as the docker CLI does."""
    import docker

    try:
        # "auto": speak the engine's API version, old engines included
        if endpoint.chosen_by != "context":
            kwargs = docker.utils.kwargs_from_env()
        else:
            kwargs = {"base_url": endpoint.host, "use_ssh_client": endpoint.ssh}
            if endpoint.tls_dir is not None:
                files = {n: str(endpoint.tls_dir / f"{n}.pem") for n in ("ca", "cert", "key")}
                kwargs["tls"] = docker.tls.TLSConfig(
                    client_cert=(files["cert"], files["key"]),
                    ca_cert=None if endpoint.skip_tls_verify else files["ca"],
                    verify=not endpoint.skip_tls_verify,
                )
        client = docker.APIClient(version="auto", **kwargs)
    except docker.errors.DockerException as exc:
        raise EngineUnreachable(
            f"cannot reach the Docker engine at {endpoint.host} ({_short(exc)}); start Docker, "
            "or choose another engine (DOCKER_HOST, DOCKER_CONTEXT, --context)"
        ) from exc
    return _Api(client)


class ImageIdsLater:
    """The engine's image IDs, for `cfgroll log` (to mark which releases can be restored).

    From a local socket they are one request, made now by a thread while the store is read
    (the engine takes some 30 ms to answer). Otherwise they need the SDK, whose import alone
    takes about 0.15 s: a child process (`python -m cfgroll.engine.daemon`) started now
    imports it on the other core meanwhile.
    """

    def __init__(self, timeout: float = 10.0) -> None:
        import subprocess
        import sys

        socket_path = local_socket()
        self._proc = None
        self._ids: set[str] | None = None
        self._asking: threading.Thread | None = None
        if socket_path is not None:
            self._asking = threading.Thread(
                target=self._ask, args=(_Local(socket_path, timeout),), daemon=True
            )
            self._asking.start()
        else:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "cfgroll.engine.daemon"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
            )

    def _ask(self, local: _Local) -> None:
        try:
            self._ids = set(local.images(all=True, quiet=True))
        except (CfgrollError, Missing):
            self._ids = None

    def result(self, timeout: float = 10.0) -> set[str] | None:
        """The IDs, or None when the engine did not answer in time."""
        import subprocess

        if self._asking is not None:
            self._asking.join(timeout)
            return self._ids
        assert self._proc is not None
        try:
            out, _ = self._proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.communicate()
            return None
        return set(out.split()) if self._proc.returncode == 0 else None


def _print_image_ids() -> int:
    try:
        ids = Daemon().image_ids()
    except Exception:  # noqa: BLE001 - the parent only needs to know it did not work
        return 1
    print("\n".join(sorted(ids)))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_print_image_ids())
