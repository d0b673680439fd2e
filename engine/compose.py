"""Driving the real `docker compose` v2 CLI. All of cfgroll's subprocesses go through `run`.

cfgroll never parses Compose's model itself: it asks `docker compose config --format json`.
It does choose the compose files (as Compose would: `-f`, `COMPOSE_FILE`, or the default file
and its override) and always passes them with `-f`, so that the files it records are exactly
the files Compose reads. The one thing Compose's JSON does not say is which `env_file:`s a
service reads (it inlines their values), so those paths are read from the compose files.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfgroll.errors import CommandFailed, EngineUnreachable, ProjectError

# Compose's default files, in the order it looks for them, each with its override.
DEFAULT_FILES = (
    ("compose.yaml", "compose.override.yaml"),
    ("compose.yml", "compose.override.yml"),
    ("docker-compose.yaml", "docker-compose.override.yaml"),
    ("docker-compose.yml", "docker-compose.override.yml"),
)
TAIL_LINES = 40


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str


def run(
    argv: Sequence[str],
    cwd: Path,
    on_line: Callable[[str], None] | None = None,
    what: str = "",
) -> Result:
    """Run `argv` (a list, never a shell) in `cwd`; raise `CommandFailed` on a non-zero exit.

    With `on_line`, stderr (where Compose writes its progress) is streamed line by line to it
    as it comes; its last lines are kept for the error. stdout is always captured apart, so
    warnings on stderr never end up in data.
    """
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
    except FileNotFoundError:
        raise EngineUnreachable(
            f"`{argv[0]}` is not installed or not on PATH; install Docker with the Compose v2 "
            "plugin (`docker compose version` must work)"
        ) from None
    if on_line is None:
        stdout, stderr = proc.communicate()
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
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, stderr, what)
    return Result(stdout, stderr)


@dataclass(frozen=True)
class Compose:
    """One Compose project: its folder, its compose files and (once known) its name."""

    directory: Path
    files: tuple[Path, ...]
    name: str | None = None

    @classmethod
    def locate(cls, directory: Path, files: Sequence[str] = (), name: str | None = None) -> Compose:
        """The project in `directory` with the compose files Compose would read there."""
        directory = directory.resolve()
        if not directory.is_dir():
            raise ProjectError(f"project directory {directory} does not exist")
        chosen = [directory / f for f in files]
        if not chosen and os.environ.get("COMPOSE_FILE"):
            sep = os.environ.get("COMPOSE_PATH_SEPARATOR", os.pathsep)
            chosen = [directory / f for f in os.environ["COMPOSE_FILE"].split(sep) if f]
        if not chosen:
            for base, override in DEFAULT_FILES:
                if (directory / base).is_file():
                    chosen = [directory / base]
                    if (directory / override).is_file():
                        chosen.append(directory / override)
                    break
        if not chosen:
            raise ProjectError(
                f"no compose file in {directory} (looked for compose.yaml, docker-compose.yml "
                "and their variants); run cfgroll in the project folder, or pass -C DIR or -f FILE"
            )
        for f in chosen:
            if not f.is_file():
                raise ProjectError(f"compose file {f} does not exist")
        name = name or os.environ.get("COMPOSE_PROJECT_NAME") or None
        return cls(directory, tuple(f.resolve() for f in chosen), name)

    def argv(self, *args: str) -> list[str]:
        argv = ["docker", "compose", "--project-directory", str(self.directory)]
        for f in self.files:
            argv += ["-f", str(f)]
        if self.name:
            argv += ["-p", self.name]
        return argv + list(args)

    def run(
        self, *args: str, on_line: Callable[[str], None] | None = None, what: str = ""
    ) -> Result:
        return run(self.argv(*args), self.directory, on_line, what or f"docker compose {args[0]}")

    def config(self) -> dict[str, Any]:
        """Compose's own model of the project (interpolated: holds secrets, never print it)."""
        try:
            out = self.run("config", "--format", "json", what="reading the compose files").stdout
        except CommandFailed as exc:
            raise ProjectError(
                f"Compose cannot read this project ({exc.last_line}); fix the compose files "
                "(`docker compose config` shows the problem)"
            ) from exc
        model: dict[str, Any] = json.loads(out)
        return model

    def named(self, name: str) -> Compose:
        return Compose(self.directory, self.files, name)

    def relative(self, path: Path) -> str:
        """`path` relative to the project folder, with `/`; an error when it is outside."""
        try:
            return path.resolve().relative_to(self.directory).as_posix()
        except ValueError:
            raise ProjectError(
                f"{path} is outside the project folder {self.directory}; cfgroll versions only "
                "files inside it: move the file into the project"
            ) from None

    def env_files(self, services: Sequence[str]) -> list[Path]:
        """The `env_file:`s the given services read (those that exist)."""
        import yaml

        found: list[Path] = []
        for compose_file in self.files:
            try:
                doc = yaml.safe_load(compose_file.read_text()) or {}
            except yaml.YAMLError:
                continue  # Compose itself accepted the file; nothing of ours to add
            for name, svc in (doc.get("services") or {}).items():
                if name not in services or not isinstance(svc, dict):
                    continue
                entries = svc.get("env_file") or []
                for e in [entries] if isinstance(entries, (str, dict)) else entries:
                    raw = e.get("path") if isinstance(e, dict) else e
                    if not isinstance(raw, str):
                        continue
                    path = Path(raw) if Path(raw).is_absolute() else self.directory / raw
                    if path.is_file() and path not in found:
                        found.append(path)
        return found
