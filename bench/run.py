#!/usr/bin/env python3
"""cfgroll's benchmark: each figure a ratio against the command a user would run instead.

    .venv/bin/python bench/run.py [--pairs 7] [--scales 100,1000,10000] [--out FILE] [--quick]

Needs `cfgroll` installed (the README's first command; run this with that venv's Python), a
Docker engine and busybox-static. The scenario: a Compose project with `web` (a healthcheck)
and `worker`, built from a local busybox base, under a unique project name, removed
afterwards. Every deploy changes one `.env` value, so one container (`web`) is recreated.

Each ratio is measured in pairs run alternately, anchor then cfgroll (A B A B ...), so that
the machine's drift hits both alike; the figure is the median of the pairs' ratios. `--quick`
(CI) runs every row once at small scales, to keep this script working; its figures mean
little. Nothing here asserts a duration: the goals are read by people, in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BASE = "cfgroll-example-base:latest"
SERVICES = ("web", "worker")
# the libraries the project card prescribes, imported by the interpreter cfgroll runs on
IMPORTS = "import typer, git, yaml"

COMPOSE = """\
name: {name}
services:
  web:
    build: .
    init: true
    environment:
      GREETING: ${{GREETING}}
    command: ["sh", "-c", "echo \\"$$GREETING\\" > /www/index.html && exec httpd -f -p 8080 -h /www"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:8080/"]
      interval: 1s
      retries: 10
  worker:
    build: .
    init: true
    command: ["sleep", "3600"]
"""
DOCKERFILE = f"FROM {BASE}\nRUN mkdir -p /www\n"
# The Swarm scenario: the same two services as a stack, the image in a loopback registry, a
# config file; `version:` and no `name:` (the folder names the project), so that `docker stack
# deploy` (the anchor) reads the file as well.
STACK = """\
version: "3.9"
services:
  web:
    build: .
    image: {registry}/{name}-web:latest
    init: true
    environment:
      GREETING: ${{GREETING}}
    command: ["sh", "-c", "echo \\"$$GREETING\\" > /www/index.html && exec httpd -f -p 8080 -h /www"]
    configs: [{{source: conf, target: /etc/app.conf}}]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:8080/"]
      interval: 1s
      retries: 10
    deploy: {{replicas: 2, update_config: {{parallelism: 2, monitor: 1s}}}}
  worker:
    image: {registry}/{name}-web:latest
    init: true
    command: ["sleep", "3600"]
    deploy: {{replicas: 2, update_config: {{parallelism: 2, monitor: 1s}}}}
configs:
  conf:
    file: ./app.conf
x-cfgroll:
  orchestrator: swarm
"""
CRASH = """\
name: {name}
services:
  crash:
    image: {base}
    init: true
    command: ["sh", "-c", "sleep 1; exit 3"]
"""


def sh(argv: Sequence[str], cwd: Path | None = None) -> str:
    done = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise SystemExit(f"bench: failed ({done.returncode}): {' '.join(argv)}\n{tail}")
    return done.stdout


def timed(argv: Sequence[str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    sh(argv, cwd)
    return time.perf_counter() - start


@dataclass
class Row:
    figure: str
    ours: list[float]  # seconds, or bytes for sizes
    anchor: list[float]
    anchor_name: str
    goal: str
    unit: str = "s"

    @property
    def ratio(self) -> float | None:
        if not self.anchor:
            return None
        if len(self.anchor) == len(self.ours):  # pairs: the median of their ratios
            return statistics.median(o / a for o, a in zip(self.ours, self.anchor, strict=True))
        return statistics.median(self.ours) / statistics.median(self.anchor)


def show(values: Sequence[float], unit: str) -> str:
    med = statistics.median(values)
    if unit == "KiB":
        return f"{med / 1024:,.0f} KiB"
    if unit == "ms" or med < 1:
        lo, hi = min(values), max(values)
        return f"{med * 1000:.0f} ms ({lo * 1000:.0f}–{hi * 1000:.0f})"
    return f"{med:.2f} s ({min(values):.2f}–{max(values):.2f})"


class Bench:
    def __init__(self, pairs: int, work: Path) -> None:
        self.pairs = pairs
        self.work = work
        self.name = f"cfgbench{uuid.uuid4().hex[:6]}"
        self.proj = work / "proj"
        self.cfgroll = shutil.which("cfgroll") or sys.exit("bench: cfgroll is not on PATH")
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.version = 0
        self.cleanups: list[str] = []  # more Compose projects to take down at the end

    # -- the project ------------------------------------------------------------------------

    def setup(self) -> None:
        sh(["bash", str(REPO / "examples" / "make-base-image.sh")])
        self.proj.mkdir(parents=True)
        (self.proj / "compose.yaml").write_text(COMPOSE.format(name=self.name))
        (self.proj / "Dockerfile").write_text(DOCKERFILE)
        self.change()
        sh(["docker", "compose", "up", "-d", "--build", "--wait"], self.proj)  # warm caches
        self.cfg("deploy")

    def change(self) -> None:
        """A new version: one new value in .env (web's environment: web is recreated)."""
        self.version += 1
        (self.proj / ".env").write_text(f"GREETING=v{self.version}\n")

    def cfg(self, *args: str) -> float:
        return timed([self.cfgroll, *args], self.proj)

    def cleanup(self) -> None:
        from scale import cleanup

        cleanup(self)
        for name in (self.name, self.name + "crash", self.name + "data", *self.cleanups):
            subprocess.run(["docker", "compose", "-p", name, "down", "-v", "-t", "1"],
                           capture_output=True)  # fmt: skip
        images = subprocess.run(
            ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter",
             f"reference={self.name}*"], capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        if images:
            subprocess.run(["docker", "rmi", "-f", *images], capture_output=True)

    def pairs_of(
        self, anchor: Callable[[], float], ours: Callable[[], float]
    ) -> tuple[list[float], list[float]]:
        a, b = [], []
        for _ in range(self.pairs):
            a.append(anchor())
            b.append(ours())
        return a, b

    # -- rows -------------------------------------------------------------------------------

    def deploy(self) -> None:
        def anchor() -> float:
            self.change()
            return timed(["docker", "compose", "up", "-d", "--build", "--wait"], self.proj)

        def ours() -> float:
            self.change()
            return self.cfg("deploy")

        a, b = self.pairs_of(anchor, ours)
        self.rows.append(
            Row("`cfgroll deploy`", b, a, "`docker compose up -d --build --wait`", "≤ 1.05×")
        )

    def rollback(self) -> None:
        backup = self.work / "backup"

        def anchor() -> float:
            # the old way, done right: copy of the files and a tag per service image, then a
            # new version deployed, then the copy put back and the stack gated
            backup.mkdir(exist_ok=True)
            for f in ("compose.yaml", ".env"):
                shutil.copy2(self.proj / f, backup / f)
            for s in SERVICES:
                sh(["docker", "tag", f"{self.name}-{s}", f"{self.name}-{s}:oldbackup"])
            self.change()
            sh(["docker", "compose", "up", "-d", "--build", "--wait"], self.proj)
            start = time.perf_counter()
            for f in ("compose.yaml", ".env"):
                shutil.copy2(backup / f, self.proj / f)
            for s in SERVICES:
                sh(["docker", "tag", f"{self.name}-{s}:oldbackup", f"{self.name}-{s}"])
            sh(["docker", "compose", "up", "-d", "--wait"], self.proj)
            return time.perf_counter() - start

        def ours() -> float:
            self.change()
            self.cfg("deploy")
            self.change()
            self.cfg("deploy")
            return self.cfg("rollback", "previous", "--yes")

        a, b = self.pairs_of(anchor, ours)
        self.rows.append(Row(
            "`cfgroll rollback previous --yes`", b, a,
            "old way done right: `cp` files back, `docker tag` per service, `docker compose up -d --wait`",
            "≤ 1.05×",
        ))  # fmt: skip

    def mirror(self) -> None:
        """A deploy with a mirror set (a bare repository on the same disk, the secrets sealed
        with age when it is installed) against the same deploy without one."""
        remote = self.work / "mirror.git"
        sh(["git", "init", "-q", "--bare", "-b", "main", str(remote)])
        if shutil.which("age-keygen"):
            key = self.work / "age.key"
            sh(["age-keygen", "-o", str(key)])
            block = f"x-cfgroll:\n  recipients: [{sh(['age-keygen', '-y', str(key)]).strip()}]\n"
        else:
            block = "x-cfgroll:\n  mirror_plaintext: true\n"
            self.notes.append("mirror: age is not installed, the mirror row pushed plaintext")
        compose = self.proj / "compose.yaml"
        compose.write_text(compose.read_text() + block)
        self.change()
        self.cfg("deploy")

        def anchor() -> float:
            self.cfg("mirror", "--remove")
            self.change()
            return self.cfg("deploy")

        def ours() -> float:
            self.cfg("mirror", str(remote))
            self.change()
            return self.cfg("deploy")

        a, b = self.pairs_of(anchor, ours)
        self.rows.append(Row(
            "`cfgroll deploy` with a mirror (push of the release, `.env` sealed)", b, a,
            "`cfgroll deploy` without a mirror", "≤ 1.05×",
        ))  # fmt: skip

    def data(self) -> None:
        """A deploy of a project whose `db` holds 50 MB (base64 text, as a SQL dump is text)
        with `x-cfgroll: data:` (a dump before the deploy) against the same deploy without."""
        proj, name = self.work / "data", self.name + "data"
        proj.mkdir()
        db = (
            f"name: {name}\nservices:\n  db:\n    image: {BASE}\n    init: true\n"
            "    environment:\n      VERSION: ${VERSION}\n    volumes: [rows:/data]\n"
            '    command: ["sh", "-c", "exec sleep 100000"]\nvolumes:\n  rows: {}\n'
        )
        block = (
            "x-cfgroll:\n  data:\n    db: {dump: [cat, /data/rows], "
            'restore: [sh, -c, "cat > /data/rows"]}\n'
        )
        version = [0]

        def deploy(with_data: bool) -> float:
            version[0] += 1
            (proj / "compose.yaml").write_text(db + (block if with_data else ""))
            (proj / ".env").write_text(f"VERSION={version[0]}\n")
            return timed([self.cfgroll, "deploy", "--settle", "0.5"], proj)

        deploy(False)
        fill = "head -c 37748736 /dev/urandom | base64 > /data/rows"
        sh(["docker", "compose", "-p", name, "exec", "-T", "db", "sh", "-c", fill])
        a, b = self.pairs_of(lambda: deploy(False), lambda: deploy(True))
        size = sum(p.stat().st_size for p in (proj / ".cfgroll" / "data").rglob("*.zst"))
        self.rows.append(Row(
            "`cfgroll deploy` with a 50 MB `data:` dump first", b, a,
            "`cfgroll deploy` of the same project without `data:`", "the dump's own time",
        ))  # fmt: skip
        self.notes.append(f"data: the dumps kept take {size / 2**20:.0f} MiB (zstd level 3)")

    def swarm(self) -> None:
        """A stack deploy (a new `.env` value and a new image) and a stack rollback, against
        Swarm's own `docker stack deploy` of the same files (the compose file with the `.env`
        values in the environment, as `docker stack deploy` ignores `.env`; for the rollback,
        the release's recorded stack file), each waited for with the same gate as cfgroll's
        (every task of the new spec running, for 1 s)."""
        from cfgroll.capabilities import gate
        from cfgroll.engine.daemon import Daemon
        from cfgroll.orchestrators.swarm import stack as swarm_stack

        state = sh(["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"]).strip()
        joined = state != "active"
        if joined:
            sh(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"])
        registry = Registry(self.work / "registry")
        stack = self.name + "stack"
        folder = self.work / stack  # Compose names the project after it
        folder.mkdir()
        (folder / "compose.yaml").write_text(STACK.format(name=stack, registry=registry.address))
        (folder / "app.conf").write_text("level=0\n")
        daemon = Daemon()
        limits = gate.Limits(timeout=120, settle=1)
        settle = ["--settle", "1"]
        n = [0]

        def change() -> None:
            n[0] += 1
            (folder / ".env").write_text(f"GREETING=s{n[0]}\n")
            (folder / "Dockerfile").write_text(DOCKERFILE + f"RUN echo {n[0]} > /version\n")

        def converge() -> None:
            swarm_stack.wait_stack(daemon, stack, ["web", "worker"], limits, before)

        try:
            change()
            sh([self.cfgroll, "deploy", *settle], folder)

            def anchor() -> float:
                nonlocal before
                change()
                start = time.perf_counter()
                sh(["docker", "compose", "build", "web"], folder)
                sh(["docker", "compose", "push", "web"], folder)
                before = {t.id for t in daemon.stack_tasks(stack)}
                env = {**os.environ, "GREETING": f"s{n[0]}"}
                done = subprocess.run(
                    ["docker", "stack", "deploy", "--prune", "--with-registry-auth", "-c",
                     "compose.yaml", stack], cwd=folder, env=env, capture_output=True,
                )  # fmt: skip
                if done.returncode != 0:
                    raise SystemExit(f"bench: docker stack deploy failed: {done.stderr!r}")
                converge()
                return time.perf_counter() - start

            def ours() -> float:
                change()
                return timed([self.cfgroll, "deploy", *settle], folder)

            before: set[str] = set()
            a, b = self.pairs_of(anchor, ours)
            self.rows.append(Row(
                "`cfgroll deploy` (Swarm stack, new image and `.env`)", b, a,
                "`docker compose build` + `push` + `docker stack deploy`, waited for",
                "≤ 1.1×",
            ))  # fmt: skip

            def anchor_back() -> float:
                nonlocal before
                change()
                sh([self.cfgroll, "deploy", *settle], folder)
                previous = sh(["git", "--git-dir", ".cfgroll/store.git", "show",
                               "main~1:.cfgroll/stack.yaml"], folder)  # fmt: skip
                (folder / ".previous-stack.yaml").write_text(previous)
                start = time.perf_counter()
                before = {t.id for t in daemon.stack_tasks(stack)}
                sh(["docker", "stack", "deploy", "--prune", "--with-registry-auth",
                    "--resolve-image", "never", "-c", ".previous-stack.yaml", stack], folder)  # fmt: skip
                converge()
                return time.perf_counter() - start

            def ours_back() -> float:
                change()
                sh([self.cfgroll, "deploy", *settle], folder)
                return timed([self.cfgroll, "rollback", "previous", "--yes", *settle], folder)

            a, b = self.pairs_of(anchor_back, ours_back)
            self.rows.append(Row(
                "`cfgroll rollback previous --yes` (Swarm stack)", b, a,
                "`docker stack deploy` of the previous release's stack file, waited for",
                "≤ 1.1×",
            ))  # fmt: skip
        finally:
            subprocess.run(["docker", "stack", "rm", stack], capture_output=True)
            registry.stop()
            images = sh(["docker", "images", "-q", f"{registry.address}/{stack}-web"]).split()
            if images:
                subprocess.run(["docker", "rmi", "-f", *set(images)], capture_output=True)
            if joined:
                subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True)

    def startup(self, store: Path | None = None, releases: int = 0) -> None:
        python = str(Path(self.cfgroll).parent / "python")
        if not Path(python).exists():
            python = sys.executable
        imports = [python, "-c", IMPORTS]
        args = ["--store", str(store)] if store else []
        where = f" ({releases:,} releases)" if releases else ""
        a, b = self.pairs_of(lambda: timed(imports), lambda: self.cfg("log", "-n", "20", *args))
        self.rows.append(
            Row(f"`cfgroll log -n 20`{where}", b, a, f'`python -c "{IMPORTS}"`', "≤ 1.3×")
        )
        if store is None:
            a, b = self.pairs_of(lambda: timed(imports), lambda: self.cfg("status"))
            self.rows.append(Row("`cfgroll status`", b, a, f'`python -c "{IMPORTS}"`', "≤ 1.5×"))

    def gate(self) -> None:
        """How long after a container exits the gate knows: the moment it reports the exit
        (its `on_states`) against the engine's own record of it (`State.FinishedAt`); and when
        the failure, with the container's last log lines, is raised."""
        from cfgroll.capabilities import gate
        from cfgroll.engine.daemon import Daemon

        folder = self.work / "crash"
        folder.mkdir(exist_ok=True)
        name = self.name + "crash"
        (folder / "compose.yaml").write_text(CRASH.format(name=name, base=BASE))
        daemon = Daemon()
        seen, raised = [], []
        for _ in range(self.pairs):
            sh(["docker", "compose", "up", "-d", "--force-recreate"], folder)
            before = gate.baseline(daemon, name)
            known: list[float] = []

            def states(now: dict[str, str], known: list[float] = known) -> None:
                if not known and any(v.startswith("exited") for v in now.values()):
                    known.append(time.time())

            limits = gate.Limits(timeout=30, settle=10)
            try:
                gate.wait_healthy(daemon, name, ["crash"], limits, before, states)
            except gate.GateFailed:
                failed_at = time.time()
            else:
                raise SystemExit("bench: the crashing service passed the gate")
            cid = sh(["docker", "compose", "ps", "-a", "-q", "crash"], folder).strip()
            finished = json.loads(
                sh(["docker", "inspect", "--format", "{{json .State.FinishedAt}}", cid])
            )
            stamp = datetime.fromisoformat(finished[:26].rstrip("Z") + "+00:00").timestamp()
            seen.append(known[0] - stamp)
            raised.append(failed_at - stamp)
        sh(["docker", "compose", "down", "-t", "1"], folder)
        self.rows.append(
            Row(
                "a crash seen by the gate, after the container exited",
                seen,
                [],
                "",
                "≤ 0.1 s",
                "ms",
            )
        )
        self.notes.append(
            f"the gate's failure, with the container's last log lines, was raised "
            f"{statistics.median(raised) * 1000:.0f} ms (median) after the exit: the engine "
            "answers for a container that just died only after a while"
        )

    def history(self, scales: Sequence[int]) -> None:
        for n in scales:
            store, per_release = self.store_of(n)
            self.rows.append(
                Row(
                    f"recording one release, {n:,} releases before",
                    per_release,
                    [],
                    "",
                    "flat, ≤ 50 ms",
                    "ms",
                )
            )
            self.startup(store, n)
            if n == min(scales, key=lambda s: abs(s - 1000)):
                self.store_size(store, n + 20)

    def store_of(self, n: int) -> tuple[Path, list[float]]:
        """A store of `n` releases written through the store API (as deploys write them, the
        packing included), then 20 more, each timed."""
        from cfgroll.store.files import FileData
        from cfgroll.store.manifest import Layout, Manifest, ServiceRecord
        from cfgroll.store.repo import Store

        compose = (self.proj / "compose.yaml").read_bytes()
        t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
        layout = Layout({".env": "env", "compose.yaml": "compose"}, ("compose.yaml",))
        services = {s: ServiceRecord(f"{self.name}-{s}", "sha256:" + f"{i}" * 64,
                                     f"{self.name}-{s}:x") for i, s in enumerate(SERVICES)}  # fmt: skip
        path = self.work / f"store-{n}.git"
        store, _ = Store.create(path)
        parent = None
        timings = []
        for i in range(n + 20):
            moment = t0 + timedelta(seconds=i)
            tag = "backup_" + moment.strftime("%Y%m%d_%H%M%S")
            m = Manifest(tag=tag, action="deploy", project=self.name, created_at=moment,
                         host="bench", user="bench", cfgroll_version="bench", result="ok",
                         layout=layout, services=services, services_changed=("web",))  # fmt: skip
            files = {
                "compose.yaml": FileData(compose),
                ".env": FileData(f"GREETING=v{i}\n".encode()),
            }
            start = time.perf_counter()
            parent = store.record(files, m, "deploy: web\n", parent, on_main=True).commit
            if i >= n:
                timings.append(time.perf_counter() - start)
        self.notes.append(
            f"{n:,} releases: recording one took {statistics.median(timings) * 1000:.0f} ms "
            f"median, {statistics.mean(timings) * 1000:.0f} ms mean, "
            f"{max(timings) * 1000:.0f} ms at most (a packing run)"
        )
        return path, timings

    def store_size(self, store: Path, n: int) -> None:
        """The store against the old scripts' `.backup/<timestamp>/` folders: a copy of
        docker-compose.yml and .env, and `docker compose ps --format json` as containers.json."""
        copies = self.work / "backup-copies"
        compose = (self.proj / "compose.yaml").read_bytes()
        ps = sh(["docker", "compose", "ps", "--format", "json"], self.proj)
        for i in range(n):
            d = copies / f"20260101_{i:06d}"
            d.mkdir(parents=True)
            (d / "docker-compose.yml").write_bytes(compose)
            (d / ".env").write_text(f"GREETING=v{i}\n")
            (d / "containers.json").write_text(ps)
        self.rows.append(Row(f"the store after {n:,} releases (disk use)", [du(store)], [du(copies)],
                             f"{n:,} `.backup/<ts>/` copies: compose file, .env, containers.json",
                             "≤ 5%", "KiB"))  # fmt: skip


class Registry:
    """Debian's docker-registry on a free loopback port (the engine trusts loopback)."""

    def __init__(self, folder: Path) -> None:
        import socket
        import urllib.request

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{s.getsockname()[1]}"
        folder.mkdir(parents=True)
        config = folder / "config.yml"
        config.write_text(
            f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
            f"http:\n  addr: {self.address}\n"
        )
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=1):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit("bench: the registry did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def du(path: Path) -> float:
    """Bytes of disk used (blocks), as `du -s` counts them."""
    return float(int(sh(["du", "-sk", str(path)]).split()[0]) * 1024)


def machine() -> str:
    def first(argv: list[str]) -> str:
        try:
            return sh(argv).strip().splitlines()[0]
        except (OSError, SystemExit, IndexError):
            return "?"

    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}; "
        f"Python {platform.python_version()}; Docker engine "
        f"{first(['docker', 'version', '--format', '{{.Server.Version}}'])}, Compose "
        f"{first(['docker', 'compose', 'version', '--short'])}; git "
        f"{first(['git', '--version']).split()[-1]}; cfgroll "
        f"{first(['cfgroll', '--version']).split()[-1]}"
    )


