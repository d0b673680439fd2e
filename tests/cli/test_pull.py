"""Pull mode on a real engine: a project cloned from a bare origin (`.env` host-only) follows
`main` with `cfgroll pull`, a crashing commit rolls back and is not tried again, a person's
edit stops it, and `cfgroll watch` (fetching through a `git daemon`) deploys the next commits
by itself and stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cfgroll.cli.main import main
from tests.conftest import AgeKey
from tests.helpers import DOCKERFILE, Runner, git, http_get
from tests.helpers import git_in as sh

pytestmark = pytest.mark.docker
FAST = ["--settle", "0.5", "--timeout", "30"]

COMPOSE = """\
name: {name}
services:
  web:
    build: .
    init: true
    environment:
      GREETING: ${{GREETING}}
      VERSION: {version}
    ports: ["127.0.0.1::8080"]
    command:
      - sh
      - -c
      - >-
        [ "$$VERSION" = crash ] && exit 3;
        echo "$$GREETING $$VERSION" > /www/index.html && exec httpd -f -p 8080 -h /www
"""


def push(dev: Path, name: str, version: str) -> str:
    (dev / "compose.yaml").write_text(COMPOSE.format(name=name, version=version))
    sh(dev, "commit", "-qam", f"web {version}")
    sh(dev, "push", "-q", "origin", "main")
    return sh(dev, "rev-parse", "HEAD")


def origin_and_clones(root: Path, name: str, bare: Path) -> tuple[Path, Path]:
    dev, host = root / "dev", root / "host" / "app"
    sh(root, "init", "-q", "--bare", "-b", "main", str(bare))
    sh(root, "clone", "-q", str(bare), str(dev))
    (dev / "compose.yaml").write_text(COMPOSE.format(name=name, version="v1"))
    (dev / "Dockerfile").write_text(DOCKERFILE)
    (dev / ".gitignore").write_text(".env\n")
    sh(dev, "add", "-A")
    sh(dev, "commit", "-qm", "web v1")
    sh(dev, "push", "-q", "origin", "HEAD:main")
    return dev, host


def daemon_host(
    tmp_path: Path, project_name: str, git_daemon: tuple[Path, str], repo: str
) -> tuple[Path, Path]:
    """An origin served by `git daemon`, a developer's clone, and the host's clone of it over
    git:// (its `.env` host-only)."""
    served, url = git_daemon
    dev, host = origin_and_clones(tmp_path, project_name, served / repo)
    sh(tmp_path, "clone", "-q", f"{url}/{repo}", str(host))
    (host / ".env").write_text("GREETING=hi\n")
    return dev, host


