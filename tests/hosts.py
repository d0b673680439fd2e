"""Several Docker engines on this machine, each a "host" of its own, for the fleet's tests
(issue 38): a `dockerd` in a network namespace of its own (`unshare --net --fork`), with its own
data root, exec root, pid file and socket, reached through that socket as a docker context
would reach it; `nsenter -t PID -n` reaches what it publishes. (`ip netns exec` does not do:
it remounts /sys and dockerd finds no cgroups.)"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Engine:
    name: str
    root: Path
    process: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"unix://{self.root / 'docker.sock'}"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.address}

    def docker(self, *argv: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", *argv], env=self.env, capture_output=True, text=True, **kwargs
        )  # type: ignore[call-overload]

    def pid(self) -> int:
        return int((self.root / "docker.pid").read_text())

    def inside(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """`argv` in the engine's network namespace (its published ports are its own)."""
        return subprocess.run(
            ["nsenter", "-t", str(self.pid()), "-n", *argv], capture_output=True, text=True
        )

    def load(self, *images: str) -> None:
        """Images of this machine's engine, copied to this one (`docker save | docker load`)."""
        save = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE)
        subprocess.run(["docker", "load", "-q"], stdin=save.stdout, env=self.env, check=True,
                       capture_output=True)  # fmt: skip
        assert save.wait() == 0

    def serve_registry(self, storage: Path) -> subprocess.Popen[bytes]:
        """Debian's docker-registry on 127.0.0.1:5000 inside this host's network namespace,
        keeping its blobs in `storage`. Every host given the same `storage` sees one registry
        at one address, as hosts see a shared registry (the engine trusts loopback)."""
        config = self.root / "registry.yml"
        config.write_text(
            f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {storage}\n"
            "http:\n  addr: 127.0.0.1:5000\n"
        )
        process = subprocess.Popen(
            ["nsenter", "-t", str(self.pid()), "-n", "docker-registry", "serve", str(config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        probe = "import urllib.request as u; u.urlopen('http://127.0.0.1:5000/v2/', timeout=1)"
        until = time.monotonic() + 30
        while self.inside(sys.executable, "-c", probe).returncode != 0:
            if process.poll() is not None or time.monotonic() > until:
                process.kill()
                raise AssertionError(f"the registry on {self.name} did not start")
            time.sleep(0.2)
        return process

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start(name: str, root: Path, timeout: float = 60) -> Engine:
    """A new engine named `name` under `root` (short: the socket's path must fit 107 bytes)."""
    for tool in ("unshare", "nsenter", "dockerd", "ip"):
        assert shutil.which(tool), f"{tool} is needed for the fleet's test hosts"
    root.mkdir(parents=True, exist_ok=True)
    log = (root / "dockerd.log").open("wb")
    script = (
        'ip link set lo up && exec dockerd --data-root "$1/data" --exec-root "$1/exec" '
        '--pidfile "$1/docker.pid" -H "unix://$1/docker.sock" --iptables=false '
        "--ip6tables=false"
    )
    process = subprocess.Popen(
        ["unshare", "--net", "--fork", "sh", "-c", script, "sh", str(root)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    engine = Engine(name, root, process)
    until = time.monotonic() + timeout
    while engine.docker("info", "-f", "{{.ID}}").returncode != 0:
        if process.poll() is not None or time.monotonic() > until:
            engine.stop()
            raise AssertionError(f"the engine {name} did not start: see {root / 'dockerd.log'}")
        time.sleep(0.2)
    return engine
