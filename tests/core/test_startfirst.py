"""Start-first decisions, engine-free: which services go start-first (and which are refused or
kept stop-first), in what order, what is kept, started and retired; the gate ignoring the
containers being retired; the settings."""

from __future__ import annotations

import re
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from cfgroll.capabilities import gate
from cfgroll.errors import ProjectError
from cfgroll.orchestrators.startfirst import (
    BEHIND_A_PROXY,
    Replacement,
    blocker,
    leftovers,
    plan,
    replacements,
    retire,
    scale,
    settled,
)
from cfgroll.settings import Flags, Retire, RolloutSettings, effective
from tests.core.fakes import ScriptedDaemon, container
from tests.helpers import REPO_ROOT

START_FIRST = {"deploy": {"update_config": {"order": "start-first"}}}
DEFAULT = RolloutSettings()
BY_DEFAULT = RolloutSettings(default="start-first")


def model(**services: dict[str, Any]) -> dict[str, Any]:
    return {"services": services}


def test_the_services_own_key_or_the_project_default_or_the_flag() -> None:
    config = model(
        web=START_FIRST, api={}, db={"deploy": {"update_config": {"order": "stop-first"}}}
    )
    assert plan(config, ["api", "db", "web"], DEFAULT).services == ("web",)
    assert plan(config, ["api", "db", "web"], BY_DEFAULT).services == ("api", "web")
    forced = RolloutSettings(forced="stop-first")
    assert plan(config, ["api", "db", "web"], forced).services == ()
    assert plan(config, ["db"], RolloutSettings(forced="start-first")).services == ("db",)
    assert plan(config, ["api"], DEFAULT).services == ()  # stop-first stays today's way


@pytest.mark.parametrize(
    ("svc", "why"),
    [
        ({"container_name": "shop-web"}, "its container_name shop-web is fixed"),
        ({"ports": [{"target": 80, "published": "8080"}]}, "fixed host port 8080"),
        ({"network_mode": "host"}, "network_mode: host"),
        ({"network_mode": "service:db"}, "network_mode: service:db"),
    ],
)
def test_what_cannot_run_twice(svc: dict[str, Any], why: str) -> None:
    assert why in (blocker(svc) or "")
    config = model(web={**svc, **START_FIRST}, db={})
    with pytest.raises(ProjectError) as refused:
        plan(config, ["web"], DEFAULT)
    message = str(refused.value)
    assert "service web is marked start-first" in message and why in message
    assert BEHIND_A_PROXY in message and "\n" not in message
    # under the project default (or the flag): stop-first, said in one line
    config = model(web=svc, db={})
    kept = plan(config, ["web"], BY_DEFAULT)
    assert kept.services == () and len(kept.notes) == 1 and why in kept.notes[0]
    assert BEHIND_A_PROXY in kept.notes[0]
    assert plan(
        model(web={**svc, **START_FIRST}), ["web"], RolloutSettings(forced="start-first")
    ).notes


def test_the_way_out_names_a_section_of_the_docs() -> None:
    doc, anchor = BEHIND_A_PROXY.split("#")
    headings = re.findall(r"^#+ (.+)$", (REPO_ROOT / doc).read_text(), re.M)
    assert anchor in [re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings]


def test_what_can_run_twice() -> None:
    for svc in ({"ports": [{"target": 8080, "host_ip": "127.0.0.1"}]},
                {"ports": [{"target": 80, "published": "8000-8010"}]},
                {"network_mode": "bridge"}, {}):  # fmt: skip
        assert blocker(svc) is None, svc


