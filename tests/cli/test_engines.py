"""Remote engines: a second `dockerd` with its own socket, data root, host name and engine ID
(its own mount, UTS and network namespaces), reached through a docker context, DOCKER_HOST
and DOCKER_CONTEXT; each release records the engine it ran on."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import BASE_IMAGE, Runner, build_file_tree, git, live_tag

pytestmark = pytest.mark.docker
FAST = ["--settle", "0.5", "--timeout", "60"]
NAME = "cfgroll-second"


def _docker(*args: str, check: bool = True) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=check
    ).stdout.strip()


@pytest.fixture(scope="module")
def second_engine(base_image: str) -> Iterator[str]:
    """A second engine on a socket of its own; its host's URL. The base image is loaded into
    it (nothing can be pulled)."""
    folder = Path(tempfile.mkdtemp(prefix="cfgd", dir="/tmp"))  # socket paths must stay short
    (folder / "etc").mkdir()
    sock = folder / "docker.sock"
    script = (
        f"hostname {NAME}; ip link set lo up 2>/dev/null; "
        f"mount --bind {folder / 'etc'} /etc/docker && exec dockerd --host unix://{sock} "
        f"--data-root {folder / 'data'} --exec-root {folder / 'x'} "
        f"--pidfile {folder / 'docker.pid'}"
    )
    log = (folder / "log").open("wb")
    proc = subprocess.Popen(
        ["unshare", "--mount", "--uts", "--net", "sh", "-c", script],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    host = f"unix://{sock}"
    try:
        for _ in range(150):
            if proc.poll() is not None:
                break
            ok = subprocess.run(["docker", "-H", host, "info"], capture_output=True)
            if ok.returncode == 0:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the second engine did not start: " + (folder / "log").read_text()[-500:])
        if proc.poll() is not None:
            pytest.fail("the second engine stopped: " + (folder / "log").read_text()[-500:])
        image = subprocess.run(["docker", "save", base_image], capture_output=True, check=True)
        subprocess.run(
            ["docker", "-H", host, "load"], input=image.stdout, capture_output=True, check=True
        )
        yield host
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def compose(name: str) -> str:
    return f"""\
name: {name}
services:
  app:
    image: {BASE_IMAGE}
    init: true
    command: ["sh", "-c", "echo $$MSG > /tmp/msg; exec sleep 3600"]
    environment:
      MSG: ${{MSG}}
"""


def engine_of(store: Path, tag: str) -> str:
    manifest = git(store, "show", f"{tag}:.cfgroll/manifest.yaml")
    return manifest.split("engine:", 1)[1].split("files:", 1)[0]


def running(host: str | None, project: str) -> list[str]:
    args = ["-H", host] if host else []
    return _docker(
        *args, "ps", "-q", "--filter", f"label=com.docker.compose.project={project}"
    ).split()


def test_contexts_choose_the_engine_and_a_release_goes_back_only_to_its_own(
    tmp_path: Path,
    second_engine: str,
    project_name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _docker("context", "create", "second", "--docker", f"host={second_engine}")
    proj = build_file_tree(
        tmp_path / "p", {"compose.yaml": compose(project_name), ".env": "MSG=one\n"}
    )
    run = Runner(proj, capsys)
    try:
        assert run("--context", "second", "deploy", *FAST) == 0, run.err
        first = live_tag(run.store)
        assert f"name: {NAME}" in engine_of(run.store, first)
        assert "context: second" in engine_of(run.store, first)
        assert os.environ.pop("DOCKER_CONTEXT") == "second"  # set for the (in-process) run
        assert len(running(second_engine, project_name)) == 1
        assert running(None, project_name) == []  # Compose and the engine door agree
        assert run("--context", "second", "status") == 0
        assert f"engine: {NAME} (context second)" in run.out and "drift: none" in run.out
        os.environ.pop("DOCKER_CONTEXT")  # what `--context` set for the (in-process) run

        (proj / ".env").write_text("MSG=two\n")
        monkeypatch.setenv("DOCKER_CONTEXT", "second")  # the environment chooses it too
        assert run("deploy", *FAST) == 0, run.err
        second = live_tag(run.store)
        monkeypatch.delenv("DOCKER_CONTEXT")

        # the default engine is another one: a rollback there is refused, nothing changes
        assert run("rollback", first, "--yes", *FAST) == 1
        assert f"{first} ran on engine {NAME}" in run.err and "--engine-change" in run.err
        assert live_tag(run.store) == second and (proj / ".env").read_text() == "MSG=two\n"
        assert running(None, project_name) == []
        assert run("status", "--check") == 1
        assert f"the live release ran on another engine, {NAME} (context second)" in run.out

        # DOCKER_HOST names the same engine: the rollback goes ahead there
        monkeypatch.setenv("DOCKER_HOST", second_engine)
        assert run("rollback", first, "--yes", *FAST) == 0, run.err
        [container] = running(second_engine, project_name)
        msg = _docker("-H", second_engine, "exec", container, "cat", "/tmp/msg")
        assert msg == "one"
        monkeypatch.delenv("DOCKER_HOST")

        # --engine-change puts a release onto the default engine, and records that engine
        assert run("rollback", second, "--yes", "--engine-change", *FAST) == 0, run.err
        [moved] = running(None, project_name)
        assert _docker("exec", moved, "cat", "/tmp/msg") == "two"
        assert "context: default" in engine_of(run.store, live_tag(run.store))
    finally:
        subprocess.run(
            ["docker", "-H", second_engine, "compose", "-p", project_name, "down", "-t", "0"],
            capture_output=True,
        )


def test_an_unknown_context_is_one_line_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = build_file_tree(tmp_path / "p", {"compose.yaml": compose("x"), ".env": "MSG=a\n"})
    run = Runner(proj, capsys)
    assert run("--context", "nowhere", "deploy") == 2
    assert run.err.strip() == (
        "error: there is no docker context named 'nowhere'; `docker context ls` lists them"
    )
    assert not run.store.exists()
