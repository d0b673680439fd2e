"""The health gate's verdicts from container states, decided without an engine."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from cfgroll.capabilities import gate
from cfgroll.engine.daemon import Container
from cfgroll.engine.events import Died
from tests.core.fakes import ScriptedDaemon, container, healthy

LIMITS = gate.Limits(timeout=5, settle=0)


def test_a_service_turning_unhealthy_fails_at_once_with_its_health_output() -> None:
    """One service is healthy, the other goes from starting to unhealthy: the gate names the
    unhealthy one and carries its health check's output, without waiting for the timeout."""
    api, web = container("api", health="starting"), container("web", health="starting")
    daemon = ScriptedDaemon(
        [[api, web], [healthy(api), web], [healthy(api), container("web", health="unhealthy")]]
    )
    with pytest.raises(gate.GateFailed) as failed:
        gate.wait_healthy(daemon, "p", ["api", "web"], LIMITS, gate.Baseline({}))
    assert failed.value.service == "web" and failed.value.reason == "is unhealthy"
    assert "HTTP/1.1 500" in failed.value.details
    assert daemon.calls == 3  # decided on the first view that showed it


def test_healthy_services_pass() -> None:
    daemon = ScriptedDaemon([[container("web", health="starting")], [healthy(container("web"))]])
    gate.wait_healthy(daemon, "p", ["web"], LIMITS, gate.Baseline({}))
    assert daemon.calls == 2


class NoEvents:
    """An event stream that stays quiet: each wait lasts its whole timeout."""

    def __init__(self) -> None:
        self.timeouts: list[float] = []
        self.closed = False

    def wait(self, timeout: float) -> bool:
        import time

        self.timeouts.append(timeout)
        time.sleep(timeout)
        return False

    def close(self) -> None:
        self.closed = True

    def deaths(self) -> list[object]:
        return []


def test_without_events_the_gate_reads_again_only_when_a_container_has_settled() -> None:
    """No polling: between reads the gate waits on the engine's events, and with none coming
    it wakes once, when the settling container's time is up (not every fraction of a second);
    the stream is closed when the gate ends."""
    quiet = NoEvents()
    daemon = ScriptedDaemon([[container("worker")]])
    daemon.watch = lambda project: quiet  # type: ignore[method-assign]
    gate.wait_healthy(
        daemon, "p", ["worker"], gate.Limits(timeout=5, settle=0.3), gate.Baseline({})
    )
    assert len(quiet.timeouts) == 1 and 0 < quiet.timeouts[0] <= 0.32  # one wait, no polls
    assert daemon.calls == 2 and quiet.closed


def test_a_starting_service_is_read_again_at_the_latest_after_idle() -> None:
    """A health check that takes long: with no event the gate still reads the states every
    `IDLE` seconds (the first wait asks for at most that)."""
    quiet = NoEvents()
    quiet.wait = lambda timeout: quiet.timeouts.append(timeout) or False  # type: ignore[method-assign]
    views = [[container("web", health="starting")], [healthy(container("web"))]]
    daemon = ScriptedDaemon(views)
    daemon.watch = lambda project: quiet  # type: ignore[method-assign]
    gate.wait_healthy(daemon, "p", ["web"], gate.Limits(timeout=60, settle=0), gate.Baseline({}))
    assert quiet.timeouts and max(quiet.timeouts) <= gate.IDLE + 0.02


class OneDeath(NoEvents):
    """The engine's event stream reports that web's container died."""

    def wait(self, timeout: float) -> bool:
        self.timeouts.append(timeout)
        return True

    def deaths(self) -> list[Died]:
        return [Died("id-web", "p-web-1", "web", 7)] if self.timeouts else []