def test_dependency_order() -> None:
    config = model(
        proxy={**START_FIRST, "depends_on": {"web": {}}},
        web={**START_FIRST, "depends_on": {"api": {}, "db": {}}},
        api={**START_FIRST},
        db={},
    )
    assert plan(config, ["api", "db", "proxy", "web"], DEFAULT).levels == (
        ("api",), ("web",), ("proxy",),
    )  # fmt: skip
    config = model(a={**START_FIRST}, b={**START_FIRST})
    assert plan(config, ["a", "b"], DEFAULT).levels == (("a", "b"),)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ProjectError, match="pre_stop"):
        plan(model(web={}), ["web"], RolloutSettings(pre_stop={"wbe": ("true",)}))
    with pytest.raises(ProjectError, match="update_config.order"):
        plan(model(web={"deploy": {"update_config": {"order": "sideways"}}}), ["web"], DEFAULT)
    for block in (
        {"rollout": "first"},
        {"drain": -1},
        {"pre_stop": ["web"]},
        {"pre_stop": {"w": []}},
    ):
        with pytest.raises(ProjectError):
            effective(Flags(), block)


def test_settings_flags_over_block_over_defaults() -> None:
    assert effective(Flags()).rollout == RolloutSettings("stop-first", None, 2.0, {})
    block = {"rollout": "start-first", "drain": 5, "pre_stop": {"web": "touch /tmp/drain"}}
    got = effective(Flags(), block).rollout
    assert got == RolloutSettings(
        "start-first", None, 5.0, {"web": ("sh", "-c", "touch /tmp/drain")}
    )
    got = effective(Flags(rollout="stop-first", drain=0), block).rollout
    assert got.forced == "stop-first" and got.drain == 0 and got.default == "start-first"


def test_scale() -> None:
    assert scale({}) == 1 and scale({"scale": 3}) == 3
    assert scale({"deploy": {"replicas": 2}}) == 2


def web(n: int, config_hash: str = "new", state: str = "running", image: str = "img") -> Any:
    c = container("web", state)
    return replace(
        c, id=f"w{n}", name=f"p-web-{n}", config_hash=config_hash, image_id=image,
        image_ref="p-web", created=f"2026-12-02T10:00:0{n}", networks=("p_default",),
    )  # fmt: skip


def test_replacements() -> None:
    images = {"p-web": "img"}
    # a deploy that changed the configuration: one new beside the old
    (r,) = replacements({"web": [web(1, "old")]}, {"web": 1}, {"web": "new"}, images).values()
    assert (r.keep, [c.id for c in r.retire], r.start) == ((), ["w1"], 1)
    # nothing changed: nothing started, nothing retired
    (r,) = replacements({"web": [web(1)]}, {"web": 1}, {"web": "new"}, images).values()
    assert [c.id for c in r.keep] == ["w1"] and not r.retire and r.start == 0
    # a new image under the same reference: replaced
    (r,) = replacements({"web": [web(1)]}, {"web": 1}, {"web": "new"}, {"p-web": "img2"}).values()
    assert r.start == 1 and [c.id for c in r.retire] == ["w1"]
    # a mounted file changed: replaced, unless the container never saw the other files
    (r,) = replacements({"web": [web(1)]}, {"web": 1}, {"web": "new"}, images, {"web"}).values()
    assert r.start == 1
    (r,) = replacements(
        {"web": [web(1)]}, {"web": 1}, {"web": "new"}, images, {"web"}, {"w1"}
    ).values()
    assert r.start == 0
    # the automatic rollback: the old one matches again, the failed new one goes
    current = {"web": [web(1, "new"), web(2, "failed"), web(3, "failed", "exited")]}
    (r,) = replacements(current, {"web": 1}, {"web": "new"}, images).values()
    assert [c.id for c in r.keep] == ["w1"] and [c.id for c in r.retire] == ["w2"]
    assert [c.id for c in r.dead] == ["w3"] and r.start == 0
    # scaled from 1 to 2 with nothing else changed: one more
    (r,) = replacements({"web": [web(1)]}, {"web": 2}, {"web": "new"}, images).values()
    assert r.start == 1 and not r.retire
    # leftovers of an interrupted rollout, both current: the oldest kept, the other retired
    (r,) = replacements({"web": [web(2), web(1)]}, {"web": 1}, {"web": "new"}, images).values()
    assert [c.id for c in r.keep] == ["w1"] and [c.id for c in r.retire] == ["w2"]
    # one the interrupted rollout had taken out of its networks: replaced
    (r,) = replacements(
        {"web": [replace(web(1), networks=())]}, {"web": 1}, {"web": "new"}, images
    ).values()
    assert r.start == 1 and [c.id for c in r.retire] == ["w1"]
    # nothing running: left to Compose
    assert replacements({"web": [web(1, state="exited")]}, {"web": 1}, {"web": "new"}, images) == {}
    assert replacements({}, {"web": 1}, {"web": "new"}, images) == {}


