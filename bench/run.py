#!/usr/bin/env python3
"""cfgroll's benchmarks: what a release costs, against raw Compose and the old copy scripts.

    python bench/run.py [--runs 5] [--scales 100,1000,10000] [--out docs/performance.md]

Needs `cfgroll` installed (the README's first command), a Docker engine and busybox-static.
Everything runs on one small project (web with a healthcheck, api, worker; built from a local
busybox base) under a unique Compose project name, removed afterwards. Each figure is the
median of --runs runs, with min and max. Not part of the test suite: no timed assertions live
in tests.
"""

from __future__ import annotations

import argparse
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
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BASE = "cfgroll-example-base:latest"
SERVICES = ("web", "api", "worker")

COMPOSE = """\
name: {name}
services:
  web:
    build: .
    init: true
    environment: {{GREETING: "${{GREETING}}"}}
    command: ["sh", "-c", "echo \\"$$GREETING\\" > /www/index.html && exec httpd -f -p 8080 -h /www"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:8080/"]
      interval: 1s
      retries: 5
  api:
    build: .
    init: true
    environment: {{GREETING: "${{GREETING}}"}}
    command: ["sleep", "3600"]
  worker:
    build: .
    init: true
    command: ["sleep", "3600"]
"""


def sh(argv: Sequence[str], cwd: Path | None = None, **kw: object) -> str:
    return subprocess.run(
        list(argv), cwd=cwd, check=True, capture_output=True, text=True, **kw
    ).stdout  # type: ignore[call-overload, no-any-return]