def test_a_death_event_fails_the_gate_without_waiting_for_the_engines_view() -> None:
    """The engine may answer for a container that just died only a while later; its `die`
    event already says it exited, with which code: the gate fails on the event, with the
    container's last log lines."""
    events = OneDeath()
    daemon = ScriptedDaemon([[container("web", health="starting")]])  # never shows the exit
    daemon.watch = lambda project: events  # type: ignore[method-assign]
    said: list[str] = []
    logs = daemon.logs
    daemon.logs = lambda cid, lines=20: said.append("logs asked") or logs(cid, lines)  # type: ignore[method-assign]
    with pytest.raises(gate.GateFailed) as failed:
        gate.wait_healthy(
            daemon, "p", ["web"], LIMITS, gate.Baseline({}), lambda s: said.append(str(s))
        )
    assert failed.value.reason == "exited with code 7" and "log of id-web" in failed.value.details
    assert daemon.calls == 1 and events.closed
    # the exit is reported before the logs are asked for (an engine answers those late)
    assert said[-2:] == ["{'web': 'exited with code 7'}", "logs asked"]


def test_a_container_that_restarted_since_the_deploy_fails_though_running_now() -> None:
    """A restart loop: between two looks the container is `running` again, but the engine
    counted a restart after `up` (the baseline had none): it fails the gate."""
    looping = replace(container("web"), restart_count=2)
    daemon = ScriptedDaemon([[looping]])
    with pytest.raises(gate.GateFailed) as failed:
        gate.wait_healthy(daemon, "p", ["web"], LIMITS, gate.Baseline({"id-web": 0}))
    assert failed.value.reason.startswith("is restarting") and "2 restarts" in failed.value.reason
    # restarts from before the deploy do not count
    gate.wait_healthy(
        ScriptedDaemon([[looping]]), "p", ["web"], LIMITS, gate.Baseline({"id-web": 2})
    )


def test_a_service_is_as_far_as_its_least_advanced_replica() -> None:
    """Two replicas, one healthy and one still starting: the service is not through the gate
    until the second is healthy too."""
    one = healthy(container("web"))
    two = replace(container("web", health="starting"), id="id-web-2", name="p-web-2")
    daemon = ScriptedDaemon([[one, two], [one, two], [one, healthy(two)]])
    seen: list[dict[str, str]] = []
    gate.wait_healthy(daemon, "p", ["web"], LIMITS, gate.Baseline({}), seen.append)
    assert daemon.calls == 3 and [s["web"] for s in seen] == ["starting", "starting", "healthy"]


def stopped(service: str, state: str, exit_code: int = 3) -> Container:
    return replace(container(service, state=state), exit_code=exit_code)


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("exited", "exited with code 3"),
        ("dead", "exited with code 3"),
        ("restarting", "is restarting (exit code 3, 0 restarts)"),
        ("paused", "is paused"),
    ],
)
def test_a_container_that_stopped_fails_at_once_with_its_state(state: str, reason: str) -> None:
    seen: list[dict[str, str]] = []
    daemon = ScriptedDaemon([[healthy(container("api")), stopped("web", state)]])
    with pytest.raises(gate.GateFailed) as failed:
        gate.wait_healthy(daemon, "p", ["api", "web"], LIMITS, gate.Baseline({}), seen.append)
    assert (failed.value.service, failed.value.reason) == ("web", reason)
    assert str(failed.value) == f"service web {reason}"
    assert failed.value.details.startswith("last log lines of p-web-1:\nlog of id-web")
    assert seen[-1] == {"api": "healthy", "web": reason}
    assert daemon.calls == 1


def test_a_new_container_that_restarted_once_fails() -> None:
    """A container the baseline does not know (created by this deploy) may not restart at
    all."""
    daemon = ScriptedDaemon([[replace(container("web"), restart_count=1)]])
    with pytest.raises(gate.GateFailed, match="is restarting"):
        gate.wait_healthy(daemon, "p", ["web"], LIMITS, gate.Baseline({"other": 0}))


def test_a_service_not_healthy_in_time_fails_naming_what_it_waits_for() -> None:
    daemon = ScriptedDaemon([[healthy(container("api")), container("web", health="starting")]])
    with pytest.raises(gate.GateFailed) as failed:
        gate.wait_healthy(
            daemon, "p", ["api", "web", "worker"], gate.Limits(timeout=0.2, settle=0),
            gate.Baseline({}),
        )  # fmt: skip
    assert failed.value.service == "web"
    assert failed.value.reason == (
        "was not healthy after 0.2s; still waiting for web (starting), worker (no container)"
    )
    assert "log of id-web" in failed.value.details
    assert "last health check of p-web-1:\nwget: server returned error" in failed.value.details