def test_a_stop_first_service_that_runs_what_is_wanted_is_left_alone() -> None:
    # left out of the stop-first run (Compose's `--no-deps` would recreate it for nothing)
    images = {"p-web": "img"}
    assert settled([web(1)], 1, "new", images)
    assert not settled([web(1, "old")], 1, "new", images)  # its configuration changed
    assert not settled([web(1)], 1, "new", {"p-web": "img2"})  # a new image
    assert not settled([web(1, state="exited")], 1, "new", images)  # Compose starts it
    assert not settled([web(1)], 2, "new", images)  # scaled up
    assert not settled([], 1, "new", images) and not settled([web(1)], 1, None, images)


def test_the_gate_does_not_judge_the_containers_being_retired() -> None:
    failing = web(1, state="exited")
    fresh = replace(web(2), health="healthy")
    daemon = ScriptedDaemon([[failing, fresh]])
    before = gate.Baseline({}, retiring=frozenset({"w1"}))
    gate.wait_healthy(daemon, "p", ["web"], gate.Limits(5, 0), before)  # type: ignore[arg-type]
    with pytest.raises(gate.GateFailed):
        gate.wait_healthy(daemon, "p", ["web"], gate.Limits(5, 0), gate.Baseline({}))  # type: ignore[arg-type]


def test_leftovers_of_an_interrupted_rollout() -> None:
    old, new = web(1, "old"), web(2, "new")
    assert leftovers([old]) == [] and leftovers([old, replace(web(2), config_hash="old")]) == []
    assert leftovers([new, old]) == [new]  # the newer configuration started beside the live one
    out = replace(old, networks=())
    assert leftovers([out, new]) == [out]  # retiring had begun: the old one goes
    assert leftovers([out]) == []  # nothing serves: not a start-first leftover
    # `retire: stop-then-leave` interrupted between the two: the old one is stopped, still in
    # its networks; the new one serves and is not a leftover
    assert leftovers([replace(old, state="exited"), new]) == []


class Retiring:
    """The engine calls a retirement makes, in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def exec(self, cid: str, argv: Any, timeout: float) -> None:
        self.calls.append(f"pre-stop {cid}")

    def disconnect(self, c: Any) -> None:
        self.calls.append(f"leave {c.id}")

    def stop(self, ids: Any) -> None:
        self.calls.append(f"stop {' '.join(ids)}")

    def remove_container(self, cid: str) -> None:
        self.calls.append(f"remove {cid}")


@pytest.mark.parametrize(
    ("order", "calls"),
    [
        ("leave-then-stop", ["pre-stop w1", "leave w1", "stop w1", "remove w1"]),
        ("stop-then-leave", ["pre-stop w1", "stop w1", "leave w1", "remove w1"]),
    ],
)
def test_the_old_container_leaves_then_stops_or_the_other_way_round(
    order: Retire, calls: list[str]
) -> None:
    daemon = Retiring()
    ctx: Any = SimpleNamespace(daemon=daemon, reporter=SimpleNamespace(step=print, warn=print))
    rep = Replacement("web", keep=(), retire=(web(1, "old"),), dead=(), start=1)
    settings = RolloutSettings(drain=0, pre_stop={"web": ("touch", "/tmp/draining")}, retire=order)
    retire(ctx, [rep], settings, 10)
    assert daemon.calls == calls
    assert effective(Flags(), {"retire": order}).rollout.retire == order
    with pytest.raises(ProjectError, match="retire"):
        effective(Flags(), {"retire": "later"})
