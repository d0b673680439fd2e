"""The fleet's plan (issue 38): which hosts, in which waves, what goes back, what it says."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfgroll.engine.hosts import registry_ref
from cfgroll.errors import DeployFailed, ProjectError, RollbackFailed, UsageError
from cfgroll.fleet_fields import FleetRollout, Host, env_files_on, fleet, hosts
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
    own = hosts({"hosts": [{"name": "a", "endpoint": "x", "env_file": "hosts/a.env"}]})
    assert own[0].env_file == "hosts/a.env"
    for bad, says in [
        ([{"name": "a"}], "endpoint"),
        ([{"name": "A b", "endpoint": "x"}], "name"),
        ([{"name": "a", "endpoint": "x"}, {"name": "a", "endpoint": "y"}], "names a twice"),
        ([{"name": "a", "endpoint": "http://a"}], "endpoint"),
        ([{"name": "a", "endpoint": "x", "port": 1}], "takes"),
        ([{"name": "a", "endpoint": "x", "env": "a.env"}], "takes"),
        ([{"name": "a", "endpoint": "x", "env_file": "/etc/a.env"}], "inside the project"),
        ([{"name": "a", "endpoint": "x", "env_file": "../a.env"}], "inside the project"),
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


def test_a_registry_is_a_repository_prefix_in_a_named_registry() -> None:
    assert fleet({"registry": "reg.example.com:5000/team/"}).registry == "reg.example.com:5000/team"
    assert fleet({"registry": "127.0.0.1:5000", "fleet": {"parallel": 2}}).registry == (
        "127.0.0.1:5000"
    )
    for bad in ("team/web", "https://reg.example.com", "reg.example.com/Team", "r.io/t:1", 5):
        with pytest.raises(ProjectError, match="registry"):
            fleet({"registry": bad})


@pytest.mark.parametrize(
    ("image", "where"),
    [
        ("shop-web", "r.io:5000/team/shop-web:rel"),
        ("shop/web:1.2", "r.io:5000/team/shop/web:rel"),
        ("other.io/shop/web:1.2", "r.io:5000/team/shop/web:rel"),
        ("localhost:5000/web@sha256:" + "0" * 64, "r.io:5000/team/web:rel"),
    ],
)
def test_where_an_image_goes_in_the_registry(image: str, where: str) -> None:
    assert registry_ref("r.io:5000/team", image, "rel") == where


def test_a_hosts_env_file_comes_after_the_projects(tmp_path: Path) -> None:
    a = Host("a", "x", (), "hosts/a.env")
    assert env_files_on(a, tmp_path, ["base.env"]) == (
        tmp_path / "base.env",
        tmp_path / "hosts/a.env",
    )
    assert env_files_on(a, tmp_path, []) == (tmp_path / "hosts/a.env",)
    (tmp_path / ".env").write_text("")
    assert env_files_on(a, tmp_path, []) == (tmp_path / ".env", tmp_path / "hosts/a.env")
    assert env_files_on(None, tmp_path, []) == () == env_files_on(A, tmp_path, [])


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


def test_a_host_pulls_what_it_lacks_by_digest_and_gets_the_image_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a registry, a host lacking an image pulls it by its digest (never sent), and a
    pull that brings another image than the one built fails that host."""
    from types import SimpleNamespace

    from cfgroll.engine import daemon
    from cfgroll.engine import hosts as engine_hosts
    from cfgroll.errors import CfgrollError
    from cfgroll.operations.fleet_rollout import Built, deliver

    have = {"db": "sha256:2"}  # what host b's engine holds, by reference
    registry = {"r/web@sha256:a": "sha256:1"}  # what a pull of each digest brings
    pulled: list[tuple[str, str, str]] = []

    def pull(address: str, digest: str, ref: str) -> str:
        pulled.append((address, digest, ref))
        return registry[digest]

    monkeypatch.setattr(daemon, "Daemon", lambda endpoint: SimpleNamespace(image_id=have.get))
    monkeypatch.setattr(engine_hosts, "endpoint_of", lambda address: address)
    monkeypatch.setattr(engine_hosts, "pull", pull)
    monkeypatch.setattr(engine_hosts, "send_images", lambda *a: pytest.fail("sent"))
    ctx = SimpleNamespace(reporter=SimpleNamespace(step=lambda message: None))
    built = Built({"web": "sha256:1", "db": "sha256:2"}, "rel", {"web": "r/web@sha256:a"})
    deliver(ctx, B, A, built)  # type: ignore[arg-type]
    assert pulled == [("b-context", "r/web@sha256:a", "web")]  # db it had
    registry["r/web@sha256:a"] = "sha256:9"  # the registry now serves other bytes
    with pytest.raises(CfgrollError, match="is image sha256:9 on b, not the sha256:1 built"):
        deliver(ctx, B, A, built)  # type: ignore[arg-type]
