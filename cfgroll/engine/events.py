"""The engine's container events, as the health gate follows them."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from cfgroll.engine.transport import Stream

ONEOFF_LABEL = "com.docker.compose.oneoff"
SERVICE_LABEL = "com.docker.compose.service"
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

    def __init__(self, stream: Stream | None) -> None:
        self._stream = stream
        self._changed = threading.Event()
        self._broken = stream is None
        self._closed = False
        self._died: list[Died] = []
        self.events = 0
        if stream is not None:
            threading.Thread(target=self._read, name="cfgroll-events", daemon=True).start()

    def deaths(self) -> list[Died]:
        """The service containers that died since the watch began, oldest first."""
        return list(self._died)

    def _read(self) -> None:
        try:
            for event in self._stream or ():
                self.events += 1
                died = died_of(event)
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
        if not self._closed and self._stream is not None:
            self._closed = True
            try:
                self._stream.close()
            except Exception:  # noqa: BLE001, S110 - it is going away either way
                pass


def died_of(event: Any) -> Died | None:
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
