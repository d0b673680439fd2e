"""Swarm decisions without an engine: the rendered stack file, the gate's verdicts, which
configs go, which engine is chosen; with small scripted stand-ins for the engine door."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from cfgroll.capabilities import gate
from cfgroll.engine import endpoint
from cfgroll.engine.daemon import EngineInfo
from cfgroll.engine.refs import names_registry
from cfgroll.engine.swarm import SwarmService, SwarmTask
from cfgroll.errors import CfgrollError, ProjectError, UsageError
from cfgroll.orchestrators.swarm import SWARM, render
from cfgroll.orchestrators.swarm import stack as swarm_stack
from cfgroll.settings import parse
from cfgroll.store.manifest import EngineRecord, Manifest
from cfgroll.store.manifest_yaml import manifest_from_yaml, manifest_to_yaml

DIGEST = "sha256:" + "d" * 64


def model(directory: Path) -> dict[str, Any]:
    """Compose's resolved model (`docker compose config --format json`) of a small project."""
    return {
        "name": "shop",
        "services": {
            "web": {
                "build": {"context": str(directory / "app")},
                "image": "reg.example:5000/shop-web:1",
                "command": ["httpd", "-f"],
                "entrypoint": None,
                "environment": {"GREETING": "hello"},
                "configs": [{"source": "conf", "target": "/etc/app.conf"}],
                "volumes": [
                    {
                        "type": "bind",
                        "source": str(directory / "www"),
                        "target": "/www",
                        "read_only": True,
                        "bind": {"create_host_path": True},
                    },
                ],  # fmt: skip
                "ports": [
                    {"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"}
                ],
                "deploy": {"replicas": 2, "resources": {"limits": {"memory": 1048576}}},
                "restart": "always",
                "privileged": True,
                "networks": {"default": None},
            },
        },
        "networks": {"default": {"name": "shop_default", "ipam": {}}},
        "configs": {"conf": {"name": "shop_conf", "file": str(directory / "app.conf")}},
    }


def pinned(image: str = "reg.example:5000/shop-web:1") -> render.Pinned:
    return render.Pinned(image, "sha256:" + "1" * 64, f"reg.example:5000/shop-web@{DIGEST}")


def test_the_stack_file_pins_digests_names_configs_by_content_and_leaves_out_what_swarm_ignores(
    tmp_path: Path,
) -> None:
    (tmp_path / "app.conf").write_text("level=1\n")
    warnings: list[str] = []
    rendered = render.render("shop", model(tmp_path), {"web": pinned()}, tmp_path, warnings.append)
    doc = yaml.safe_load(rendered.text)
    web = doc["services"]["web"]
    assert web["image"] == f"reg.example:5000/shop-web:1@{DIGEST}"
    assert "build" not in web and "restart" not in web and "entrypoint" not in web
    assert web["volumes"] == [
        {"type": "bind", "source": "./www", "target": "/www", "read_only": True}
    ]
    assert web["ports"] == [{"mode": "ingress", "target": 80, "protocol": "tcp", "published": 8080}]
    assert web["deploy"]["resources"] == {"limits": {"memory": "1048576b"}}
    content_hash = hashlib.sha256(b"level=1\n").hexdigest()[:10]
    assert doc["configs"] == {"conf": {"name": f"shop_conf_{content_hash}", "file": "./app.conf"}}
    assert doc["networks"] == {"default": {}}  # the stack names it; overlay by default
    assert warnings == ["Swarm ignores `privileged:` (web); it is left out of the stack file"]
    assert rendered.objects == {"config": (f"shop_conf_{content_hash}",)}
    record = rendered.records["web"]
    assert record.repo_digest.endswith(DIGEST) and record.image == "reg.example:5000/shop-web:1"

    (tmp_path / "app.conf").write_text("level=2\n")  # a changed file is a new config
    again = render.render("shop", model(tmp_path), {"web": pinned()}, tmp_path)
    assert again.objects != rendered.objects
    assert again.records["web"].config_hash != record.config_hash


