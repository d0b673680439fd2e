"""Release names and image references.

A release is named `backup_YYYYMMDD_HHMMSS` (UTC), the name users of the old copy scripts
know; a second release in the same second gets `_2`, `_3`, …. Failed attempts use `failed_`
and saved drafts `draft_`. The same name is the docker tag put on every image of the release.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone

RELEASE_PREFIX = "backup_"
ATTEMPT_PREFIX = "failed_"
DRAFT_PREFIX = "draft_"

STAMP_RE = re.compile(r"^\d{8}_\d{6}(_\d+)?$")


def stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y%m%d_%H%M%S")


def new_name(prefix: str, moment: datetime, exists: Callable[[str], bool]) -> str:
    """The first free name `<prefix><stamp>`, `<prefix><stamp>_2`, … for `moment`."""
    base = prefix + stamp(moment)
    name, n = base, 1
    while exists(name):
        n += 1
        name = f"{base}_{n}"
    return name


def repository(image_ref: str) -> str:
    """`registry:5000/team/api:1.2@sha256:…` -> `registry:5000/team/api`."""
    ref = image_ref.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    return ref[:colon] if colon > slash else ref


def backup_ref(image_ref: str, tag: str) -> str:
    return f"{repository(image_ref)}:{tag}"


def with_default_tag(image_ref: str) -> str:
    """The reference as the engine stores it: `api` means `api:latest`."""
    if "@" in image_ref:
        return image_ref
    return image_ref if repository(image_ref) != image_ref else image_ref + ":latest"
