"""The health gate: a deploy succeeds only when its services run, and stay running.

A container passes when it is `running` and, where it has a healthcheck, `healthy`; one without
a healthcheck must also have been seen running for `settle` seconds, so a crash just after the
start is caught. A container that exits, restarts or turns `unhealthy` fails the gate at once.
The gate follows the engine's container events (start, die, health_status, ...): it reads the
states once at the start, then again as soon as an event arrives, when a settling container's
time is up, and at the latest every `IDLE` seconds; there is no polling loop and no fixed
sleep. Once every service passes, the project's `check` (its `check` hook) runs, and again
after a pause while it fails, the containers still watched, until it passes or the time is up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone

from cfgroll.engine.daemon import Container, Daemon, by_service
from cfgroll.engine.events import Died
from cfgroll.errors import CfgrollError
from cfgroll.settings import Limits as Limits  # the gate's limits are settings

IDLE = 2.0  # the longest the gate goes without reading the states, events or not
CHECK_LEAST = 1.0  # seconds a try of the check is given at least, even at the gate's end
LOG_LINES = 20


class GateFailed(CfgrollError):
    """A service did not become healthy; `service`, `reason` and `details` say why."""

    def __init__(self, service: str, reason: str, excerpt: str) -> None:
        self.service = service
        self.reason = reason
        self.details = excerpt
        super().__init__(f"service {service} {reason}")


class CheckFailed(GateFailed):
    """The services were healthy, but the project's own check never passed."""

    def __init__(self, reason: str, excerpt: str) -> None:
        CfgrollError.__init__(self, reason)
        self.service = ""
        self.reason = reason
        self.details = excerpt


# A try of the project's check within the seconds left: None when it passed, else why not.
Check = Callable[[float], "str | None"]


@dataclass(frozen=True)
class Baseline:
    """Restart counts before `up`, so that only restarts after it count as failures; and the
    containers a start-first rollout retires once the gate passes (not judged)."""

    restarts: Mapping[str, int]
    retiring: frozenset[str] = frozenset()


def baseline(daemon: Daemon, project: str) -> Baseline:
    return Baseline({c.id: c.restart_count for c in daemon.containers(project)})


def wait_healthy(
    daemon: Daemon,
    project: str,
    services: Iterable[str],
    limits: Limits,
    before: Baseline,
    on_states: Callable[[dict[str, str]], None] = lambda _s: None,
    check: Check | None = None,
    check_pause: float = 1.0,
) -> None:
    """Return when every container of `services` passes, and then `check`; raise `GateFailed`
    (`CheckFailed`) otherwise."""
    wanted = sorted(services)
    timeout, settle = limits.timeout, limits.settle
    start = time.monotonic()
    seen_running: dict[tuple[str, str], float] = {}  # (container id, StartedAt) -> first seen
    # opened before the first read, so that no event falls in between
    with closing(daemon.watch(project)) as watch:
        while True:
            deaths = [d for d in watch.deaths() if d.container_id not in before.retiring]
            died = next((d for d in deaths if d.service in wanted), None)
            if died is not None:  # the event says it, before the engine answers for it
                exited = f"exited with code {died.exit_code}"
                on_states({died.service: exited})  # at once: the logs take the engine a while
                raise GateFailed(died.service, exited, _last_logs(daemon, died))
            now = time.monotonic()
            grouped = by_service(
                c for c in daemon.containers(project) if c.id not in before.retiring
            )
            states: dict[str, str] = {}
            for name in wanted:
                containers = grouped.get(name, [])
                if not containers:
                    states[name] = "no container"
                    continue
                verdicts = []
                for c in containers:
                    failure = _failure(c, before)
                    if failure:
                        on_states({**states, name: failure})
                        raise GateFailed(name, failure, _excerpt(daemon, c))
                    verdicts.append(_progress(c, seen_running, now, settle))
                states[name] = min(verdicts, key=_ORDER.index)
            on_states(states)
            if all(s == "healthy" or s == "running" for s in states.values()):
                if checked(check, states, start, timeout, on_states, check_pause):
                    return
                continue
            if now - start >= timeout:
                waiting = ", ".join(f"{n} ({s})" for n, s in states.items() if s not in _DONE)
                first = next(n for n, s in states.items() if s not in _DONE)
                pending = grouped.get(first)
                raise GateFailed(
                    first,
                    f"was not healthy after {timeout:g}s; still waiting for {waiting}",
                    _excerpt(daemon, pending[0]) if pending else "",
                )
            # until something happens, a settling container's time is up, or the gate's time
            wake = [start + timeout, now + IDLE]
            wake += [first + settle for first in seen_running.values() if first + settle > now]
            watch.wait(max(min(wake) - time.monotonic(), 0.0) + 0.01)