def test_an_update_changes_only_its_services_in_the_live_stack_file(tmp_path: Path) -> None:
    (tmp_path / "app.conf").write_text("a\n")
    config = model(tmp_path)
    config["services"]["worker"] = {"image": "reg.example:5000/w:1", "command": ["sleep", "1"]}
    both = {"web": pinned(), "worker": pinned("reg.example:5000/w:1")}
    live = render.render("shop", config, both, tmp_path)
    config["services"]["web"]["environment"] = {"GREETING": "new"}
    config["services"]["worker"]["command"] = ["sleep", "2"]
    new = render.render("shop", config, {"web": both["web"]}, tmp_path)
    assert set(new.records) == {"web"}  # an update renders only its own services
    merged = render.merged(live, new, ["web"])
    services = yaml.safe_load(merged.text)["services"]
    assert services["web"]["environment"] == {"GREETING": "new"}
    assert services["worker"]["command"] == ["sleep", "1"]  # not part of the update
    assert set(merged.records) == {"web", "worker"}


def test_a_config_without_a_file_is_refused(tmp_path: Path) -> None:
    config = model(tmp_path)
    config["configs"] = {"conf": {"content": "inline"}}
    with pytest.raises(ProjectError, match="config conf has no `file:`"):
        render.render("shop", config, {"web": pinned()}, tmp_path)


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("reg.example.com/team/web:1", True),
        ("127.0.0.1:5000/web", True),
        ("localhost/web", True),
        ("team/web:1", False),
        ("web", False),
    ],
)
def test_an_image_names_a_registry(image: str, ok: bool) -> None:
    assert names_registry(image) is ok


def service(update: str = "", key: str = "new", replicas: int | None = 2) -> SwarmService:
    return SwarmService("svc", "shop_web", f"r@{DIGEST}", replicas, update, "why", key, False)


def task(n: int, state: str, key: str = "new", desired: str = "running") -> SwarmTask:
    return SwarmTask(f"t{n}-{state}", "svc", n, state, desired, f"err {n}", key, "r", f"c{n}", None)


@pytest.mark.parametrize(
    ("svc", "tasks", "verdict"),
    [
        (service(), [task(1, "running"), task(2, "running")], "2/2 running"),
        (service(), [task(1, "running"), task(2, "starting")], "1/2 up"),
        # an old spec's task still running: the update is not over
        (service("updating"), [task(1, "running"), task(2, "running", "old")], "1/2 up, updating"),
        (service(), [task(1, "running"), task(2, "failed")], "failed: err 2"),
        (service(), [task(1, "running"), task(2, "rejected")], "rejected: err 2"),
        # the failure of a task of another spec (the release before) is not this deploy's
        (
            service(),
            [task(1, "running"), task(2, "running"), task(3, "failed", "old", "shutdown")],
            "2/2 running",
        ),
        (service("paused"), [task(1, "running"), task(2, "running")], "update paused: why"),
        (service(replicas=None), [task(1, "running")], "1/1 running"),
    ],
)
def test_the_gate_reads_a_service_from_its_spec_and_tasks(
    svc: SwarmService, tasks: list[SwarmTask], verdict: str
) -> None:
    found = swarm_stack._verdict(svc, tasks, before=())
    said = found.reason if isinstance(found, swarm_stack._Failed) else found
    assert said.endswith(verdict)


def test_a_task_that_failed_before_the_deploy_is_old_news() -> None:
    failed = task(2, "failed")
    assert swarm_stack._verdict(service(), [task(1, "running"), failed], {failed.id}) == "1/2 up"


class StackDaemon:
    """The engine door's Swarm reads: each read returns the next scripted view."""

    def __init__(self, views: Sequence[tuple[list[SwarmService], list[SwarmTask]]]) -> None:
        self.views = list(views)
        self.reads = 0
        self.objects: dict[str, dict[str, str]] = {"config": {}, "secret": {}}
        self.removed: list[str] = []
        self.in_use: set[str] = set()

    def stack_services(self, stack: str) -> list[SwarmService]:
        self.reads += 1
        return self.views[min(self.reads - 1, len(self.views) - 1)][0]

    def stack_tasks(self, stack: str) -> list[SwarmTask]:
        return self.views[min(self.reads - 1, len(self.views) - 1)][1]

    def logs(self, container_id: str, lines: int = 20) -> str:
        return f"log of {container_id}"

    def stack_objects(self, kind: str, stack: str) -> dict[str, str]:
        return self.objects[kind]

    def remove_object(self, kind: str, object_id: str) -> bool:
        if object_id in self.in_use:
            return False
        self.removed.append(object_id)
        return True

    def engine(self) -> EngineInfo:
        return EngineInfo("ID", "vm", "default", "inactive", False)


