"""The grammar of image references (`registry:5000/team/api:1.2@sha256:…`), as the engine
reads them."""

from __future__ import annotations


def repository(image_ref: str) -> str:
    """`registry:5000/team/api:1.2@sha256:…` -> `registry:5000/team/api`."""
    ref = image_ref.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    return ref[:colon] if colon > slash else ref


def with_default_tag(image_ref: str) -> str:
    """The reference as the engine stores it: `api` means `api:latest`."""
    if "@" in image_ref:
        return image_ref
    return image_ref if repository(image_ref) != image_ref else image_ref + ":latest"


def short(image_id: str) -> str:
    """An image ID as people read it: 12 hex digits."""
    return image_id.split(":", 1)[-1][:12]


def names_registry(image: str) -> bool:
    """Whether an image reference names a registry (`host.tld/…`, `host:port/…`,
    `localhost/…`), rather than a Docker Hub repository (`team/web`, `nginx`)."""
    first, slash, _ = image.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")