def table(bench: Bench) -> list[str]:
    lines = ["| figure | cfgroll | anchor | ratio | goal |", "|---|---|---|---|---|"]
    for r in bench.rows:
        ratio = r.ratio
        if r.unit == "KiB" and ratio is not None:
            said = f"{ratio * 100:.1f}%"
        else:
            said = f"{ratio:.2f}×" if ratio is not None else ""
        anchor = f"{r.anchor_name}: {show(r.anchor, r.unit)}" if r.anchor else ""
        lines.append(f"| {r.figure} | {show(r.ours, r.unit)} | {anchor} | {said} | {r.goal} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--pairs", type=int, default=7, help="pairs per ratio (default 7)")
    parser.add_argument("--scales", default="100,1000,10000", help="store sizes, in releases")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--quick", action="store_true",
                        help="every row once, small stores (CI: keeps the script working)")  # fmt: skip
    parser.add_argument(
        "--only",
        default="",
        help="some of: deploy,rollback,startup,gate,swarm,mirror,data,pgdump,scale,history",
    )
    args = parser.parse_args(argv)
    pairs = 1 if args.quick else args.pairs
    scales = [30] if args.quick else [int(s) for s in args.scales.split(",")]
    with tempfile.TemporaryDirectory(prefix="cfgroll-bench-") as tmp:
        bench = Bench(pairs, Path(tmp))
        started = time.monotonic()
        try:
            bench.setup()
            only = set(filter(None, args.only.split(",")))
            steps = (bench.deploy, bench.rollback, bench.startup, bench.gate, bench.swarm)
            for step in (*steps, bench.mirror, bench.data):
                if not only or step.__name__ in only:
                    print(f"bench: {step.__name__}…", file=sys.stderr)
                    step()
            if not only or "pgdump" in only:
                print("bench: pgdump…", file=sys.stderr)
                from pgdump import pgdump

                pgdump(bench, 30 if args.quick else 1000)
            if not only or "scale" in only:
                print("bench: scale…", file=sys.stderr)
                from scale import scale

                scale(bench)
            if not only or "history" in only:
                print("bench: history…", file=sys.stderr)
                bench.history(scales)
        finally:
            bench.cleanup()
        took = time.monotonic() - started
    text = "\n".join([
        f"Machine: {machine()}.",
        f"Pairs per ratio: {pairs}; the whole run took {took:.0f} s.",
        "", *table(bench), "", *[f"- {n}" for n in bench.notes],
    ])  # fmt: skip
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
