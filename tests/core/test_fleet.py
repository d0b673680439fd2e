"""The fleet's plan (issue 38, in progress): which hosts, in which waves, what goes back."""

from __future__ import annotations

import pytest

from cfgroll.errors import ProjectError, UsageError
from cfgroll.fleet_fields import FleetRollout, Host, fleet, hosts
from cfgroll.operations.fleet import plan, select, to_undo

A = Host("a", "ssh://deploy@a.example", ("canary",))
B = Host("b", "b-context", ("web",))
C = Host("c", "tcp://c.example:2376", ("web",))
D = Host("d", "unix:///run/d.sock")


def test_hosts_are_read_and_checked() -> None:
    block = {
        "hosts": [
            {"name": "a", "endpoint": "ssh://deploy@a.example", "groups": ["canary"]},
            {"name": "b", "endpoint": "b-context", "groups": "web", "env_file": "hosts/b.env"},
        ]
    }
    assert hosts(block) == (A, Host("b", "b-context", ("web",), "hosts/b.env"))
    assert hosts({}) == ()
    for bad, says in [
        ([{"name": "a"}], "endpoint"),
        ([{"name": "A b", "endpoint": "x"}], "name"),
        ([{"name": "a", "endpoint": "x"}, {"name": "a", "endpoint": "y"}], "names a twice"),
        ([{"name": "a", "endpoint": "http://a"}], "endpoint"),
        ([{"name": "a", "endpoint": "x", "port": 1}], "takes"),
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
    assert to_undo([A, B], C, FleetRollout()) == (A, B)
    assert to_undo([A, B], C, FleetRollout(all_or_nothing=False)) == ()
