"""The project on disk: which files make up the stack's configuration, reading them, and
writing them back. This package is the only code that walks the project folder.

- `locate` (`discovery`): the compose files and env files Compose reads, chosen as Compose
  chooses them;
- `resolve` (`recorded`, `sources`): the recorded set, with each file's role, the services that
  use it, what is read but not recorded and why, checked against the limits;
- `read` / `write` / `leftovers` (`disk`): the files as they are now, writing recorded files
  back, temporary files an interrupted run left.

Names load with their module on first use, so that `locate` alone (every command, and shell
completion, which must answer in well under 0.3 s) does not import the rest.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cfgroll.project.discovery import locate
    from cfgroll.project.disk import leftovers, read, write
    from cfgroll.project.recorded import MAX_FILE, MAX_FILES, MAX_TOTAL, ProjectFiles, resolve

_HOMES = {
    "locate": "discovery",
    "leftovers": "disk",
    "read": "disk",
    "write": "disk",
    "MAX_FILE": "recorded",
    "MAX_FILES": "recorded",
    "MAX_TOTAL": "recorded",
    "ProjectFiles": "recorded",
    "resolve": "recorded",
}
__all__ = [
    "MAX_FILE",
    "MAX_FILES",
    "MAX_TOTAL",
    "ProjectFiles",
    "leftovers",
    "locate",
    "read",
    "resolve",
    "write",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"cfgroll.project.{_HOMES[name]}"), name)
    globals()[name] = value
    return value