def test_the_gate_waits_for_the_spec_then_settles_and_fails_at_once_on_a_failed_task() -> None:
    up = ([service()], [task(1, "running"), task(2, "running")])
    starting = ([service("updating")], [task(1, "running"), task(2, "starting")])
    daemon = StackDaemon([starting, starting, up])
    seen: list[dict[str, str]] = []
    limits = gate.Limits(timeout=10, settle=0)
    swarm_stack.wait_stack(daemon, "shop", ["web"], limits, (), seen.append, poll=0)  # type: ignore[arg-type]
    assert seen[-1] == {"web": "2/2 running"} and daemon.reads == 3

    broken = ([service("updating")], [task(1, "running"), task(2, "failed")])
    daemon = StackDaemon([starting, broken, up])
    with pytest.raises(gate.GateFailed) as failed:
        swarm_stack.wait_stack(daemon, "shop", ["web"], limits, (), poll=0)  # type: ignore[arg-type]
    assert failed.value.service == "web" and "task shop_web.2 failed: err 2" in str(failed.value)
    assert failed.value.details == "log of c2" and daemon.reads == 2

    daemon = StackDaemon([starting])
    with pytest.raises(gate.GateFailed, match="did not converge in 0.05s"):
        swarm_stack.wait_stack(daemon, "shop", ["web"], gate.Limits(0.05, 0), (), poll=0.01)  # type: ignore[arg-type]


def test_configs_no_kept_release_names_are_removed_and_used_ones_stay() -> None:
    daemon = StackDaemon([])
    daemon.objects["config"] = {"shop_conf_a": "A", "shop_conf_b": "B", "shop_conf_c": "C"}
    daemon.objects["secret"] = {"shop_key_a": "K"}
    daemon.in_use = {"C"}  # the engine refuses: a service still uses it

    class Ctx:
        pass

    ctx = Ctx()
    ctx.daemon = daemon  # type: ignore[attr-defined]
    stack = "configs: {c: {name: shop_conf_a, file: a}}\nsecrets: {k: {name: shop_key_a, file: k}}"
    kept = [render.Rendered(stack)]
    assert swarm_stack.tidy(ctx, "shop", kept) == ["shop_conf_b"]  # type: ignore[arg-type]
    assert daemon.removed == ["B"]


def test_only_a_swarm_manager_takes_a_stack() -> None:
    class Door(StackDaemon):
        endpoint = endpoint.Endpoint("default", endpoint.DEFAULT_HOST)

    with pytest.raises(CfgrollError, match="is not in a swarm; .* `docker swarm init`"):
        swarm_stack.check_engine(Door([]))  # type: ignore[arg-type]


def _context(home: Path, name: str, host: str, tls: bool = False) -> None:
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = home / ".docker" / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    doc = {"Name": name, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}}}
    (meta / "meta.json").write_text(json.dumps(doc))
    if tls:
        (home / ".docker" / "contexts" / "tls" / digest / "docker").mkdir(parents=True)


def test_the_engine_is_chosen_as_the_docker_cli_chooses_it(tmp_path: Path) -> None:
    _context(tmp_path, "remote", "ssh://deploy@prod.example", tls=False)
    _context(tmp_path, "tls", "tcp://prod.example:2376", tls=True)
    (tmp_path / ".docker" / "config.json").write_text('{"currentContext": "tls"}')
    env = {"DOCKER_CONFIG": str(tmp_path / ".docker")}
    chosen = endpoint.resolve(env)
    assert (chosen.context, chosen.host, chosen.chosen_by) == (
        "tls",
        "tcp://prod.example:2376",
        "context",
    )
    assert chosen.tls_dir is not None and chosen.socket is None
    remote = endpoint.resolve({**env, "DOCKER_CONTEXT": "remote"})
    assert remote.host == "ssh://deploy@prod.example" and remote.ssh and remote.tls_dir is None
    # DOCKER_HOST wins over DOCKER_CONTEXT, as with the docker CLI
    local = endpoint.resolve({**env, "DOCKER_CONTEXT": "remote", "DOCKER_HOST": "unix:///s"})
    assert (local.context, local.socket, local.chosen_by) == ("default", "/s", "DOCKER_HOST")
    assert endpoint.resolve({"DOCKER_CONFIG": str(tmp_path / "none")}).host == endpoint.DEFAULT_HOST
    with pytest.raises(UsageError, match="no docker context named 'gone'"):
        endpoint.resolve({**env, "DOCKER_CONTEXT": "gone"})


