"""The fleet's words in `x-cfgroll:` (issue 38): `hosts:` names the hosts one release goes to,
`fleet:` how it goes (the canary group first, then waves). Each value is checked here, with a
one-line `ProjectError` naming the key and showing an example, as `settings_fields` does for the
rest of the block."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cfgroll.engine.refs import names_registry
from cfgroll.errors import ProjectError
from cfgroll.settings_fields import KEY, seconds

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
REGISTRY = re.compile(r"[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*/?")
SCHEMES = ("ssh://", "tcp://", "unix://", "npipe://")
HOSTS_EXAMPLE = (
    "e.g. `hosts: [{name: a, endpoint: ssh://deploy@a.example, groups: [canary]}, "
    "{name: b, endpoint: b-context, env_file: hosts/b.env}]`"
)
FLEET_EXAMPLE = "e.g. `fleet: {canary: canary, parallel: 2, soak: 30, all_or_nothing: true}`"


@dataclass(frozen=True)
class Host:
    """One host of the fleet: its name (in the store's refs and in messages), its engine (a
    docker context's name, or an `ssh://`, `tcp://` or `unix://` address), its groups, and its
    own env file (read after the project's, so its values win on that host)."""

    name: str
    endpoint: str
    groups: tuple[str, ...] = ()
    env_file: str = ""  # project-relative: this host's additions to the project's env files


@dataclass(frozen=True)
class FleetRollout:
    """How a release goes to the hosts: the group that goes first (each of its hosts at once,
    then `soak` seconds of watching), then the rest, `parallel` at a time; with
    `all_or_nothing`, a failure anywhere takes every host back to the release before."""

    canary: str = "canary"
    parallel: int = 1
    soak: float = 0.0
    all_or_nothing: bool = True
    registry: str = ""  # `registry:5000/team`: images go through it by digest; "": engine to engine


def env_files_on(
    host: Host | None, directory: Path, base: Sequence[str | Path]
) -> tuple[Path, ...]:
    """The env files Compose reads on `host` (None: one engine) for a project in `directory`
    whose own are `base` (none: its `.env`, when there is one): those, then the host's
    `env_file:`."""
    files = [Path(f) if Path(f).is_absolute() else directory / f for f in base]
    if host is None or not host.env_file:
        return tuple(files)
    if not files and (directory / ".env").is_file():
        files.append(directory / ".env")
    return (*files, directory / host.env_file)


def hosts(block: Mapping[str, Any]) -> tuple[Host, ...]:
    value = block.get("hosts")
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise ProjectError(f"`{KEY}: hosts:` must be a list of hosts, {HOSTS_EXAMPLE}")
    found: list[Host] = []
    for i, item in enumerate(value, 1):
        where = f"`{KEY}: hosts:` entry {i}"
        if not isinstance(item, Mapping) or set(item) - {"name", "endpoint", "groups", "env_file"}:
            raise ProjectError(
                f"{where} takes `name`, `endpoint`, `groups` and `env_file`, {HOSTS_EXAMPLE}"
            )
        name, endpoint = item.get("name"), item.get("endpoint")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ProjectError(
                f"{where}: `name:` must be lower-case letters, digits and dashes, {HOSTS_EXAMPLE}"
            )
        if name in {h.name for h in found}:
            raise ProjectError(f"`{KEY}: hosts:` names {name} twice")
        if (
            not isinstance(endpoint, str)
            or not endpoint.strip()
            or ("://" in endpoint and not endpoint.startswith(SCHEMES))
        ):
            raise ProjectError(
                f"{where} ({name}): `endpoint:` must be a docker context's name or an ssh://, "
                f"tcp:// or unix:// address, {HOSTS_EXAMPLE}"
            )
        groups = item.get("groups") or []
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, list) or not all(
            isinstance(g, str) and NAME.fullmatch(g) for g in groups
        ):
            raise ProjectError(f"{where} ({name}): `groups:` must be a list of names")
        env_file = item.get("env_file") or ""
        if (
            not isinstance(env_file, str)
            or PurePosixPath(env_file).is_absolute()
            or (".." in PurePosixPath(env_file).parts)
        ):
            raise ProjectError(
                f"{where} ({name}): `env_file:` must be a path inside the project, "
                "e.g. `env_file: hosts/a.env`"
            )
        found.append(Host(name, endpoint.strip(), tuple(groups), env_file))
    return tuple(found)


def fleet(block: Mapping[str, Any]) -> FleetRollout:
    value = block.get("fleet")
    if value is None:
        return FleetRollout(registry=registry(block))
    keys = {"canary", "parallel", "soak", "all_or_nothing"}
    if not isinstance(value, Mapping) or set(value) - keys:
        raise ProjectError(
            f"`{KEY}: fleet:` takes `canary`, `parallel`, `soak` and `all_or_nothing`, "
            f"{FLEET_EXAMPLE}"
        )
    canary = value.get("canary", "canary")
    if not isinstance(canary, str) or not NAME.fullmatch(canary):
        raise ProjectError(f"`{KEY}: fleet: canary:` must be a group's name, {FLEET_EXAMPLE}")
    parallel = value.get("parallel", 1)
    if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
        raise ProjectError(f"`{KEY}: fleet: parallel:` must be 1 or more, {FLEET_EXAMPLE}")
    whole = value.get("all_or_nothing", True)
    if not isinstance(whole, bool):
        raise ProjectError(f"`{KEY}: fleet: all_or_nothing:` must be true or false")
    soak = seconds(dict(value), "soak")
    return FleetRollout(canary, parallel, soak or 0.0, whole, registry(block))


def registry(block: Mapping[str, Any]) -> str:
    """`registry:`: the repository prefix a fleet's images are pushed under (`host:port/team`,
    `registry.example.com/team`), "" without one."""
    value = block.get("registry")
    if value is None:
        return ""
    if (
        not isinstance(value, str)
        or not REGISTRY.fullmatch(value)
        or not names_registry(value + "/x")
    ):
        raise ProjectError(
            f"`{KEY}: registry:` must name a registry and a path in it, lower-case, without a "
            f"tag, e.g. `registry: registry.example.com:5000/team`"
        )
    return value.rstrip("/")
