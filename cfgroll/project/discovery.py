"""Which compose files and env files make up the project, chosen as Compose chooses them.

cfgroll always passes the files to Compose explicitly (`-f`, `--env-file`), so the files it
records are exactly the files Compose reads. Precedence, as in `docker compose`: `-f` flags,
then `COMPOSE_FILE` from the environment, then `COMPOSE_FILE` from the project's env file
(`.env`, or the `--env-file`s), then the default file and its override.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from cfgroll.engine.compose import DEFAULT_FILES, Compose
from cfgroll.errors import ProjectError
from cfgroll.store.secrets import parse_env, text_of


def _holding_a_compose_file(start: Path) -> Path | None:
    """The first of `start` and its parents with one of Compose's default files."""
    for folder in (start, *start.parents):
        if any((folder / base).is_file() for base, _override in DEFAULT_FILES):
            return folder
    return None


def locate(
    directory: Path,
    files: Sequence[str] = (),
    name: str | None = None,
    env_files: Sequence[str] = (),
    walk: bool = False,
) -> Compose:
    """The project in `directory` with the compose and env files Compose would read there.

    `files` and `env_files` are relative to the project folder (or absolute). `walk` (no `-C`
    given): as Compose does, the project is the first folder from `directory` up that holds a
    compose file, unless `-f` or `COMPOSE_FILE` names the files."""
    directory = directory.resolve()
    if not directory.is_dir():
        raise ProjectError(f"project directory {directory} does not exist")
    if walk and not files and not os.environ.get("COMPOSE_FILE"):
        directory = _holding_a_compose_file(directory) or directory
    if not env_files and os.environ.get("COMPOSE_ENV_FILES"):
        env_files = [f for f in os.environ["COMPOSE_ENV_FILES"].split(",") if f]
    chosen_env = tuple((directory / f).resolve() for f in env_files)
    for f in chosen_env:
        if not f.is_file():
            raise ProjectError(f"env file {f} does not exist (given with --env-file)")
    env = project_env(directory, chosen_env)
    chosen = [directory / f for f in files]
    if not chosen and env.get("COMPOSE_FILE"):
        sep = env.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        chosen = [directory / f for f in env["COMPOSE_FILE"].split(sep) if f]
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
    return Compose(directory, tuple(f.resolve() for f in chosen), name, chosen_env)


def project_env(directory: Path, env_files: Sequence[Path] = ()) -> dict[str, str]:
    """The variables Compose interpolates with: the env files (`.env` when none is given),
    later files first, overridden by the process environment."""
    values: dict[str, str] = {}
    for f in env_files or [directory / ".env"]:
        values.update(read_env(f))
    values.update(os.environ)
    return values


def read_env(path: Path) -> dict[str, str]:
    """The variables of an env file, read as Compose reads them; empty when it cannot be
    read."""
    try:
        text = text_of(path.read_bytes())
    except OSError:
        return {}
    return parse_env(text)


_VAR = re.compile(r"\$(?:\$|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}` and `$$` as Compose reads them
    (for the few paths cfgroll reads from the YAML itself)."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        expr = m.group(1) if m.group(1) is not None else m.group(2)
        for op in (":-", "-", ":?", "?", ":+", "+"):
            if op in expr:
                var, arg = expr.split(op, 1)
                value = env.get(var)
                if op == ":-":
                    return value if value else arg
                if op == "-":
                    return value if value is not None else arg
                if op in (":+", "+"):
                    return arg if (value if op == ":+" else value is not None) else ""
                return value or ""
        return env.get(expr, "")

    return _VAR.sub(one, text)
