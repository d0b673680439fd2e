"""Release names, and the image reference each release tags.

A release is named `backup_YYYYMMDD_HHMMSS` (UTC), the name users of the old copy scripts
know; a second release in the same second gets `_2`, `_3`, …. Failed attempts use `failed_`
and saved drafts `draft_`. The same name is the docker tag put on every image of the release.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone

from cfgroll.engine.refs import repository as repository  # the grammar lives with the engine
from cfgroll.engine.refs import with_default_tag as with_default_tag

HOSTS_REFS = "refs/hosts/"  # a fleet's hosts: refs/hosts/<name> names the release it runs
RELEASE_PREFIX = "backup_"
ATTEMPT_PREFIX = "failed_"
DRAFT_PREFIX = "draft_"

STAMP_RE = re.compile(r"^\d{8}_\d{6}(_\d+)?$")


def stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y%m%d_%H%M%S")


def moment_of(name: str) -> datetime:
    """The UTC second a name like `backup_20261126_221530_2` was made for."""
    stamp_part = "_".join(name.split("_")[1:3])
    return datetime.strptime(stamp_part, "%Y%m%d_%H%M%S").replace(tzinfo=timezone.utc)


def new_name(prefix: str, moment: datetime, exists: Callable[[str], bool]) -> str:
    """The first free name `<prefix><stamp>`, `<prefix><stamp>_2`, … for `moment`."""
    base = prefix + stamp(moment)
    name, n = base, 1
    while exists(name):
        n += 1
        name = f"{base}_{n}"
    return name


def backup_ref(image_ref: str, tag: str) -> str:
    return f"{repository(image_ref)}:{tag}"


def names(paths: list[str], most: int = 10) -> str:
    """`a, b, c` for a commit message or a warning, cut after `most` names."""
    more = len(paths) - most
    return ", ".join(paths[:most]) + (f" and {more} more" if more > 0 else "")


def size_text(n: int) -> str:
    """`n` bytes as people read them: 512 B, 40 KiB, 3.1 MiB."""
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.0f} KiB" if n < 1 << 20 else f"{n / (1 << 20):.1f} MiB"


def host_ref(host: str) -> str:
    return HOSTS_REFS + host
