"""The fleet's plan (issue 38): which hosts, in which waves, what goes back, what it says."""

from __future__ import annotations

import pytest

from cfgroll.errors import DeployFailed, ProjectError, RollbackFailed, UsageError
from cfgroll.fleet_fields import FleetRollout, Host, fleet, hosts
from cfgroll.operations.fleet_plan import HostRun, plan, select, to_undo
from cfgroll.operations.fleet_rollout import fleet_error

A = Host("a", "ssh://deploy@a.example", ("canary",))
B = Host("b", "b-context", ("web",))
C = Host("c", "tcp://c.example:2376", ("web",))
D = Host("d", "unix:///run/d.sock")


def test_hosts_are_read_and_checked() -> None:
    block = {
        "hosts": [
            {"name": "a", "endpoint": "ssh://deploy@a.example", "groups": ["canary"]},
            {"name": "b", "endpoint": "b-context", "groups": "web"},
        ]
    }
    assert hosts(block) == (A, B)
    assert hosts({}) == ()
    for bad, says in [
        ([{"name": "a"}], "endpoint"),
        ([{"name": "A b", "endpoint": "x"}], "name"),
        ([{"name": "a", "endpoint": "x"}, {"name": "a", "endpoint": "y"}], "names a twice"),
        ([{"name": "a", "endpoint": "http://a"}], "endpoint"),
        ([{"name": "a", "endpoint": "x", "port": 1}], "takes"),
        ([{"name": "a", "endpoint": "x", "env_file": "a.env"}], "takes"),
        ([], "list of hosts"),
    ]:
        with pytest.raises(ProjectError, match=says):
            hosts({"hosts": bad})


def test_fleet_settings() -> None:
    assert fleet({}) == FleetRollout()
    assert fleet({"fleet": {"parallel": 2, "soak": 30, "all_or_nothing": False}}) == (
        FleetRollout("canary", 2, 30.0, False)
    )
    for bad in ({"parallel": 0}, {"parallel": True}, {"canary": "Big"}, {"waves": 2}):
        with pytest.raises(ProjectError):
            fleet({"fleet": bad})


def test_the_canary_first_then_waves_in_order() -> None:
    p = plan([A, B, C, D], FleetRollout(parallel=2))
    assert [[h.name for h in w] for w in p.waves] == [["a"], ["b", "c"], ["d"]] and p.canary
    p = plan([B, C, D], FleetRollout())
    assert [[h.name for h in w] for w in p.waves] == [["b"], ["c"], ["d"]] and not p.canary


def test_selection() -> None:
    assert select([A, B, C], ["b"]) == [B]
    assert select([A, B, C], group="web") == [B, C]
    assert select([A, B, C]) == [A, B, C]
    with pytest.raises(UsageError, match="no host x"):
        select([A, B], ["x"])
    with pytest.raises(UsageError, match="group db"):
        select([A, B], group="db")


def test_all_or_nothing() -> None:
    outcomes = {"a": "deployed", "b": "deployed", "c": "failed", "d": "not-started"}
    assert to_undo(outcomes, FleetRollout()) == ["a", "b"]  # type: ignore[arg-type]
    assert to_undo(outcomes, FleetRollout(all_or_nothing=False)) == []  # type: ignore[arg-type]


def test_the_error_names_each_host_and_says_4_when_one_is_left_broken() -> None:
    runs = [
        HostRun("a", "undone", "backup_1"),
        HostRun("b", "failed", "backup_1", "service web exited with code 3"),
        HostRun("c", "not-started", "backup_1"),
    ]
    error = fleet_error("backup_2", "b failed", runs)
    assert type(error) is DeployFailed and error.exit_code == 3
    assert str(error) == (
        "fleet deploy of backup_2 stopped (b failed): a undone (backup_1); b failed (backup_1): "
        "service web exited with code 3; c not-started (backup_1)"
    )
    broken = fleet_error("backup_2", "b failed", [*runs[:2], HostRun("c", "undo-failed", "")])
    assert isinstance(broken, RollbackFailed) and broken.exit_code == 4
