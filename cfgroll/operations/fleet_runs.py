"""One cfgroll run on one host of a fleet (issue 38): the fleet starts `cfgroll deploy` or
`cfgroll rollback` again for each host, in a process of its own whose environment chooses the
host's engine (as `--context` does: Compose, the docker CLI and the hooks follow it) and names
the host (its live release is `refs/hosts/<name>`), under the lock the fleet holds. Each such
run is the whole single-host transaction: checks, gate, `check` hook, its own automatic
rollback. Its output reaches the fleet's reporter line by line, prefixed with the host."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cfgroll.context import HOST_ENV, RELEASE_ENV, STORE_ENV, Context
from cfgroll.engine.hosts import environment
from cfgroll.errors import EXIT_ERROR, EXIT_ROLLED_BACK, EXIT_USAGE
from cfgroll.fleet_fields import Host, env_files_on
from cfgroll.store.lock import HOLDER_ENV

ERROR_PREFIX = "error: "


@dataclass(frozen=True)
class Ran:
    """How a host's run ended: its exit code and its error line (without `error: `)."""

    code: int
    error: str = ""

    @property
    def rolled_back(self) -> bool:
        """It failed and put back what ran before (exit 3)."""
        return self.code == EXIT_ROLLED_BACK

    @property
    def refused(self) -> bool:
        """It stopped before changing anything (exit 1 or 2)."""
        return self.code in (EXIT_ERROR, EXIT_USAGE)


@dataclass
class Runs:
    """The host runs under way, so that a Ctrl-C reaches each of them (each then rolls its
    host back, as a Ctrl-C does to a single deploy)."""

    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def interrupt(self) -> None:
        with self.lock:
            for proc in self.running.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)


@dataclass(frozen=True)
class Where:
    """The project a host's run works on: the project folder itself, or a copy of a release's
    files (`.cfgroll/hosts/<name>/`) with the release's compose files, env files and name."""

    directory: Path
    files: Sequence[str | Path] = ()
    env_files: Sequence[str | Path] = ()
    name: str | None = None


def here(ctx: Context, host: Host) -> Where:
    """The project folder itself, as Compose reads it on `host` (its env file added)."""
    c = ctx.compose
    return Where(c.directory, c.files, env_files_on(host, c.directory, c.env_files), c.name)


def argv(ctx: Context, command: Sequence[str], where: Where) -> list[str]:
    """`cfgroll COMMAND` on the project `where`, this run's store and command-line settings."""
    f = ctx.flags
    line = [sys.executable, "-m", "cfgroll", *command, "--project-dir", str(where.directory)]
    for path in where.files:
        line += ["--file", str(path)]
    for path in where.env_files:
        line += ["--env-file", str(path)]
    if where.name:
        line += ["--project-name", where.name]
    for flag, value in (
        ("--timeout", f.timeout),
        ("--settle", f.settle),
        ("--hook-timeout", f.hook_timeout),
        ("--drain", f.drain),
        ("--rollout", f.rollout),
    ):
        if value is not None:
            line += [flag, str(value)]
    if f.no_hooks:
        line.append("--no-hooks")
    return line


def for_host(ctx: Context, host: Host) -> dict[str, str]:
    """The environment of a run for `host`: its engine chosen, its name, this run's store."""
    env = environment(host.endpoint)
    return env | {HOST_ENV: host.name, STORE_ENV: str(ctx.store_path), "PYTHONUNBUFFERED": "1"}


@dataclass(frozen=True)
class Answer:
    """What a host's run that changes nothing (a dry run) printed, and how it ended."""

    code: int
    out: str
    error: str = ""


def ask(ctx: Context, host: Host, command: Sequence[str], where: Where) -> Answer:
    """Run `cfgroll COMMAND` (one that changes nothing) for `host`; what it printed."""
    done = subprocess.run(
        argv(ctx, command, where),
        cwd=where.directory,
        env=for_host(ctx, host),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    lines = done.stderr.splitlines()
    errors = [line[len(ERROR_PREFIX) :] for line in lines if line.startswith(ERROR_PREFIX)]
    return Answer(done.returncode, done.stdout, errors[-1] if errors else "")


def run(
    ctx: Context, host: Host, command: Sequence[str], release: str, where: Where, runs: Runs
) -> Ran:
    """Run `cfgroll COMMAND` for `host`, recording (or joining) the release `release`; its
    output goes to the reporter as `[host] line`."""
    env = for_host(ctx, host) | {RELEASE_ENV: release, HOLDER_ENV: str(os.getpid())}
    proc = subprocess.Popen(
        argv(ctx, command, where),
        cwd=where.directory,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=sys.platform != "win32",  # Ctrl-C reaches the fleet; it tells each once
    )
    with runs.lock:
        runs.running[host.name] = proc
    errors: deque[str] = deque(maxlen=1)
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            if line.startswith(ERROR_PREFIX):
                errors.append(line[len(ERROR_PREFIX) :])
            ctx.reporter.output(f"[{host.name}] {line}")
        code = proc.wait()
    finally:
        with runs.lock:
            runs.running.pop(host.name, None)
    if code < 0:
        return Ran(code, f"stopped by signal {-code}")
    return Ran(code, errors[-1] if errors else ("" if code == 0 else f"exit {code}"))
