"""A container's folders through the engine, by the docker CLI: copied out and in (`docker
cp`, owners and modes kept, the container running or stopped), and the one-off containers
cfgroll runs beside a service, on its folders (to measure, empty or restore them)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from cfgroll.engine.compose import Sink, Source

ONE_OFF_LABEL = "io.cfgroll.one-off"  # a container cfgroll runs beside a service, then removes


@dataclass(frozen=True)
class Mount:
    """A folder the engine mounts into a container: a volume (named or anonymous) or a bind
    mount of a host path."""

    kind: Literal["volume", "bind", "tmpfs", "npipe", "cluster"]
    name: str  # the volume's name; the host path of a bind mount
    destination: str  # where the container sees it
    writable: bool


def mounts_of(info: dict[str, Any]) -> tuple[Mount, ...]:
    """The mounts of a container, as the engine inspects it."""
    return tuple(
        Mount(
            m.get("Type", ""),
            m.get("Name") or m.get("Source", ""),
            m.get("Destination", ""),
            bool(m.get("RW")),
        )
        for m in info.get("Mounts") or ()
    )


class Folders:
    def start(self, container_ids: Iterable[str]) -> None:
        """Start stopped containers (`docker start`), as they were."""
        from cfgroll.engine.compose import docker

        ids = list(container_ids)
        if ids:
            docker(["start", *ids])

    def copy_out(self, container_id: str, path: str, sink: Sink, timeout: float) -> None:
        """A tar stream of `path` in the container, running or stopped (`docker cp`), owners
        and modes kept, to `sink`."""
        from cfgroll.engine.compose import docker_stream

        docker_stream(["cp", f"{container_id}:{path}", "-"], timeout, "the copy", sink=sink)

    def copy_in(self, container_id: str, folder: str, source: Source, timeout: float) -> None:
        """Unpack the tar stream `source` into `folder` of the container, running or stopped,
        with the owners and modes it records."""
        from cfgroll.engine.compose import docker_stream

        docker_stream(["cp", "-", f"{container_id}:{folder}"], timeout, "the copy", source=source)

    def one_off(
        self, image: str, mounts: Iterable[Mount], argv: Sequence[str], stdin: bool = False
    ) -> str:
        """Create (not start) a container of `image` that runs `argv` (no shell) as root, on
        no network, with `mounts` where a service has them; its ID. `run_one_off` runs it;
        the caller removes it (`remove_container`)."""
        from cfgroll.engine.compose import docker

        args = ["create", "--network", "none", "--user", "0", "--label", ONE_OFF_LABEL]
        for m in mounts:
            args += ["--mount", f"type={m.kind},source={m.name},target={m.destination}"]
        args += ["-i"] if stdin else []
        return docker([*args, "--entrypoint", argv[0], image, *argv[1:]]).stdout.strip()

    def run_one_off(
        self,
        container_id: str,
        timeout: float,
        what: str,
        source: Source | None = None,
        sink: Sink | None = None,
    ) -> None:
        """Start a container made by `one_off` and wait for it to end (`docker start -a`):
        `source` to its stdin, its stdout to `sink`; `CommandFailed` when it fails or takes
        longer than `timeout` (then it is killed)."""
        from cfgroll.engine.compose import docker_stream

        args = ["start", "-a", *(["-i"] if source is not None else []), container_id]
        try:
            docker_stream(args, timeout, what, source=source, sink=sink)
        except BaseException:
            self.remove(container_id)
            raise

    def remove(self, container_id: str) -> None:
        """Remove a one-off container, running or not."""
        from cfgroll.engine.compose import docker

        docker(["rm", "-f", container_id])
