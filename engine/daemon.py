"""The Docker engine through the Docker SDK. This is the only module that imports `docker`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from cfgroll.engine.refs import repository, with_default_tag
from cfgroll.errors import EngineRefused, EngineUnreachable

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


class _Api:
    """The SDK's low-level client, each call turning a lost or failing engine into one
    readable `EngineUnreachable` (what the SDK raises is a stack of transport errors)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            import docker
            import requests

            try:
                return method(*args, **kwargs)
            except docker.errors.NotFound:
                raise
            except docker.errors.APIError as exc:
                if exc.is_client_error():  # the engine answered: it will not do this
                    explanation = " ".join(str(exc.explanation or exc).split())[:200]
                    raise EngineRefused(f"the Docker engine refused: {explanation}") from exc
                raise EngineUnreachable(
                    f"the Docker engine did not answer ({_short(exc)}); check that it runs "
                    "(`docker info`), then run the command again"
                ) from exc
            except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
                raise EngineUnreachable(
                    f"the Docker engine did not answer ({_short(exc)}); check that it runs "
                    "(`docker info`), then run the command again"
                ) from exc

        return call


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
    """A connection to the engine, opened on first use."""

    def __init__(self) -> None:
        self._client: Any = None

    @property
    def api(self) -> Any:
        if self._client is None:
            import docker

            try:
                # "auto": speak the engine's API version, old engines included
                client = docker.APIClient(version="auto", **_env_kwargs())
            except docker.errors.DockerException as exc:
                raise EngineUnreachable(
                    f"cannot reach the Docker engine ({_short(exc)}); start Docker, or set "
                    "DOCKER_HOST"
                ) from exc
            self._client = _Api(client)
        return self._client

    def ping(self) -> None:
        """Raise `EngineUnreachable` unless the engine answers."""
        self.api.ping()

    def containers(self, project: str, service: str | None = None) -> list[Container]:
        """Every container of the Compose project (one-off `run` containers left out)."""
        labels = [f"{PROJECT_LABEL}={project}", f"{ONEOFF_LABEL}=False"]
        if service:
            labels.append(f"{SERVICE_LABEL}={service}")
        found = []
        for summary in self.api.containers(all=True, filters={"label": labels}):
            try:
                info = self.api.inspect_container(summary["Id"])
            except _not_found():
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
        return {str(i) for i in self.api.images(all=True, quiet=True)}

    def image_id(self, ref: str) -> str | None:
        """The ID of the image `ref` names (a reference or an ID), None when there is none."""
        try:
            return str(self.api.inspect_image(ref)["Id"])
        except _not_found():
            return None

    def repo_digest(self, image_id: str, image_ref: str) -> str:
        """The registry digest (`repository@sha256:…`) of `image_id` for the repository of
        `image_ref` (else any it has), "" for an image that never came from a registry."""
        try:
            digests = self.api.inspect_image(image_id).get("RepoDigests") or []
        except _not_found():
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
        for i in self.api.df().get("Images") or []:
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
            return [str(t) for t in self.api.inspect_image(image_id).get("RepoTags") or []]
        except _not_found():
            return []

    def images_in_use(self) -> set[str]:
        """The image IDs of every container of any project, running or not."""
        return {str(c["ImageID"]) for c in self.api.containers(all=True)}

    def remove_image(self, image_id: str) -> bool:
        """Remove an image no reference and no container uses; False when the engine refuses
        (a container or a child image still needs it)."""
        try:
            self.api.remove_image(image_id, noprune=False)
        except _not_found():
            return True
        except EngineRefused:
            return False
        return True

    def tag(self, image_id: str, ref: str) -> None:
        """Point `ref` (`repository:tag`) at `image_id`, moving it if it pointed elsewhere."""
        full = with_default_tag(ref)
        repo = repository(full)
        self.api.tag(image_id, repo, full[len(repo) + 1 :], force=True)

    def untag(self, ref: str) -> None:
        """Remove the reference `ref`, never the image layers another reference still uses."""
        try:
            # force: the reference goes even when a container runs its image (which stays)
            self.api.remove_image(ref, force=True, noprune=True)
        except _not_found():
            pass

    def remove_container(self, container_id: str) -> None:
        try:
            self.api.remove_container(container_id, force=True, v=False)
        except _not_found():
            pass

    def logs(self, container_id: str, lines: int = 20) -> str:
        try:
            out = self.api.logs(container_id, tail=lines, stdout=True, stderr=True)
        except _not_found():
            return ""
        return out.decode(errors="replace") if isinstance(out, bytes) else str(out)

    def health_log(self, container_id: str) -> str:
        """The output of the container's last health check, if it has one."""
        try:
            state = self.api.inspect_container(container_id)["State"]
        except _not_found():
            return ""
        runs = (state.get("Health") or {}).get("Log") or []
        if not runs:
            return ""
        last = runs[-1]
        return f"exit {last.get('ExitCode')}: {str(last.get('Output', '')).strip()}"


def _not_found() -> type[Exception]:
    import docker

    return docker.errors.NotFound  # type: ignore[no-any-return]


def _env_kwargs() -> dict[str, Any]:
    import docker

    return docker.utils.kwargs_from_env()  # type: ignore[no-any-return]


class ImageIdsLater:
    """The engine's image IDs, asked for by a child process started now.

    Importing the Docker SDK alone takes about 0.15 s. `cfgroll log` only needs the image IDs
    (to mark which releases can still be restored), so it starts this first and reads the
    store meanwhile: on two cores the SDK's start-up then costs next to nothing. The child runs
    this module (`python -m cfgroll.engine.daemon`), so the SDK is still used here only.
    """

    def __init__(self) -> None:
        import subprocess
        import sys

        self._proc = subprocess.Popen(
            [sys.executable, "-m", "cfgroll.engine.daemon"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def result(self, timeout: float = 10.0) -> set[str] | None:
        """The IDs, or None when the engine did not answer in time."""
        import subprocess

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
