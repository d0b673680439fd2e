"""Small hand-written stand-ins for the engine door (`cfgroll.engine.daemon.Daemon`): the same
methods, states scripted by the test. No mocking library, nothing patched."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from cfgroll.engine.daemon import Container
from cfgroll.engine.events import Died


def container(service: str, state: str = "running", health: str | None = None) -> Container:
    return Container(
        id=f"id-{service}",
        name=f"p-{service}-1",
        service=service,
        state=state,
        health=health,
        image_id="sha256:" + "a" * 64,
        image_ref=f"p-{service}",
        exit_code=0,
        restart_count=0,
        started_at="",
        config_hash="h",
    )


class ScriptedDaemon:
    """Each `containers()` call returns the next scripted view (the last one repeats)."""

    def __init__(self, views: Sequence[Sequence[Container]]) -> None:
        self._views: Iterator[Sequence[Container]] = iter(views)
        self._last: Sequence[Container] = ()
        self.calls = 0

    def containers(self, project: str, service: str | None = None) -> list[Container]:
        self.calls += 1
        self._last = next(self._views, self._last)
        return [c for c in self._last if service is None or c.service == service]

    def logs(self, container_id: str, lines: int = 20) -> str:
        return f"log of {container_id}"

    def watch(self, project: str) -> EveryReadAnEvent:
        return EveryReadAnEvent()

    def health_log(self, container_id: str) -> str:
        return "wget: server returned error: HTTP/1.1 500"


class EveryReadAnEvent:
    """The engine's event stream as the gate sees it: here, something happened before each of
    the daemon's next views, so the gate reads again at once."""

    def __init__(self) -> None:
        self.waits = 0
        self.closed = False

    def wait(self, timeout: float) -> bool:
        self.waits += 1
        return True

    def close(self) -> None:
        self.closed = True

    def deaths(self) -> list[Died]:
        return []


def healthy(c: Container) -> Container:
    return replace(c, health="healthy")
