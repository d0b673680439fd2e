"""What the engine says of a Swarm stack: its services, their tasks, its configs and secrets."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

STACK_LABEL = "com.docker.stack.namespace"
SwarmObject = Literal["config", "secret"]
SWARM_OBJECTS: tuple[SwarmObject, ...] = ("config", "secret")


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


def service_of(s: dict[str, Any]) -> SwarmService:
    """A service as `GET /services` lists it."""
    spec = s["Spec"]
    template = spec.get("TaskTemplate") or {}
    container = template.get("ContainerSpec") or {}
    mode = spec.get("Mode") or {}
    replicas = (mode.get("Replicated") or {}).get("Replicas")
    update = s.get("UpdateStatus") or {}
    return SwarmService(
        id=str(s["ID"]),
        name=str(spec["Name"]),
        image=str(container.get("Image") or ""),
        replicas=None if "Global" in mode else int(replicas or 0),
        update_state=str(update.get("State") or ""),
        update_message=str(update.get("Message") or ""),
        spec_key=task_key(template),
        healthcheck=bool((container.get("Healthcheck") or {}).get("Test")),
    )


def task_of(t: dict[str, Any]) -> SwarmTask:
    """A task as `GET /tasks` lists it."""
    status = t.get("Status") or {}
    spec = t.get("Spec") or {}
    container = status.get("ContainerStatus") or {}
    return SwarmTask(
        id=str(t["ID"]),
        service_id=str(t.get("ServiceID") or ""),
        slot=int(t.get("Slot") or 0),
        state=str(status.get("State") or ""),
        desired=str(t.get("DesiredState") or ""),
        error=str(status.get("Err") or status.get("Message") or ""),
        spec_key=task_key(spec),
        image=str((spec.get("ContainerSpec") or {}).get("Image", "")),
        container_id=str(container.get("ContainerID") or ""),
        exit_code=container.get("ExitCode"),
    )


def task_key(template: dict[str, Any]) -> str:
    """What tells a task made from a service's current spec from one of an earlier spec: the
    task template without the fields the engine fills in on its tasks."""
    kept = {k: v for k, v in template.items() if k != "Runtime"}
    kept.setdefault("ForceUpdate", 0)  # absent on one, 0 on the other
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]
