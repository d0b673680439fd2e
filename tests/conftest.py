"""Test isolation and the Docker fixtures.

Every test runs in its own HOME and working folder with no git identity and no cfgroll
environment, and fails if it created a store outside its tmp folder. Tests marked `docker`
need a real engine: without one they skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.fleet import Fleet, context
from tests.helpers import BASE_IMAGE
from tests.hosts import Engine

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in (
        "CFGROLL_STORE",
        "CFGROLL_CACHE",
        "XDG_CACHE_HOME",
        "COMPOSE_FILE",
        "COMPOSE_PROJECT_NAME",
        "COMPOSE_PATH_SEPARATOR",
        "GIT_DIR",
        "GIT_WORK_TREE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    before = (REPO_ROOT / ".cfgroll").exists()
    # the engine choice (`--context` sets it in-process) must not reach the next test
    engine = {k: os.environ.get(k) for k in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    yield
    for key, value in engine.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if not before and (REPO_ROOT / ".cfgroll").exists():
        pytest.fail("a test created a store in the cfgroll checkout itself")


_engine_error: list[str] = []


def _engine_problem() -> str | None:
    if not _engine_error:
        try:
            out = subprocess.run(
                ["docker", "info", "--format", "{{.ServerVersion}}"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            ok = out.returncode == 0 and out.stdout.strip()
            _engine_error.append("" if ok else (out.stderr.strip() or "docker info failed"))
        except (OSError, subprocess.TimeoutExpired) as exc:
            _engine_error.append(str(exc))
    return _engine_error[0] or None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that need no engine first (seconds), then the engine tests (minutes): a
    broken core rule fails fast. The order within each group stays as collected."""
    items.sort(key=lambda item: item.get_closest_marker("docker") is not None)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("docker") is None:
        return
    problem = _engine_problem()
    if problem:
        message = f"no Docker engine reachable ({problem}); run bash ../shared/ci/start-docker.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="session")
def base_image() -> str:
    """A tiny image made from the machine's static busybox; nothing is pulled."""
    if (
        subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True).returncode
        == 0
    ):
        return BASE_IMAGE
    busybox = shutil.which("busybox")
    assert busybox, "busybox-static is needed for the engine tests (apt-get install busybox-static)"
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for folder in ("bin", "tmp", "www"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in applets.split():
            if applet != "busybox":
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
    subprocess.run(
        ["docker", "import", "-", BASE_IMAGE], input=buf.getvalue(), capture_output=True, check=True
    )
    return BASE_IMAGE


@pytest.fixture(scope="session")
def hosts(base_image: str) -> Iterator[list[Engine]]:
    """Three engines, each a host of its own (tests/hosts.py); only a has the base image."""
    from tests.hosts import start

    root = Path(tempfile.mkdtemp(prefix="cfgf-", dir="/tmp"))  # short socket paths
    found: list[Engine] = []
    try:
        for name in ("a", "b", "c"):
            found.append(start(name, root / name))
        found[0].load(base_image)
        yield found
    finally:
        for engine in found:
            engine.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fleet(
    tmp_path: Path, hosts: list[Engine], project_name: str, monkeypatch: pytest.MonkeyPatch
) -> Fleet:
    """The fleet tests' hosts (tests/fleet.py), and a docker context `fleet-a` for host a, as
    a user would make one."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    context(["create", "fleet-a", "--docker", f"host={hosts[0].address}"])
    return Fleet(hosts, project_name, tmp_path)


@pytest.fixture
def project_name() -> Iterator[str]:
    """A unique Compose project name; its containers, networks and images go afterwards."""
    name = f"cfgt{uuid.uuid4().hex[:10]}"
    yield name
    subprocess.run(
        ["docker", "compose", "-p", name, "down", "-v", "--remove-orphans", "-t", "0"],
        capture_output=True,
    )
    images = subprocess.run(
        [
            "docker",
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "--filter",
            f"reference={name}*",
        ],
        capture_output=True,
        text=True,
    ).stdout.split()
    if images:
        subprocess.run(["docker", "rmi", "-f", *images], capture_output=True)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """Debian's docker-registry on a free loopback port; the engine trusts loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "registry.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'registry'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1):  # noqa: S310
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the registry did not start")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _needed(tool: str, package: str) -> str:
    """The path of a tool the test needs: missing, the test skips, except under CI=true."""
    found = shutil.which(tool)
    if found is None:
        message = f"{tool} is not installed (apt-get install {package})"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


@dataclass(frozen=True)
class AgeKey:
    identity: Path  # the private key file
    recipient: str  # its public key


def _age_key(path: Path) -> AgeKey:
    subprocess.run([_needed("age-keygen", "age"), "-o", str(path)], capture_output=True, check=True)
    public = subprocess.run(
        ["age-keygen", "-y", str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()
    return AgeKey(path, public)


@pytest.fixture
def age_key(tmp_path_factory: pytest.TempPathFactory) -> AgeKey:
    """A fresh age identity (Debian's age-keygen), outside the test's project folder."""
    _needed("age", "age")
    return _age_key(tmp_path_factory.mktemp("keys") / "identity.txt")


@pytest.fixture
def other_age_key(tmp_path_factory: pytest.TempPathFactory) -> AgeKey:
    return _age_key(tmp_path_factory.mktemp("keys") / "other.txt")


@pytest.fixture
def git_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """`git daemon` serving a folder on a free loopback port, pushes allowed: (folder, base
    URL); repositories made in the folder are at `URL/NAME`."""
    root = tmp_path_factory.mktemp("daemon")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack",
         f"--base-path={root}", "--listen=127.0.0.1", f"--port={port}", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("git daemon did not start")
        yield root, f"git://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def servers() -> dict[str, str]:
    """Real PostgreSQL, MariaDB and Redis images from Debian's packages (tests/images)."""
    _needed("mmdebstrap", "mmdebstrap")
    from tests.images import server_images

    return server_images()


class Collector:
    def __init__(self) -> None:
        self.got: list[dict[str, str]] = []


@pytest.fixture
def notify_receiver() -> Iterator[tuple[str, Collector]]:
    """A JSON receiver on loopback, for Apprise's `json://` URL; what it got, in order."""
    seen = Collector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the standard library's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.got.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"json://127.0.0.1:{server.server_port}/", seen
    server.shutdown()