class StartsThenQuiet(NoEvents):
    """The container's start arrives as an event at once; then nothing."""

    def wait(self, timeout: float) -> bool:
        if not self.timeouts:
            self.timeouts.append(0.0)
            return True
        return super().wait(timeout)


def test_a_service_without_a_healthcheck_passes_once_it_has_run_for_settle() -> None:
    seen: list[dict[str, str]] = []
    started = StartsThenQuiet()  # its start is an event: no idle wait before it is seen
    daemon = ScriptedDaemon([[container("worker", state="created")], [container("worker")]])
    daemon.watch = lambda project: started  # type: ignore[method-assign]
    start = time.monotonic()
    gate.wait_healthy(
        daemon, "p", ["worker"], gate.Limits(timeout=5, settle=0.3), gate.Baseline({}), seen.append
    )
    assert time.monotonic() - start >= 0.3
    assert [s["worker"] for s in seen] == ["created", "settling", "running"]


def test_a_container_started_long_ago_has_settled_already() -> None:
    old = replace(container("worker"), started_at="2020-01-01T00:00:00.123456789Z")
    daemon = ScriptedDaemon([[old]])
    gate.wait_healthy(daemon, "p", ["worker"], gate.Limits(timeout=5, settle=60), gate.Baseline({}))
    assert daemon.calls == 1
    assert gate._age("not a time") == 0.0
    assert gate._age("2020-01-01T00:00:00.5Z") > 3600


def test_the_check_runs_once_services_pass_with_the_time_left() -> None:
    asked: list[float] = []
    answers = iter(["the check hook exited with code 1", None])

    def check(remaining: float) -> str | None:
        asked.append(remaining)
        return next(answers)

    seen: list[dict[str, str]] = []
    daemon = ScriptedDaemon([[healthy(container("web"))]])
    gate.wait_healthy(
        daemon, "p", ["web"], gate.Limits(timeout=30, settle=0), gate.Baseline({}),
        seen.append, check=check, check_pause=0.01,
    )  # fmt: skip
    assert len(asked) == 2 and 29 < asked[0] <= 30 and asked[1] <= asked[0]
    assert {"web": "healthy", "check": "exited with code 1"} in seen


def test_a_check_that_never_passes_fails_the_gate() -> None:
    daemon = ScriptedDaemon([[healthy(container("web"))]])
    with pytest.raises(gate.CheckFailed) as failed:
        gate.wait_healthy(
            daemon, "p", ["web"], gate.Limits(timeout=1.5, settle=0), gate.Baseline({}),
            check=lambda _r: "the check hook exited with code 2", check_pause=0.2,
        )  # fmt: skip
    assert str(failed.value) == "the check hook exited with code 2, for 1.5s"
    assert failed.value.service == "" and failed.value.details == ""


def test_without_a_check_the_gate_passes_on_healthy_services() -> None:
    assert gate.checked(None, {"web": "healthy"}, time.monotonic(), 1, lambda _s: None)


def test_a_container_started_just_now_has_not_settled() -> None:
    """Its StartedAt is this second: it must still run for `settle` seconds."""
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fresh = replace(container("worker"), started_at=now)
    assert 0.0 <= gate._age(now) < 1.0
    seen: list[dict[str, str]] = []
    quiet = NoEvents()
    daemon = ScriptedDaemon([[fresh]])
    daemon.watch = lambda project: quiet  # type: ignore[method-assign]
    gate.wait_healthy(
        daemon, "p", ["worker"], gate.Limits(timeout=5, settle=0.3), gate.Baseline({}), seen.append
    )
    assert [s["worker"] for s in seen] == ["settling", "running"]


def test_every_service_is_reported_whichever_has_no_container() -> None:
    seen: list[dict[str, str]] = []
    daemon = ScriptedDaemon([[healthy(container("web"))]])
    with pytest.raises(gate.GateFailed, match="still waiting for api \\(no container\\)"):
        gate.wait_healthy(
            daemon, "p", ["api", "web"], gate.Limits(timeout=0.05, settle=0), gate.Baseline({}),
            seen.append,
        )  # fmt: skip
    assert seen[0] == {"api": "no container", "web": "healthy"}
