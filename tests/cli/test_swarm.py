"""Swarm stacks on a real single-node swarm with a loopback registry: deploy, a crashing image
rolled back by itself, a change of `.env` and of a config file, and a stack-wide rollback.

What the tasks run and see is checked from inside them (`docker exec`), not through published
ports (the routing mesh may not answer on these machines)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cfgroll.engine.daemon import Daemon
from cfgroll.engine.endpoint import Endpoint
from cfgroll.engine.transport import SdkTransport
from tests.helpers import BASE_IMAGE, Runner, build_file_tree, git, live_tag

pytestmark = pytest.mark.docker
FAST = ["--settle", "1", "--timeout", "90"]


def _docker(*args: str, check: bool = True) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=check
    ).stdout.strip()


@pytest.fixture(scope="module")
def swarm() -> Iterator[None]:
    """A single-node swarm: made for these tests when the engine is in none, left afterwards
    (once: the Compose tests that follow run on the same engine)."""
    state = _docker("info", "--format", "{{.Swarm.LocalNodeState}}")
    joined = state != "active"
    if joined:
        _docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        yield
    finally:
        if joined:
            _docker("swarm", "leave", "--force", check=False)


def stack_compose(registry: str, name: str) -> str:
    """Two services of one built image, two replicas each, a config file and `.env`."""
    return f"""\
name: {name}
services:
  web:
    build: ./app
    image: {registry}/{name}-web:latest
    init: true
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    environment:
      GREETING: ${{GREETING}}
    configs:
      - source: app_conf
        target: /etc/app.conf
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/"]
      interval: 1s
      timeout: 3s
      retries: 3
    deploy:
      replicas: 2
      update_config: {{parallelism: 2, monitor: 2s}}
  worker:
    image: {registry}/{name}-web:latest
    init: true
    command: ["sh", "-c", "while true; do sleep 1; done"]
    deploy:
      replicas: 2
      update_config: {{parallelism: 2, monitor: 2s}}
configs:
  app_conf:
    file: ./app.conf
x-cfgroll:
  orchestrator: swarm
