"""Helpers shared by the tests: file trees, Compose projects, HTTP reads."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

    from cfgroll.store.files import FileData
    from cfgroll.store.repo import Store

BASE_IMAGE = "cfgroll-test-base:latest"
REPO_ROOT = Path(__file__).resolve().parent.parent


def build_file_tree(root: Path, spec: Mapping[str, str | bytes]) -> Path:
    """Write `{relative path: content}` under `root` (text is dedented)."""
    for rel, content in spec.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content))
    return root


def web_compose(name: str, extra_services: str = "", web_extra: str = "") -> str:
    """A project whose `web` service serves the GREETING value of `.env` over HTTP."""
    return f"""\
name: {name}
services:
  web:
    build: .
    init: true
    environment:
      GREETING: ${{GREETING}}
    ports: ["127.0.0.1::8080"]
    command:
      - sh
      - -c
      - echo "$$GREETING" > /www/index.html && exec httpd -f -p 8080 -h /www
{textwrap.indent(textwrap.dedent(web_extra), "    ") if web_extra else ""}{extra_services}"""


DOCKERFILE = f"FROM {BASE_IMAGE}\nRUN mkdir -p /www\n"


def doc_recipe(doc: Path, name: str) -> str:
    """The code block `doc` shows under `<!-- recipe: NAME -->`: the tests run the docs'
    recipes from the docs' own text."""
    found = re.search(
        rf"<!-- recipe: {re.escape(name)} -->\n```\w*\n(.*?)```", doc.read_text(), re.S
    )
    assert found, f"{doc.name} has no recipe {name!r}"
    return found.group(1)


def git(store: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(store), *args], check=True, capture_output=True, text=True
    ).stdout


def git_in(cwd: Path, *args: str) -> str:
    """`git ARGS` in a work tree, as a developer (a name and an address for commits)."""
    return subprocess.run(
        ["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def all_objects(repo: Path) -> bytes:
    """Every object of a repository, as `git cat-file --batch-all-objects --batch` prints
    them: what to search for a value that must not be there."""
    return subprocess.run(
        ["git", "--git-dir", str(repo), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        check=True,
    ).stdout


def host_port(project: str, service: str, port: int = 8080) -> int:
    out = subprocess.run(
        [
            "docker",
            "ps",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={project}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert out, f"no running container for {project}/{service}"
    info = json.loads(
        subprocess.run(
            ["docker", "inspect", out[0]], check=True, capture_output=True, text=True
        ).stdout
    )[0]
    return int(info["NetworkSettings"]["Ports"][f"{port}/tcp"][0]["HostPort"])


def http_get(project: str, service: str = "web", tries: int = 25) -> str:
    """What the service serves at / (retrying briefly while httpd starts)."""
    last: Exception | None = None
    for _ in range(tries):
        try:
            url = f"http://127.0.0.1:{host_port(project, service)}/"
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
                return resp.read().decode().strip()
        except Exception as exc:  # noqa: BLE001
            last = exc
            time.sleep(0.2)
    raise AssertionError(f"{project}/{service} serves nothing: {last}")


def image_id(ref: str) -> str:
    return subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Id}}", ref],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def live_tag(store: Path) -> str:
    """The tag of the commit `main` points at."""
    return git(store, "describe", "--tags", "--exact-match", "main").strip()


def containers(project: str, *extra: str) -> list[str]:
    """IDs of the project's containers (all states)."""
    return subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}", *extra],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip


def cfgroll_on_terminal(args: list[str], answers: bytes) -> subprocess.CompletedProcess[str]:
    """Run the cfgroll CLI with a terminal on stdin that types `answers`."""
    import os
    import pty
    import sys

    main_fd, tty_fd = pty.openpty()
    try:
        os.write(main_fd, answers)
        return subprocess.run(
            [sys.executable, "-m", "cfgroll", *args],
            stdin=tty_fd, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        os.close(main_fd)
        os.close(tty_fd)


T0 = datetime(2026, 11, 27, 10, 0, 0, tzinfo=timezone.utc)
ROLES = {
    "compose.yaml": "compose",
    ".env": "env",
    "conf/app.conf": "mount",
    "run.sh": "tracked",
    "secrets/token": "secret",
}


def write_release(store: Store, n: int, files: Mapping[str, FileData]) -> str:
    """Record release number `n` (the next on `main`) straight into the store: for tests of
    what reads releases, without an engine."""
    from cfgroll.store.manifest import Layout, Manifest

    live = store.live()
    tag = f"backup_20261127_10000{n}"
    roles = {p: r for p, r in ROLES.items() if p in files}
    manifest = Manifest(
        tag=tag, action="deploy", project="p", created_at=T0 + timedelta(seconds=n), host="h",
        user="u", cfgroll_version="0", result="ok", layout=Layout(roles, ("compose.yaml",)),
    )  # fmt: skip
    store.record(files, manifest, "deploy: app\n", live.commit if live else None, on_main=True)
    return tag


class Runner:
    """Runs the CLI in a project folder (in-process); keeps what each command printed."""

    def __init__(self, proj: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.proj = proj
        self.capsys = capsys
        self.out = ""
        self.err = ""

    def __call__(self, *args: str) -> int:
        from cfgroll.cli.main import main

        code = main([*args, "-C", str(self.proj)])
        self.out, self.err = self.capsys.readouterr()
        return code

    @property
    def store(self) -> Path:
        return self.proj / ".cfgroll" / "store.git"


def png_colours(path: Path) -> int:
    """How many colours a screenshot holds (1: a blank page)."""
    from PIL import Image

    with Image.open(path) as image:
        return len(image.convert("RGB").getcolors(maxcolors=1 << 24) or [])


def interrupted(
    proj: Path, args: list[str], marker: str, how: signal.Signals, after: float = 1.0
) -> tuple[int, str]:
    """`cfgroll ARGS` in `proj` as a process of its own, sent `how` `after` seconds past the
    line that has `marker`: a terminal's Ctrl-C reaches the whole group; `kill -9` only
    cfgroll. Its exit code, and what it printed after the marker."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cfgroll", *args, "-C", str(proj)],
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:
        if marker in line:
            break
    time.sleep(after)
    os.killpg(proc.pid, how)
    rest = proc.stderr.read()
    return proc.wait(timeout=180), rest
