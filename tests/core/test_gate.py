"""The health gate's verdicts from container states, decided without an engine."""

from __future__ import annotations

import pytest

from cfgroll import gate
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