class Run:
    """One timed command, with the time each stderr line arrived (for cfgroll's phases)."""

    def __init__(self, argv: Sequence[str], cwd: Path) -> None:
        start = time.monotonic()
        proc = subprocess.Popen(list(argv), cwd=cwd, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        self.lines: list[tuple[float, str]] = []
        assert proc.stderr is not None
        for line in proc.stderr:
            self.lines.append((time.monotonic() - start, line.rstrip()))
        proc.wait()
        self.seconds = time.monotonic() - start
        if proc.returncode != 0:
            tail = "\n".join(text for _, text in self.lines[-15:])
            raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{tail}")

    def at(self, prefix: str) -> float:
        return next(t for t, text in self.lines if text.startswith(prefix))


def timed(fn: Callable[[], object]) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def stats(values: Sequence[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def fmt(values: Sequence[float], unit: str = "s") -> str:
    med, lo, hi = stats(values)
    if unit == "ms":
        return f"{med * 1000:.0f} ms ({lo * 1000:.0f}–{hi * 1000:.0f})"
    return f"{med:.2f} s ({lo:.2f}–{hi:.2f})"


class Bench:
    def __init__(self, runs: int, work: Path) -> None:
        self.runs = runs
        self.work = work
        self.name = f"cfgbench{uuid.uuid4().hex[:6]}"
        self.proj = work / "proj"
        self.cfgroll = shutil.which("cfgroll") or sys.exit("cfgroll is not on PATH")
        self.rows: list[tuple[str, str, str, str]] = []
        self.notes: list[str] = []
        self.version = 0

    # -- the project ------------------------------------------------------------------------

    def setup(self) -> None:
        sh(["bash", str(REPO / "examples" / "make-base-image.sh")])
        self.proj.mkdir(parents=True)
        (self.proj / "compose.yaml").write_text(COMPOSE.format(name=self.name))
        self.change(image=True)

    def change(self, image: bool = False) -> None:
        """A new version: a new line in .env (and a new image for every service)."""
        self.version += 1
        (self.proj / ".env").write_text(
            f"GREETING=v{self.version}\nDB_PASSWORD=pw-{self.version}\n"
        )
        if image:
            (self.proj / "Dockerfile").write_text(
                f"FROM {BASE}\nRUN mkdir -p /www && echo {self.version} > /version\n"
            )

    def cfg(self, *args: str) -> Run:
        return Run([self.cfgroll, *args], self.proj)

    def compose(self, *args: str) -> Run:
        return Run(["docker", "compose", *args], self.proj)

    def cleanup(self) -> None:
        subprocess.run(["docker", "compose", "-p", self.name, "down", "-t", "1"],
                       capture_output=True)  # fmt: skip
        images = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}",
                                 "--filter", f"reference={self.name}*"],
                                capture_output=True, text=True).stdout.split()  # fmt: skip
        images += subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}",
                                  "--filter", "reference=*:oldbackup_*"],
                                 capture_output=True, text=True).stdout.split()  # fmt: skip
        if images:
            subprocess.run(["docker", "rmi", "-f", *images], capture_output=True)

    # -- 1 and 2: deploys ---------------------------------------------------------------------

    def deploys(self) -> None:
        self.cfg("deploy", "--settle", "0")  # the store exists; caches are warm
        raw, total, gate, own, verified = [], [], [], [], []
        for _ in range(self.runs):
            self.change(image=True)
            raw.append(self.compose("build").seconds + self.compose("up", "-d").seconds)
            self.change(image=True)
            run = self.cfg("deploy", "--settle", "0")
            building = run.at("==> building")
            waiting = run.at("==> waiting")
            recording = run.at("==> recording")
            total.append(run.seconds)
            gate.append(recording - waiting)
            # cfgroll's own steps: start-up and config resolution before the build, and
            # recording (tags, commit, tag) after the gate
            own.append(building + (run.seconds - recording))
        overhead = [t - g - r for t, g, r in zip(total, gate, raw, strict=True)]
        self.rows += [
            ("1. deploy: `docker compose build` + `up -d`", fmt(raw), "", ""),
            ("1. deploy: `cfgroll deploy --settle 0`, health wait excluded",
             fmt([t - g for t, g in zip(total, gate, strict=True)]), "", ""),
            ("1. deploy: overhead over Compose", fmt(overhead),
             f"{statistics.median(total) / statistics.median(raw):.2f}× with the gate", "≤ 0.3 s"),
            ("1. deploy: cfgroll's own steps (start-up, config, record, tag)", fmt(own), "", ""),
            ("1. deploy: the health wait inside it", fmt(gate), "", ""),
        ]  # fmt: skip
        for _ in range(max(2, self.runs // 2)):
            self.change(image=True)
            verified.append(self.cfg("deploy").seconds)  # default --settle 3
        old = []
        for _ in range(max(2, self.runs // 2)):
            self.change(image=True)
            start = time.monotonic()
            self.compose("build")
            self.compose("up", "-d")
            time.sleep(10)  # the old script's fixed wait
            sh(["docker", "compose", "ps", "--format", "json"], self.proj)
            old.append(time.monotonic() - start)
        self.rows += [
            ("2. verified deploy: old script (build, up, `sleep 10`, `ps`)", fmt(old), "", ""),
            ("2. verified deploy: `cfgroll deploy` (gate, default --settle 3)", fmt(verified),
             f"{statistics.median(verified) / statistics.median(old):.2f}×", "faster, and checked"),
        ]  # fmt: skip

    # -- 3: rollback ----------------------------------------------------------------------------

    def rollbacks(self) -> None:
        old, ours, ours_gate = [], [], []
        for i in range(self.runs):
            # the old way: back up files and images of X, deploy Y, copy and retag back, up
            self.change(image=True)
            self.compose("build")
            self.compose("up", "-d")
            backup = self.proj / ".backup" / f"b{i}"
            backup.mkdir(parents=True)
            for f in ("compose.yaml", ".env"):
                shutil.copy2(self.proj / f, backup / f)
            for s in SERVICES:
                sh(["docker", "tag", f"{self.name}-{s}", f"{self.name}-{s}:oldbackup_{i}"])
            self.change(image=True)
            self.compose("build")
            self.compose("up", "-d")

            def old_rollback(backup: Path = backup, i: int = i) -> None:
                for f in ("compose.yaml", ".env"):
                    shutil.copy2(backup / f, self.proj / f)
                for s in SERVICES:
                    sh(["docker", "tag", f"{self.name}-{s}:oldbackup_{i}", f"{self.name}-{s}"])
                sh(["docker", "compose", "up", "-d"], self.proj)

            old.append(timed(old_rollback))
            # cfgroll: deploy X, deploy Y, roll back to X
            self.change(image=True)
            self.cfg("deploy", "--settle", "0")
            self.change(image=True)
            self.cfg("deploy", "--settle", "0")
            run = self.cfg("rollback", "previous", "--yes", "--settle", "0")
            ours.append(run.seconds)
            ours_gate.append(run.at("==> recording") - run.at("==> waiting"))
        without_gate = [t - g for t, g in zip(ours, ours_gate, strict=True)]
        ratio = statistics.median(without_gate) / statistics.median(old)
        self.rows += [
            ("3. rollback: old way (copy files back, `docker tag` ×3, `up -d`)", fmt(old), "", ""),
            ("3. rollback: `cfgroll rollback --settle 0`, health wait excluded", fmt(without_gate),
             f"{ratio:.2f}×", "≤ 1.1×"),
            ("3. rollback: the health wait inside it (web's healthcheck)", fmt(ours_gate), "", ""),
        ]  # fmt: skip

    # -- 4 and 5: history scale, store size -------------------------------------------------------

    def history(self, scales: Sequence[int]) -> None:
        from cfgroll.store.files import FileData
        from cfgroll.store.manifest import Layout, Manifest, ServiceRecord
        from cfgroll.store.repo import Store

        compose = (self.proj / "compose.yaml").read_bytes()
        t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
        layout = Layout({".env": "env", "compose.yaml": "compose"}, ("compose.yaml",))
        services = {s: ServiceRecord(f"{self.name}-{s}", "sha256:" + "0" * 64,
                                     f"{self.name}-{s}:x") for s in SERVICES}  # fmt: skip
        for n in scales:
            path = self.work / f"store-{n}.git"
            store, _ = Store.create(path)
            build = time.monotonic()
            parent = None
            tags = []
            bulk = n > 1000  # the largest store is written loose and packed once at the end
            for i in range(n + 20):
                if i == n:
                    if bulk:
                        store.pack()
                    built = time.monotonic() - build
                    extra = time.monotonic()
                moment = t0 + timedelta(seconds=i)
                tag = "backup_" + moment.strftime("%Y%m%d_%H%M%S")
                env = f"GREETING=v{i}\nDB_PASSWORD=secret\nRELEASE={i}\n".encode()
                m = Manifest(tag=tag, action="deploy", project=self.name, created_at=moment,
                             host="bench", user="bench", cfgroll_version="bench", result="ok",
                             layout=layout, services=services,
                             services_changed=("web",))  # fmt: skip
                files = {"compose.yaml": FileData(compose), ".env": FileData(env)}
                parent = store.record(files, m, "deploy: web\n", parent, on_main=True,
                                      pack=not bulk or i >= n).commit  # fmt: skip
                tags.append(tag)
            per_release = (time.monotonic() - extra) / 20
            args = ["--store", str(path)]
            a, b = tags[n // 3], tags[2 * n // 3]
            log = [self.cfg("log", "-n", "20", *args).seconds for _ in range(self.runs)]
            show = [self.cfg("show", a, *args).seconds for _ in range(self.runs)]
            diff = [self.cfg("diff", a, b, *args).seconds for _ in range(self.runs)]
            self.rows += [
                (f"4. history, {n:,} releases: `cfgroll log -n 20`", fmt(log, "ms"), "", "< 300 ms"),
                (f"4. history, {n:,} releases: `cfgroll show`", fmt(show, "ms"), "", "< 300 ms"),
                (f"4. history, {n:,} releases: `cfgroll diff A B`", fmt(diff, "ms"), "", "< 300 ms"),
            ]  # fmt: skip
            how = (
                "written loose, packed once at the end"
                if bulk
                else "each release packed as written"
            )
            self.notes.append(
                f"{n:,}-release store built through the store API in {built:.1f} s "
                f"({how}); recording 20 more releases on it cost "
                f"{per_release * 1000:.0f} ms each (git objects, refs, packing)"
            )
            if n == 1000:
                self.store_size(path, compose, n + 20)

    def store_size(self, store: Path, compose: bytes, n: int) -> None:
        copies = self.work / "backup-copies"
        for i in range(n):
            d = copies / f"2026010{i // 100000}_{i:06d}"
            d.mkdir(parents=True)
            (d / "docker-compose.yml").write_bytes(compose)
            (d / ".env").write_text(f"GREETING=v{i}\nDB_PASSWORD=secret\nRELEASE={i}\n")
        ours, theirs = du(store), du(copies)
        image = f"{self.name}-web"
        save = subprocess.run(f"docker save {image} | gzip -c | wc -c", shell=True,  # noqa: S602 - fixed argv, bench only
                              check=True, capture_output=True, text=True).stdout  # fmt: skip
        per_release = int(save) * len(SERVICES)
        self.rows += [
            (f"5. store size, {n:,} releases: the bare store (disk use)", f"{ours / 1024:.0f} KiB",
             f"{ours / theirs * 100:.1f}% of the copies", "≤ 5%"),
            (f"5. store size: {n:,} `.backup/<ts>/` copies (disk use)", f"{theirs / 1024:.0f} KiB", "", ""),
            (f"5. store size: `docker save | gzip` ×{n:,} (estimate from one save ×3 images)",
             f"{per_release * n / 2**30:.2f} GiB", "estimate", ""),
        ]  # fmt: skip

    # -- 6: start-up ------------------------------------------------------------------------------

    def startup(self) -> None:
        runs = max(self.runs, 10)
        help_ = [timed(lambda: sh([self.cfgroll, "--help"])) for _ in range(runs)]
        log = [timed(lambda: sh([self.cfgroll, "log"], self.proj)) for _ in range(runs)]
        self.rows += [
            ("6. start-up: `cfgroll --help`", fmt(help_, "ms"), "", "≤ 250 ms"),
            (f"6. start-up: `cfgroll log` ({len(sh([self.cfgroll, 'log'], self.proj).splitlines()) - 1} releases)",
             fmt(log, "ms"), "", "≤ 250 ms"),
        ]  # fmt: skip


def du(path: Path) -> int:
    """Bytes of disk used (blocks), as `du -s` counts them."""
    return int(sh(["du", "-sk", str(path)]).split()[0]) * 1024


def machine() -> str:
    def first(argv: list[str]) -> str:
        try:
            return sh(argv).strip().splitlines()[0]
        except (OSError, subprocess.CalledProcessError):
            return "?"

    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}; "
        f"Python {platform.python_version()}; Docker engine "
        f"{first(['docker', 'version', '--format', '{{.Server.Version}}'])}, Compose "
        f"{first(['docker', 'compose', 'version', '--short'])}; git "
        f"{first(['git', '--version']).split()[-1]}; cfgroll {first(['cfgroll', '--version']).split()[-1]}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scales", default="100,1000,10000")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cfgroll-bench-") as tmp:
        bench = Bench(args.runs, Path(tmp))
        started = time.monotonic()
        try:
            bench.setup()
            for step in (bench.deploys, bench.rollbacks, bench.startup):
                print(f"bench: {step.__name__}…", file=sys.stderr)
                step()
            print("bench: history…", file=sys.stderr)
            bench.history([int(s) for s in args.scales.split(",")])
        finally:
            bench.cleanup()
        took = time.monotonic() - started
    table = ["| measure | median (min–max) | ratio | goal |", "|---|---|---|---|"]
    table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in bench.rows]
    text = "\n".join(
        [f"Machine: {machine()}.", f"Runs per figure: {args.runs}; the whole run took {took:.0f} s.", "",
         *table, "", *[f"- {n}" for n in bench.notes]]
    )  # fmt: skip
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
