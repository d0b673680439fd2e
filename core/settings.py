"""The `x-cfgroll:` block of the compose files: cfgroll's own settings for a project.

Compose ignores top-level `x-` keys and merges them across `-f` files like any other key, so
the block is versioned with the compose files and read from Compose's own model. This is the
one place that reads it; unknown keys are refused, so a typo never passes silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cfgroll.errors import ProjectError

KEY = "x-cfgroll"
_KNOWN = ("ignore", "track")


@dataclass(frozen=True)
class Settings:
    track: tuple[str, ...] = ()  # project-relative paths or globs recorded in every release
    ignore: tuple[str, ...] = ()  # paths or globs never recorded


def settings(config: Mapping[str, Any]) -> Settings:
    """The settings in Compose's model of the project (`docker compose config` JSON)."""
    block = config.get(KEY)
    if block is None:
        return Settings()
    if not isinstance(block, Mapping):
        raise ProjectError(f"`{KEY}:` in the compose file must be a mapping (keys: {_keys()})")
    unknown = sorted(set(block) - set(_KNOWN))
    if unknown:
        raise ProjectError(
            f"`{KEY}:` has unknown key(s) {', '.join(unknown)}; the keys cfgroll knows are "
            f"{_keys()} (see the README, 'What cfgroll records')"
        )
    return Settings(track=_paths(block, "track"), ignore=_paths(block, "ignore"))


def _paths(block: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = block.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ProjectError(
            f"`{KEY}: {key}:` must be a list of project-relative paths or globs, "
            f"e.g. `{key}: [nginx/, scripts/entrypoint.sh]`"
        )
    for v in value:
        if v.startswith("/") or ".." in v.split("/"):
            raise ProjectError(
                f"`{KEY}: {key}:` entry {v!r} leaves the project folder; name paths relative to it"
            )
    return tuple(v.strip() for v in value)


def _keys() -> str:
    return ", ".join(_KNOWN)
