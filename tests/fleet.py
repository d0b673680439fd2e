"""A fleet on real, separate engines (issue 38), for the fleet's tests: three hosts, each a
`dockerd` of its own in a network namespace of its own (tests/hosts.py, the session's `hosts`
fixture); host a is the canary and the only one with the base image (so the others get the
release's images from it); a is reached through a docker context, b and c through their
sockets' addresses."""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from tests.helpers import DOCKERFILE, build_file_tree, git
from tests.hosts import Engine

FAST = ["--settle", "0.5", "--timeout", "30"]


@dataclass
class Fleet:
    """What a test works with: the three hosts, a project name, a folder of its own."""

    hosts: list[Engine]
    name: str
    root: Path

    def project(
        self, fleet: str = "", c: str = "", own: Mapping[str, str] = MappingProxyType({})
    ) -> Path:
        return fleet_project(self.root / "p", self.name, self.hosts, fleet, c, own)


def context(argv: list[str]) -> None:
    subprocess.run(["docker", "context", *argv], check=True, capture_output=True)


def fleet_project(
    root: Path,
    name: str,
    hosts: list[Engine],
    fleet: str = "",
    c: str = "",
    own: Mapping[str, str] = MappingProxyType({}),
) -> Path:
    """A project on the three hosts (a: the canary, through its context). `fleet`: lines of
    `x-cfgroll:` below `hosts:`; `c`: host c's endpoint (default: its socket's address);
    `own`: host name -> its `env_file:`."""
    endpoints = ["fleet-a", hosts[1].address, c or hosts[2].address]
    listed = "".join(
        f"    - name: {e.name}\n      endpoint: {endpoint}\n"
        + ("      groups: [canary]\n" if e.name == "a" else "")
        + (f"      env_file: {own[e.name]}\n" if e.name in own else "")
        for e, endpoint in zip(hosts, endpoints, strict=True)
    )
    serve = 'echo "$$GREETING" > /www/index.html && exec httpd -f -p 8080 -h /www'
    compose = (
        f"name: {name}\nservices:\n  web:\n    build: .\n    init: true\n"
        f"    environment:\n      GREETING: ${{GREETING}}\n"
        f"    command: [sh, -c, {json.dumps(serve)}]\n"
        "x-cfgroll:\n  hosts:\n" + listed + textwrap.indent(textwrap.dedent(fleet), "  ")
    )
    return build_file_tree(
        root, {"compose.yaml": compose, "Dockerfile": DOCKERFILE, ".env": "GREETING=v1\n"}
    )


def on(engine: Engine, project: str) -> tuple[str, str]:
    """(what web serves, its image ID) on that host; ("", "") when it runs no web."""
    ids = engine.docker(
        "ps", "-q", "--filter", f"label=com.docker.compose.project={project}"
    ).stdout.split()
    if not ids:
        return "", ""
    served = engine.docker("exec", ids[0], "cat", "/www/index.html").stdout.strip()
    image = engine.docker("inspect", "-f", "{{.Image}}", ids[0]).stdout.strip()
    return served, image


def host_refs(store: Path) -> dict[str, str]:
    out = git(store, "for-each-ref", "--format=%(refname:lstrip=2) %(objectname)", "refs/hosts")
    return dict(line.split() for line in out.splitlines())


def row(out: str, host: str) -> list[str]:
    """`status`'s line for `host`: its release, its state, its drift."""
    for line in out.splitlines():
        words = line.split(maxsplit=3)
        if line.startswith("  ") and words and words[0] == host:
            return words[1:]
    raise AssertionError(f"no line for {host} in {out}")


def tag_of(store: Path, commit: str) -> str:
    return git(store, "describe", "--tags", "--exact-match", commit).strip()