def checked(
    check: Check | None,
    states: dict[str, str],
    start: float,
    timeout: float,
    on_states: Callable[[dict[str, str]], None],
    pause: float = 1.0,
) -> bool:
    """Once every service passed (`states`): whether the project's `check` passes too (True
    without one). A failing try is shown and followed by `pause`; `CheckFailed` when no time
    is left for another whole try of the gate's `timeout`, counted from `start`."""
    if check is None:
        return True
    failing = check(max(timeout - (time.monotonic() - start), CHECK_LEAST))
    if failing is None:
        return True
    # no time left for a whole try after the pause: this try's say is the last
    if time.monotonic() - start + pause + CHECK_LEAST >= timeout:
        raise CheckFailed(f"{failing}, for {timeout:g}s", "")
    on_states({**states, "check": failing.removeprefix("the check hook ")})
    time.sleep(pause)
    return False


def _last_logs(daemon: Daemon, died: Died) -> str:
    logs = daemon.logs(died.container_id, LOG_LINES).rstrip()
    return f"last log lines of {died.name}:\n{logs}" if logs else ""


_DONE = ("healthy", "running")
# From least to most advanced: a service is as far as its least advanced container.
_ORDER = ["no container", "created", "starting", "settling", "running", "healthy"]


def _failure(c: Container, before: Baseline) -> str | None:
    if c.state in ("exited", "dead"):
        return f"exited with code {c.exit_code}"
    if c.state == "restarting" or c.restart_count > before.restarts.get(c.id, 0):
        return f"is restarting (exit code {c.exit_code}, {c.restart_count} restarts)"
    if c.health == "unhealthy":
        return "is unhealthy"
    if c.state == "paused":
        return "is paused"
    return None


def _progress(
    c: Container, seen_running: dict[tuple[str, str], float], now: float, settle: float
) -> str:
    if c.state != "running":
        return "created"
    if c.health == "starting":
        return "starting"
    if c.health == "healthy":
        return "healthy"
    first = seen_running.setdefault((c.id, c.started_at), now)
    # A container that was already running long before (not recreated) has settled already.
    running_for = max(now - first, _age(c.started_at))
    return "running" if running_for >= settle else "settling"


def _age(started_at: str) -> float:
    """Seconds since the engine's StartedAt (`2026-11-26T22:06:17.123456789Z`), 0 if unknown."""
    try:  # fromisoformat: strptime's first call compiles its patterns (some 10 ms)
        whole = datetime.fromisoformat(started_at[:19]).replace(tzinfo=timezone.utc)
    except ValueError:
        return 0.0
    return max(0.0, time.time() - whole.timestamp() - 1)  # -1: the fraction we cut off


def _excerpt(daemon: Daemon, c: Container) -> str:
    """The container's last log lines and its last health-check output."""
    parts = []
    logs = daemon.logs(c.id, LOG_LINES).rstrip()
    if logs:
        parts.append(f"last log lines of {c.name}:\n{logs}")
    probe = daemon.health_log(c.id)
    if probe:
        parts.append(f"last health check of {c.name}:\n{probe}")
    return "\n".join(parts)
