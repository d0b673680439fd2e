"""The fleet's words in `x-cfgroll:` (issue 38): `hosts:` names the hosts one release goes to,
`fleet:` how it goes (the canary group first, then waves). Each value is checked here, with a
one-line `ProjectError` naming the key and showing an example, as `settings_fields` does for the
rest of the block."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cfgroll.errors import ProjectError
from cfgroll.settings_fields import KEY, seconds

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
SCHEMES = ("ssh://", "tcp://", "unix://", "npipe://")
HOSTS_EXAMPLE = (
    "e.g. `hosts: [{name: a, endpoint: ssh://deploy@a.example, groups: [canary]}, "
    "{name: b, endpoint: b-context}]`"
)
FLEET_EXAMPLE = "e.g. `fleet: {canary: canary, parallel: 2, soak: 30, all_or_nothing: true}`"


@dataclass(frozen=True)
class Host:
    """One host of the fleet: its name (in the store's refs and in messages), its engine (a
    docker context's name, or an `ssh://`, `tcp://` or `unix://` address) and its groups."""

    name: str
    endpoint: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class FleetRollout:
    """How a release goes to the hosts: the group that goes first (each of its hosts at once,
    then `soak` seconds of watching), then the rest, `parallel` at a time; with
    `all_or_nothing`, a failure anywhere takes every host back to the release before."""

    canary: str = "canary"
    parallel: int = 1
    soak: float = 0.0
    all_or_nothing: bool = True


def hosts(block: Mapping[str, Any]) -> tuple[Host, ...]:
    value = block.get("hosts")
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise ProjectError(f"`{KEY}: hosts:` must be a list of hosts, {HOSTS_EXAMPLE}")
    found: list[Host] = []
    for i, item in enumerate(value, 1):
        where = f"`{KEY}: hosts:` entry {i}"
        if not isinstance(item, Mapping) or set(item) - {"name", "endpoint", "groups"}:
            raise ProjectError(f"{where} takes `name`, `endpoint` and `groups`, {HOSTS_EXAMPLE}")
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
        found.append(Host(name, endpoint.strip(), tuple(groups)))
    return tuple(found)


def fleet(block: Mapping[str, Any]) -> FleetRollout:
    value = block.get("fleet")
    if value is None:
        return FleetRollout()
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
    return FleetRollout(canary, parallel, soak or 0.0, whole)
