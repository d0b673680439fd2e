"""Which Docker engine a command talks to, chosen as the docker CLI chooses it.

`DOCKER_HOST`, else `DOCKER_CONTEXT`, else the docker config's `currentContext`, else the
default socket. cfgroll's `--context NAME` (like `docker --context NAME`) is set into the
process environment by the command line (`use_context`), so that the Compose and docker
subprocesses, the hooks and the engine door all follow the same choice. Contexts are read
from the docker CLI's own store (`$DOCKER_CONFIG/contexts/meta/<sha256 of the name>/`); no
SDK import is needed for the choice.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cfgroll.errors import UsageError

DEFAULT_HOST = (
    "unix:///var/run/docker.sock" if os.name == "posix" else "npipe:////./pipe/docker_engine"
)
DEFAULT_CONTEXT = "default"
# What chose the engine, in the docker CLI's order.
ChosenBy = Literal["DOCKER_HOST", "context", "default"]


@dataclass(frozen=True)
class Endpoint:
    """An engine's address and the context it was found by."""

    context: str  # "default" when DOCKER_HOST or the default socket chose it
    host: str  # unix://…, tcp://…, ssh://user@host, npipe://…
    chosen_by: ChosenBy = "default"
    tls_dir: Path | None = None  # the context's ca.pem/cert.pem/key.pem, when it has them
    skip_tls_verify: bool = False

    @property
    def socket(self) -> str | None:
        """The local Unix socket's path, None for an engine reached another way."""
        return self.host[len("unix://") :] if self.host.startswith("unix://") else None

    @property
    def ssh(self) -> bool:
        return self.host.startswith("ssh://")

    def describe(self) -> str:
        """`HOST (context NAME)`, for messages."""
        return f"{self.host} (context {self.context})"


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("DOCKER_CONFIG") or Path.home() / ".docker")


def resolve(env: Mapping[str, str] | None = None) -> Endpoint:
    """The engine the docker CLI would talk to with this environment."""
    env = os.environ if env is None else env
    host = env.get("DOCKER_HOST", "")
    if host:
        # the docker CLI's TLS variables: DOCKER_TLS_VERIFY verifies, DOCKER_TLS only encrypts
        verify = bool(env.get("DOCKER_TLS_VERIFY"))
        if not (verify or env.get("DOCKER_TLS")):
            return Endpoint(DEFAULT_CONTEXT, host, "DOCKER_HOST")
        certs = Path(env["DOCKER_CERT_PATH"]) if env.get("DOCKER_CERT_PATH") else config_dir(env)
        return Endpoint(DEFAULT_CONTEXT, host, "DOCKER_HOST", certs, not verify)
    name = env.get("DOCKER_CONTEXT", "") or _current_context(config_dir(env))
    if name and name != DEFAULT_CONTEXT:
        return read_context(name, config_dir(env))
    return Endpoint(DEFAULT_CONTEXT, DEFAULT_HOST)


def read_context(name: str, folder: Path) -> Endpoint:
    """The endpoint of the docker context `name`; a one-line error when there is none."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = folder / "contexts" / "meta" / digest / "meta.json"
    try:
        doc = json.loads(meta.read_text(encoding="utf-8"))
        docker = doc["Endpoints"]["docker"]
        host = str(docker["Host"])
    except FileNotFoundError:
        raise UsageError(
            f"there is no docker context named {name!r}; `docker context ls` lists them"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"the docker context {name!r} cannot be read ({meta}: {exc})") from None
    tls = folder / "contexts" / "tls" / digest / "docker"
    return Endpoint(
        name,
        host,
        "context",
        tls if tls.is_dir() else None,
        bool(docker.get("SkipTLSVerify")),
    )


def _current_context(folder: Path) -> str:
    try:
        doc = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return str(doc.get("currentContext") or "") if isinstance(doc, dict) else ""


def use_context(name: str) -> None:
    """`--context NAME`: make it the choice of this process and everything it starts, as
    `docker --context NAME` does (it wins over `DOCKER_HOST`). Checked at once."""
    if name != DEFAULT_CONTEXT:
        read_context(name, config_dir())
    os.environ.pop("DOCKER_HOST", None)
    os.environ["DOCKER_CONTEXT"] = name