def test_context_flag_wins_over_docker_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _context(tmp_path, "remote", "tcp://10.0.0.9:2375")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / ".docker"))
    monkeypatch.setenv("DOCKER_HOST", "unix:///elsewhere")
    monkeypatch.setenv("DOCKER_CONTEXT", "x")
    endpoint.use_context("remote")
    assert endpoint.resolve().host == "tcp://10.0.0.9:2375"


def test_the_command_is_found_after_a_global_context() -> None:
    from cfgroll.cli.app import command_of

    assert command_of(["--context", "deploy", "status"]) == "status"
    assert command_of(["-c", "prod", "deploy", "-C", "x"]) == "deploy"
    assert command_of(["log"]) == "log"


def test_a_swarm_release_records_its_engine_and_an_older_reader_format() -> None:
    m = Manifest(
        tag="backup_20261201_100000", action="deploy", project="shop",
        created_at=datetime(2026, 12, 1, 10, tzinfo=timezone.utc), host="h", user="u",
        cfgroll_version="0", result="ok", orchestrator="swarm",
        engine=EngineRecord("AB:CD", "vm", "prod"),
    )  # fmt: skip
    text = manifest_to_yaml(m)
    assert "format: 3" in text and "orchestrator: swarm" in text
    back = manifest_from_yaml(text)
    assert back.orchestrator == "swarm" and back.engine == EngineRecord("AB:CD", "vm", "prod")
    compose = manifest_from_yaml(text.replace("format: 3", "format: 2").replace("swarm", "compose"))
    assert compose.orchestrator == "compose"
    assert "format: 2" in manifest_to_yaml(Manifest(**{**m.__dict__, "orchestrator": "compose"}))


def test_the_orchestrator_setting_is_checked() -> None:
    assert parse({"orchestrator": "swarm"}).orchestrator == "swarm"
    with pytest.raises(ProjectError, match="must be one of compose, swarm, not 'k8s'"):
        parse({"orchestrator": "k8s"})


def test_after_a_release_the_configs_outside_the_keep_window_go(tmp_path: Path) -> None:
    from cfgroll.store.files import FileData
    from cfgroll.store.manifest import STACK_PATH
    from cfgroll.store.repo import Store

    store, _ = Store.create(tmp_path / "store.git")
    parent = None
    for n in range(1, 4):
        stack = f"configs:\n  conf:\n    name: shop_conf_{n}\n    file: ./app.conf\n"
        m = Manifest(
            tag=f"backup_20261201_10000{n}", action="deploy", project="shop",
            created_at=datetime(2026, 12, 1, 10, 0, n, tzinfo=timezone.utc), host="h", user="u",
            cfgroll_version="0", result="ok", orchestrator="swarm",
        )  # fmt: skip
        files = {"app.conf": FileData(f"{n}\n".encode())}
        own = {STACK_PATH: stack.encode()}
        parent = store.record(files, m, "deploy\n", parent, on_main=True, own=own).commit
    assert store.files(store.live()) == {"app.conf": FileData(b"3\n")}  # not a project file
    daemon = StackDaemon([])
    daemon.objects["config"] = {f"shop_conf_{n}": f"C{n}" for n in range(1, 4)}

    class Ctx:
        reporter = type("R", (), {"step": lambda self, m: steps.append(m), "warn": print})()

    steps: list[str] = []
    ctx = Ctx()
    ctx.daemon = daemon  # type: ignore[attr-defined]
    SWARM.after_release(ctx, store, "shop", {"keep": 2})  # type: ignore[arg-type]
    assert daemon.removed == ["C1"]
    assert steps == ["removed 1 config(s) and secret(s) no kept release uses: shop_conf_1"]


def test_a_start_first_update_is_waited_for_not_failed() -> None:
    """`update_config.order: start-first`: the new task runs beside the old one for a while;
    the gate waits (the old one still counts as the update in progress), never fails on it,
    and passes once Swarm has shut the old one down."""
    new, old = task(1, "running"), task(2, "running", key="old")
    both = swarm_stack._verdict(service("updating", replicas=1), [new, old], before=())
    assert both == "1/1 up, updating"
    retired = task(2, "shutdown", key="old", desired="shutdown")
    assert (
        swarm_stack._verdict(service("completed", replicas=1), [new, retired], ()) == "1/1 running"
    )
