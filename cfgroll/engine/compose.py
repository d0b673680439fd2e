"""Driving the real `docker compose` v2 CLI. All of cfgroll's subprocesses go through `run`.

cfgroll never parses Compose's model itself: it asks `docker compose config --format json`.
It passes the compose files and env files explicitly (`-f`, `--env-file`; chosen by
`cfgroll.project.discovery` as Compose would), so the files it records are the files Compose reads.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cfgroll.errors import CommandFailed, EngineUnreachable, ProjectError

# Compose's default files, in the order it looks for them, each with its override.
DEFAULT_FILES = (
    ("compose.yaml", "compose.override.yaml"),
    ("compose.yml", "compose.override.yml"),
    ("docker-compose.yaml", "docker-compose.override.yaml"),
    ("docker-compose.yml", "docker-compose.override.yml"),
)
CHUNK = 1 << 16  # bytes a stream is copied by


class Source(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


TAIL_LINES = 40
# `docker compose config` runs started ahead of need (`Compose.prefetch`), by their argv
_early: dict[tuple[str, ...], subprocess.Popen[str]] = {}


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str


def _start(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    try:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    except FileNotFoundError:
        raise EngineUnreachable(
            f"`{argv[0]}` is not installed or not on PATH; install Docker with the Compose v2 "
            "plugin (`docker compose version` must work)"
        ) from None


def run(
    argv: Sequence[str],
    cwd: Path,
    on_line: Callable[[str], None] | None = None,
    what: str = "",
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
) -> Result:
    """Run `argv` (a list, never a shell) in `cwd`; raise `CommandFailed` on a non-zero exit.

    With `on_line`, stderr (where Compose writes its progress) is streamed line by line to it
    as it comes; its last lines are kept for the error. stdout is always captured apart, so
    warnings on stderr never end up in data. A run of the same `argv` started ahead by
    `prefetch` is collected instead of starting another. `timeout` (without `on_line`): the
    seconds it may take, after which it is killed and fails. `env`: the environment (default:
    this process's), e.g. one choosing a fleet host's engine.
    """
    proc = (None if env else _early.pop(tuple(argv), None)) or _start(argv, cwd, env)
    if on_line is None:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise CommandFailed(argv, -9, f"killed after {timeout:g}s", what) from None
    else:
        import threading

        out_chunks: list[str] = []
        reader = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()))  # type: ignore[union-attr]
        reader.start()
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        assert proc.stderr is not None
        for line in proc.stderr:
            line = line.rstrip("\n")
            tail.append(line)
            on_line(line)
        proc.wait()
        reader.join()
        stdout, stderr = "".join(out_chunks), "\n".join(tail)
    if proc.returncode in (-signal.SIGINT, 128 + signal.SIGINT):
        # Ctrl-C reached it (the whole process group): this run was interrupted, even when
        # Python swallowed its own KeyboardInterrupt (one landing inside an import's lock)
        raise KeyboardInterrupt
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, stderr, what)
    return Result(stdout, stderr)


_CONFIG = ("config", "--format", "json")


@dataclass(frozen=True)
class Compose:
    """One Compose project: its folder, its compose files, (once known) its name, and the
    env files given with `--env-file` (none: Compose reads the folder's `.env`).

    Which files these are is decided by `cfgroll.project.discovery`."""

    directory: Path
    files: tuple[Path, ...]
    name: str | None = None
    env_files: tuple[Path, ...] = ()

    def argv(self, *args: str) -> list[str]:
        argv = ["docker", "compose", "--project-directory", str(self.directory)]
        for f in self.files:
            argv += ["-f", str(f)]
        for f in self.env_files:
            argv += ["--env-file", str(f)]
        if self.name:
            argv += ["-p", self.name]
        return argv + list(args)

    def run(
        self,
        *args: str,
        on_line: Callable[[str], None] | None = None,
        what: str = "",
        env: Mapping[str, str] | None = None,
    ) -> Result:
        what = what or f"docker compose {args[0]}"
        return run(self.argv(*args), self.directory, on_line, what, env=env)

    def prefetch(self) -> None:
        """Start `docker compose config` now, so that Compose resolves the model (some 0.1 s)
        while cfgroll imports what it needs; `config()` collects it. Best effort: a failure to
        start shows when `config()` runs it again."""
        argv = tuple(self.argv(*_CONFIG))
        if argv not in _early:
            try:
                _early[argv] = _start(argv, self.directory)
            except EngineUnreachable:
                pass

    def config(self) -> dict[str, Any]:
        """Compose's own model of the project (interpolated: holds secrets, never print it)."""
        try:
            out = self.run(*_CONFIG, what="reading the compose files").stdout
        except CommandFailed as exc:
            if "is not a docker command" in exc.stderr:
                raise EngineUnreachable(
                    "the Docker Compose v2 plugin is not installed (`docker compose version` "
                    "fails); install it (Docker Desktop and docker-ce include it)"
                ) from exc
            raise ProjectError(
                f"Compose cannot read this project ({exc.last_line}); fix the compose files "
                "(`docker compose config` shows the problem)"
            ) from exc
        return model_of(out)

    def named(self, name: str) -> Compose:
        return Compose(self.directory, self.files, name, self.env_files)

    def variant(self, files: tuple[Path, ...], name: str, env_files: tuple[Path, ...]) -> Compose:
        """The same folder with other compose and env files and a project name (a release's)."""
        return Compose(self.directory, files, name, env_files)

    def relative(self, path: Path) -> str:
        """`path` relative to the project folder, with `/`; an error when it is outside."""
        try:
            return path.resolve().relative_to(self.directory).as_posix()
        except ValueError:
            raise ProjectError(
                f"{path} is outside the project folder {self.directory}; cfgroll versions only "
                "files inside it: move the file into the project"
            ) from None


def stack_deploy(file: Path, stack: str, cwd: Path, on_line: Callable[[str], None]) -> Result:
    """`docker stack deploy` of the stack file `file` as the stack `stack`: services no longer
    in the file are removed (`--prune`), registry credentials go to the nodes, and images are
    taken as the file pins them (no registry round trip to resolve them again)."""
    argv = ["docker", "stack", "deploy", "--prune", "--with-registry-auth"]
    argv += ["--resolve-image", "never", "-c", str(file), stack]

    def shown(line: str) -> None:
        if not line.startswith(_DETACH_NOTICE):  # cfgroll waits for the tasks itself
            on_line(line)

    for pause in (1.0, 2.0, None):
        try:
            return run(argv, cwd, shown, "docker stack deploy")
        except CommandFailed as exc:
            # Swarm refuses an update while its own one of the same service moves on (a
            # failure action, say): the deploy is whole and idempotent, so it is sent again
            if pause is None or _OUT_OF_SEQUENCE not in exc.stderr:
                raise
            on_line(f"Swarm was updating a service meanwhile; deploying again in {pause:g}s")
            time.sleep(pause)
    raise AssertionError("unreachable")


_OUT_OF_SEQUENCE = "update out of sequence"


# what `docker stack deploy` says about waiting (newer versions can): cfgroll's gate waits
_DETACH_NOTICE = ("Since --detach=false was not specified", "In a future release, --detach=false")


def stack_remove(stack: str, cwd: Path, on_line: Callable[[str], None]) -> Result:
    return run(["docker", "stack", "rm", stack], cwd, on_line, "docker stack rm")


def model_of(out: str) -> dict[str, Any]:
    """Compose's model from `config --format json`. Compose writes `$` as `$$` in it, so that
    it can read the model again; the top-level extensions (`x-cfgroll:`) are not Compose's to
    run: they are read as written."""
    model: dict[str, Any] = json.loads(out)
    for key in [k for k in model if k.startswith("x-")]:
        model[key] = _unescaped(model[key])
    return model


def _unescaped(value: Any) -> Any:
    """`value` with every `$$` of its strings a `$` again."""
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, list):
        return [_unescaped(v) for v in value]
    if isinstance(value, dict):
        return {k: _unescaped(v) for k, v in value.items()}
    return value


def docker(
    args: Sequence[str],
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    what: str = "",
) -> Result:
    """A plain `docker` command (a pull, say), on the engine the environment (`env`, default
    this process's) chooses; `what` names it in an error (default: `docker <command>`)."""
    what = what or f"docker {args[0]}"
    return run(["docker", *args], Path.cwd(), what=what, timeout=timeout, env=env)


def docker_stream(
    args: Sequence[str],
    timeout: float,
    what: str,
    source: Source | None = None,
    sink: Sink | None = None,
) -> None:
    """A `docker` command (an exec) fed from `source` or writing to `sink`, byte for byte in
    chunks (a dump of any size never sits in memory), killed after `timeout` seconds;
    `CommandFailed` with its last stderr lines when it fails or takes longer."""
    import threading

    argv = ["docker", *args]
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if source is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE if sink is not None else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    except FileNotFoundError:
        raise EngineUnreachable("`docker` is not installed or not on PATH") from None
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        proc.kill()

    def read_errors() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            tail.append(line.decode(errors="replace").rstrip("\n"))

    def feed() -> None:
        assert proc.stdin is not None and source is not None
        try:
            while chunk := source.read(CHUNK):
                proc.stdin.write(chunk)
        except (BrokenPipeError, OSError):
            pass  # the command stopped reading: its exit code says why
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass

    timer = threading.Timer(timeout, kill)
    helpers = [threading.Thread(target=read_errors, daemon=True)]
    if source is not None:
        helpers.append(threading.Thread(target=feed, daemon=True))
    timer.start()
    for helper in helpers:
        helper.start()
    try:
        if sink is not None:
            assert proc.stdout is not None
            while chunk := proc.stdout.read(CHUNK):
                sink.write(chunk)
        proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        timer.cancel()
        for helper in helpers:
            helper.join(timeout=5)
    if killed.is_set():
        raise CommandFailed(argv, -9, f"killed after {timeout:g} s", what)
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, "\n".join(tail), what)