def watching(
    host: Path, log: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`cfgroll watch ARGS` on the host, its output in `log`."""
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cfgroll", "watch", *args, *FAST, "-C", str(host)],
            stdout=out, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip


def wait_serving(project_name: str, text: str, within: float, log: Path) -> None:
    """Until the project serves `text` (`within` seconds at most, else fail with the log)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if http_get(project_name, tries=1) == text:
                return
        except AssertionError:
            pass
        time.sleep(0.2)
    pytest.fail(f"not serving {text!r}:\n{log.read_text()}")


def test_pull_follows_the_branch_through_the_gate(
    tmp_path: Path, project_name: str, base_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dev, host = origin_and_clones(tmp_path, project_name, tmp_path / "origin.git")
    sh(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(host))
    (host / ".env").write_text("GREETING=hello\n")  # host-only, ignored by the repository
    run = Runner(host, capsys)

    assert run("pull", *FAST) == 0, run.err
    assert http_get(project_name) == "hello v1"
    v2 = push(dev, project_name, "v2")
    assert run("pull", *FAST) == 0 and "deployed backup_" in run.out
    assert http_get(project_name) == "hello v2"
    assert run("show", "live", "--json") == 0
    source = json.loads(run.out)["source"]
    assert source["commit"] == v2 and source["branch"] == "main" and source["remote"] == "origin"
    assert source["author"] == "dev <dev@example.com>"
    assert run("log") == 0 and f"deploy @{v2[:7]}" in run.out
    assert run("pull", *FAST) == 0 and "up to date" in run.out

    # a crashing commit: rolled back, the tree back on v2, not tried again
    push(dev, project_name, "crash")
    assert run("pull", *FAST) == 3
    assert http_get(project_name) == "hello v2"
    assert sh(host, "rev-parse", "HEAD") == v2
    store = host / ".cfgroll" / "store.git"
    attempts = git(store, "tag", "--list", "failed_*").split()
    assert len(attempts) == 1
    assert run("pull", *FAST) == 0 and "skipping" in run.out and attempts[0] in run.out
    assert git(store, "tag", "--list", "failed_*").split() == attempts

    # a person's edit: nothing changes
    tags = git(store, "tag")
    push(dev, project_name, "v3")
    (host / "compose.yaml").write_text((host / "compose.yaml").read_text() + "# my edit\n")
    assert run("pull", *FAST) == 1
    assert run.err.startswith("error: uncommitted changes to tracked files (compose.yaml)")
    assert "# my edit" in (host / "compose.yaml").read_text()
    assert git(store, "tag") == tags and http_get(project_name) == "hello v2"
    git(store, "fsck", "--strict")


def test_a_rollback_by_hand_holds_the_branch_and_the_fix_goes_on(
    tmp_path: Path, project_name: str, base_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dev, host = origin_and_clones(tmp_path, project_name, tmp_path / "origin.git")
    sh(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(host))
    (host / ".env").write_text("GREETING=hello\n")
    run = Runner(host, capsys)
    store = host / ".cfgroll" / "store.git"
    assert run("pull", *FAST) == 0, run.err
    v2 = push(dev, project_name, "v2")  # bad in production
    assert run("pull", *FAST) == 0 and http_get(project_name) == "hello v2"

    assert run("rollback", "previous", "--yes", *FAST) == 0, run.err  # a person steps in
    assert http_get(project_name) == "hello v1"
    tags = git(store, "tag")
    assert run("pull", *FAST) == 0, run.err
    assert run.out.startswith("held: rolled back by hand to backup_") and v2[:7] in run.out
    assert http_get(project_name) == "hello v1" and git(store, "tag") == tags
    assert run("status") == 0 and f"pull: follows origin/main, at {v2[:7]}" in run.out
    assert "held: rolled back by hand to" in run.out
    assert run("status", "--json") == 0
    following = json.loads(run.out)["pull"]
    assert following["follows"] == "origin/main" and following["upstream_commit"] == v2
    assert following["held"]["rolled_back_to"].startswith("backup_")

    v3 = push(dev, project_name, "v3")  # the fix
    assert run("pull", *FAST) == 0, run.err
    assert "deployed backup_" in run.out and http_get(project_name) == "hello v3"
    assert sh(host, "rev-parse", "HEAD") == v3 and sh(host, "status", "--porcelain") == ""


def test_watch_deploys_each_commit_and_stops_on_sigterm(
    tmp_path: Path,
    project_name: str,
    base_image: str,
    git_daemon: tuple[Path, str],
) -> None:
    dev, host = daemon_host(tmp_path, project_name, git_daemon, "app.git")
    log = tmp_path / "watch.log"
    watcher = watching(host, log, "--interval", "1")
    try:
        pushed = []
        for version in ("v2", "v3"):
            pushed.append(push(dev, project_name, version))
            wait_serving(project_name, f"hi {version}", 90, log)
        time.sleep(1.5)  # the next check: up to date
        watcher.send_signal(signal.SIGTERM)
        assert watcher.wait(timeout=10) == 0
    finally:
        if watcher.poll() is None:
            watcher.kill()
    lines = log.read_text().splitlines()
    deployed = [line for line in lines if "deployed backup_" in line]
    # v3 for sure, v2 unless both came within one interval (and v1, unless v2 came first)
    assert len(deployed) >= 2 and pushed[1][:7] in deployed[-1], lines
    assert any("up to date" in line for line in lines) and lines[-1].endswith("stopped")
    git(host / ".cfgroll" / "store.git", "fsck", "--strict")


def test_a_signed_push_webhook_deploys_at_once(
    tmp_path: Path,
    project_name: str,
    base_image: str,
    git_daemon: tuple[Path, str],
) -> None:
    import hashlib
    import hmac
    import os
    import socket
    import urllib.error
    import urllib.request

    dev, host = daemon_host(tmp_path, project_name, git_daemon, "hook.git")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "watch.log"
    env = {**os.environ, "CFGROLL_WEBHOOK_SECRET": "hook-s3cret"}
    watcher = watching(host, log, "--interval", "3600", "--listen", f"127.0.0.1:{port}", env=env)

    def hook(body: bytes, key: bytes) -> int:
        sig = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/hooks/push", data=body, method="POST",
            headers={"X-Hub-Signature-256": sig},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        wait_serving(project_name, "hi v1", 90, log)  # the first check deploys v1
        push(dev, project_name, "v2")
        assert hook(b'{"ref": "refs/heads/main"}', b"wrong") == 401
        time.sleep(2)
        assert http_get(project_name) == "hi v1"  # a wrong signature changes nothing
        assert hook(b'{"ref": "refs/heads/main"}', b"hook-s3cret") == 202
        wait_serving(project_name, "hi v2", 60, log)  # not the hour of the interval
        watcher.send_signal(signal.SIGTERM)
        assert watcher.wait(timeout=20) == 0
    finally:
        if watcher.poll() is None:
            watcher.kill()
    lines = log.read_text()
    assert "answering push webhooks" in lines and "refused (no valid signature)" in lines
    assert "hook-s3cret" not in lines


def test_a_host_that_is_a_checkout_comes_back_and_follows_the_branch_again(
    tmp_path: Path,
    project_name: str,
    base_image: str,
    age_key: AgeKey,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import shutil

    sealed = f"x-cfgroll:\n  recipients: [{age_key.recipient}]\n"

    def release(dev: Path, version: str) -> str:
        (dev / "compose.yaml").write_text(
            COMPOSE.format(name=project_name, version=version) + sealed
        )
        sh(dev, "commit", "-qam", f"web {version}")
        sh(dev, "push", "-q", "origin", "main")
        return sh(dev, "rev-parse", "HEAD")

    origin = tmp_path / "origin.git"
    dev, host = origin_and_clones(tmp_path, project_name, origin)
    release(dev, "v1")
    mirror = tmp_path / "mirror.git"
    sh(tmp_path, "init", "-q", "--bare", "-b", "main", str(mirror))
    sh(tmp_path, "clone", "-q", str(origin), str(host))
    (host / ".env").write_text("GREETING=hello\n")  # host-only
    run = Runner(host, capsys)
    assert run("pull", *FAST) == 0, run.err
    assert run("mirror", str(mirror)) == 0, run.err
    release(dev, "v2")
    assert run("pull", *FAST) == 0 and http_get(project_name) == "hello v2"

    # the host lost
    subprocess.run(["docker", "compose", "-p", project_name, "down", "-t", "0"],
                   capture_output=True)  # fmt: skip
    shutil.rmtree(host)
    # back: the application's checkout, then cfgroll clone into it, then deploy
    sh(tmp_path, "clone", "-q", str(origin), str(host))
    assert main(["clone", str(mirror), str(host), "--identity", str(age_key.identity)]) == 0
    capsys.readouterr()
    assert (host / ".env").read_text() == "GREETING=hello\n"
    assert run("deploy", *FAST) == 0, run.err
    assert http_get(project_name) == "hello v2"
    assert run("pull", *FAST) == 0 and "up to date" in run.out, run.err
    v3 = release(dev, "v3")
    assert run("pull", *FAST) == 0 and http_get(project_name) == "hello v3"
    assert sh(host, "rev-parse", "HEAD") == v3 and sh(host, "status", "--porcelain") == ""
