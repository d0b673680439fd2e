"""A fleet's hosts as the engine floor sees them (issue 38): the engine a host's `endpoint:`
names (a docker context's name, or an `ssh://`, `tcp://`, `unix://` address), the environment
that makes the docker CLI, Compose and a cfgroll run talk to it, whether it answers, and
images sent from one host's engine to another's (`docker save | docker load`, streamed: an
image never sits in memory) or through a registry (`docker push`, then `docker pull` by digest:
the docker CLI, whose credentials and registry settings are the user's)."""

from __future__ import annotations

import os
import subprocess
import threading
from collections import deque
from collections.abc import Mapping, Sequence

from cfgroll.engine.endpoint import DEFAULT_CONTEXT, Endpoint, config_dir, read_context
from cfgroll.engine.refs import names_registry, repository
from cfgroll.errors import CfgrollError, CommandFailed, EngineUnreachable, one_line

PING_TIMEOUT = 10.0  # seconds a host's engine has to answer before it counts as unreachable


def endpoint_of(address: str) -> Endpoint:
    """The engine `address` names: an address with a scheme, else a docker context's name
    (`UsageError` when there is none)."""
    if "://" in address:
        return Endpoint(DEFAULT_CONTEXT, address, "DOCKER_HOST")
    return read_context(address, config_dir())


def environment(address: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (this process's environment) made to choose `address`'s engine, as
    `docker --host`/`--context` would: for the docker CLI, Compose, hooks and cfgroll alike."""
    env = dict(os.environ if base is None else base)
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_TLS"):
        env.pop(name, None)
    if "://" in address:
        env["DOCKER_HOST"] = address
    else:
        env["DOCKER_CONTEXT"] = address
    return env


def unreachable(address: str) -> str | None:
    """Why `address`'s engine cannot be used now (one line), None when it answers."""
    from cfgroll.engine.daemon import Daemon
    from cfgroll.engine.transport import open_transport

    try:
        endpoint = endpoint_of(address)
        Daemon(endpoint, open_transport(endpoint, PING_TIMEOUT)).ping()
    except CfgrollError as exc:
        return one_line(exc)
    return None


def send_images(refs: Sequence[str], source: str, target: str, timeout: float = 3600) -> None:
    """Copy the images `refs` (with those references) from `source`'s engine to `target`'s:
    `docker save` on one piped into `docker load` on the other, so both keep the same image
    IDs. `CommandFailed` with the failing side's last lines."""
    save_argv = ["docker", "save", *refs]
    load_argv = ["docker", "load", "-q"]
    try:
        save = subprocess.Popen(
            save_argv, env=environment(source), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except FileNotFoundError:
        raise EngineUnreachable("`docker` is not installed or not on PATH") from None
    errors: deque[str] = deque(maxlen=10)

    def read_errors() -> None:
        assert save.stderr is not None
        for line in save.stderr:
            errors.append(line.decode(errors="replace").rstrip())

    reader = threading.Thread(target=read_errors, daemon=True)
    reader.start()
    try:
        load = subprocess.run(
            load_argv,
            env=environment(target),
            stdin=save.stdout,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
        )
    except BaseException:
        save.kill()
        raise
    finally:
        if save.stdout is not None:
            save.stdout.close()
        save.wait()
        reader.join(timeout=5)
    if save.returncode != 0:
        raise CommandFailed(save_argv, save.returncode, "\n".join(errors), "docker save")
    if load.returncode != 0:
        raise CommandFailed(load_argv, load.returncode, load.stderr, "docker load")


def registry_ref(registry: str, image_ref: str, tag: str) -> str:
    """Where the image `image_ref` goes in `registry` (a repository prefix) under `tag`: its
    repository's path (without the registry it may name) below the prefix."""
    path = repository(image_ref)
    if names_registry(path):
        path = path.split("/", 1)[1]
    return f"{registry}/{path}:{tag}"


def push(address: str, image_id: str, target: str, timeout: float = 3600) -> str:
    """The image `image_id` of `address`'s engine tagged `target` (`registry/path:tag`) and
    pushed there; its digest (`registry/path@sha256:…`), as the registry gave it."""
    from cfgroll.engine.compose import docker
    from cfgroll.engine.daemon import Daemon

    daemon = Daemon(endpoint_of(address))
    daemon.tag(image_id, target)
    docker(["push", "--quiet", target], timeout, environment(address), f"docker push {target}")
    digest = daemon.repo_digest(image_id, target)
    if repository(digest) != repository(target):
        raise CfgrollError(f"the engine pushed {target} but shows no digest for it")
    return digest


def pull(address: str, digest: str, image_ref: str) -> str:
    """The image `digest` (`registry/path@sha256:…`) pulled onto `address`'s engine and named
    `image_ref` there; its ID."""
    from cfgroll.engine.daemon import Daemon

    daemon = Daemon(endpoint_of(address))
    image_id = daemon.pull(digest, environment(address))
    daemon.tag(image_id, image_ref)
    return image_id