"""


def write_version(proj: Path, n: int, crash: bool = False) -> None:
    broken = "RUN rm /bin/httpd\n" if crash else ""  # the web service's command is gone
    (proj / "app" / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\nRUN mkdir -p /www && echo v{n} {proj} > /www/index.html\n{broken}"
    )


def tasks(stack: str, service: str) -> list[tuple[str, str]]:
    """(container ID, image reference of its spec) of each running task of the service."""
    ids = _docker(
        "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={stack}_{service}"
    ).split()
    return [(i, _docker("inspect", "--format", "{{.Config.Image}}", i)) for i in ids]


def digest(ref: str) -> str:
    return ref.partition("@")[2]


def inside(container: str, *command: str) -> str:
    return _docker("exec", container, *command)


def converged(stack: str, service: str, want: str, replicas: int = 2) -> list[str]:
    """The containers of the service's running tasks once all `replicas` run digest `want`
    (Swarm removes old tasks' containers a moment after the gate saw the new ones run)."""
    for _ in range(100):
        found = tasks(stack, service)
        if len(found) == replicas and all(digest(ref) == want for _, ref in found):
            return [c for c, _ in found]
        time.sleep(0.2)
    raise AssertionError(f"{stack}_{service} runs {tasks(stack, service)}, not {want}")


def test_a_stack_deploys_rolls_back_by_itself_and_goes_back_whole(
    tmp_path: Path,
    base_image: str,
    project_name: str,
    registry: str,
    swarm: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    proj = build_file_tree(
        tmp_path / "p",
        {
            "compose.yaml": stack_compose(registry, project_name),
            ".env": "GREETING=one\n",
            "app.conf": "level=1\n",
        },
    )
    (proj / "app").mkdir()
    write_version(proj, 1)
    run = Runner(proj, capsys)
    stack = project_name
    try:
        assert run("deploy", *FAST) == 0, run.err
        first = live_tag(run.store)
        manifest = git(run.store, "show", f"{first}:.cfgroll/manifest.yaml")
        assert "orchestrator: swarm" in manifest
        rendered = git(run.store, "show", f"{first}:.cfgroll/stack.yaml")
        d1 = digest(
            json.loads(_docker("image", "inspect", f"{registry}/{stack}-web:latest"))[0][
                "RepoDigests"
            ][0]
        )
        assert rendered.count(f"@{d1}") == 2  # both services pinned by digest
        assert "GREETING: one" in rendered and "file: ./app.conf" in rendered
        for c in converged(stack, "web", d1):
            assert inside(c, "cat", "/etc/app.conf") == "level=1"
            assert inside(c, "sh", "-c", "echo $GREETING") == "one"
            assert inside(c, "wget", "-q", "-O", "-", "http://127.0.0.1:8080/").startswith("v1")
        converged(stack, "worker", d1)
        assert run("status") == 0, run.err
        assert "Swarm stack" in run.out and "web      ok     2/2 tasks running" in run.out
        # the SDK's door (remote engines) reads the stack as the local socket's does
        local = Daemon()
        ctx_endpoint = Endpoint("ctx", local.endpoint.host, "context")
        # every request through the SDK, as for a Windows pipe or an ssh engine
        sdk = Daemon(ctx_endpoint, SdkTransport(ctx_endpoint))
        assert sdk.stack_services(stack) == local.stack_services(stack)
        assert {t.id for t in sdk.stack_tasks(stack)} == {t.id for t in local.stack_tasks(stack)}
        assert sdk.engine().id == local.engine().id and sdk.engine().context == "ctx"

        # a crashing image: the gate fails at once, the stack goes back to the first release
        write_version(proj, 2, crash=True)
        assert run("deploy", *FAST) == 3, run.out + run.err
        assert f"rolled back: {first} is running again" in run.err
        assert live_tag(run.store) == first
        assert "failed_" in git(run.store, "tag")
        converged(stack, "web", d1)
        converged(stack, "worker", d1)

        # a change of .env and of the config file (and a good image): the tasks see it
        write_version(proj, 3)
        (proj / ".env").write_text("GREETING=three\n")
        (proj / "app.conf").write_text("level=2\n")
        assert run("deploy", *FAST) == 0, run.err
        third = live_tag(run.store)
        d3 = digest(
            json.loads(_docker("image", "inspect", f"{registry}/{stack}-web:latest"))[0][
                "RepoDigests"
            ][0]
        )
        assert d3 != d1
        for c in converged(stack, "web", d3):
            assert inside(c, "cat", "/etc/app.conf") == "level=2"
            assert inside(c, "sh", "-c", "echo $GREETING") == "three"
            assert inside(c, "wget", "-q", "-O", "-", "http://127.0.0.1:8080/").startswith("v3")
        configs = _docker("config", "ls", "--format", "{{.Name}}").split()
        assert len([n for n in configs if n.startswith(f"{stack}_app_conf_")]) == 2

        # the stack-wide rollback: every service, its digest and its config, in one step
        assert run("rollback", first, "--yes", *FAST) == 0, run.err
        assert run.err.count("docker stack deploy") == 1
        for c in converged(stack, "web", d1):
            assert inside(c, "cat", "/etc/app.conf") == "level=1"
            assert inside(c, "sh", "-c", "echo $GREETING") == "one"
            assert inside(c, "wget", "-q", "-O", "-", "http://127.0.0.1:8080/").startswith("v1")
        converged(stack, "worker", d1)
        assert (proj / ".env").read_text() == "GREETING=one\n"
        assert run("status", "--check") == 0, run.out
        assert run("log") == 0 and f"rollback to {first}" in run.out and third in run.out

        # status compares the services' specs with the release
        _docker("service", "scale", "--detach", f"{stack}_worker=1")
        assert run("status", "--check") == 1
        assert "worker   DRIFT  1 replicas, the release recorded 2" in run.out
    finally:
        _docker("stack", "rm", stack, check=False)
        for _ in range(50):  # the stack's network goes once its tasks are gone
            if not _docker("network", "ls", "-q", "--filter", f"name={stack}_").split():
                break
            time.sleep(0.2)
        configs = _docker("config", "ls", "-q", "--filter", f"name={stack}_").split()
        if configs:
            _docker("config", "rm", *configs, check=False)
        refs = _docker("images", "--format", "{{.Repository}}:{{.Tag}}", f"{registry}/{stack}-web")
        if refs.split():
            _docker("rmi", "-f", *refs.split(), check=False)


def test_a_stack_needs_a_manager_and_a_registry_before_anything_changes(
    tmp_path: Path,
    base_image: str,
    project_name: str,
    swarm: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    compose = stack_compose("registry.invalid", project_name).replace(
        "image: registry.invalid/", "image: "
    )
    proj = build_file_tree(
        tmp_path / "p", {"compose.yaml": compose, ".env": "GREETING=x\n", "app.conf": "a\n"}
    )
    (proj / "app").mkdir()
    write_version(proj, 1)
    run = Runner(proj, capsys)
    assert run("deploy", *FAST) == 1
    assert "service web is built here, and a Swarm stack needs its image in a registry" in run.err
    assert not run.store.exists() or not git(run.store, "tag")
    assert _docker("stack", "ls", "--format", "{{.Name}}").split().count(project_name) == 0
