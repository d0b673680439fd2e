"""Compose is the oracle for `.env` files: every shape of tests/env_shapes.py given to a
service's `env_file:` (and one as the project's `.env`), `docker compose config` says the
values, and no output of cfgroll (deploy, its hooks, a failed deploy's error, status, diff,
show, log) contains any of them, while `status` reports a change of every key."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.env_shapes import SHAPES, secrets_of
from tests.helpers import BASE_IMAGE, Runner, build_file_tree, git

pytestmark = pytest.mark.docker
FAST = ["--settle", "0.5", "--timeout", "60"]
DOT_ENV, LISTED = SHAPES[0], SHAPES[1:]  # the BOM + CRLF shape is the project's .env


def compose_file(project: str, command: str) -> str:
    env_files = "".join(f"      - env/{i:02d}.env\n" for i in range(len(LISTED)))
    return (
        f"name: {project}\nservices:\n  app:\n    image: {BASE_IMAGE}\n    init: true\n"
        f"    env_file:\n{env_files}"
        "    environment:\n      FROM_DOT_ENV: ${BOM_PASSWORD}\n      DOT_B: ${BOM_B}\n"
        f'    command: ["sh", "-c", "{command}"]\n'
    )


def write_version(proj: Path, project: str, v: str, command: str) -> None:
    (proj / ".env").write_bytes(DOT_ENV.data(v))
    for i, shape in enumerate(LISTED):
        (proj / "env" / f"{i:02d}.env").write_bytes(shape.data(v))
    (proj / "compose.yaml").write_text(compose_file(project, command))


def test_no_output_shows_a_value_compose_reads(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = tmp_path / "proj"
    (proj / "env").mkdir(parents=True)
    build_file_tree(proj, {".cfgroll/hooks/post-deploy": "#!/bin/sh\ncat .env env/*.env\n"})
    (proj / ".cfgroll/hooks/post-deploy").chmod(0o755)
    write_version(proj, project_name, "v1", "env; exec sleep 3600")

    # the oracle: Compose reads every shape as the table says
    config = subprocess.run(
        ["docker", "compose", "config", "--format", "json"],
        cwd=proj, capture_output=True, text=True, check=True,
    )  # fmt: skip
    wanted = {k: v for shape in LISTED for k, v in shape.compose_values("v1").items()}
    dot_env = DOT_ENV.compose_values("v1")
    wanted |= {"FROM_DOT_ENV": dot_env["BOM_PASSWORD"], "DOT_B": dot_env["BOM_B"]}
    assert json.loads(config.stdout)["services"]["app"]["environment"] == wanted

    run = Runner(proj, capsys)
    said: list[str] = []

    def cfgroll(*args: str) -> int:
        code = run(*args)
        said.append(f"$ cfgroll {' '.join(args)} -> {code}\n{run.out}{run.err}")
        return code

    assert cfgroll("deploy", *FAST) == 0, run.err
    assert "[hook post-deploy]" in said[-1] and "FIRST_PASSWORD=***" in said[-1]
    live = git(run.store, "describe", "--tags", "main").strip()
    # a deploy whose container prints its environment and dies: the error shows its logs
    write_version(proj, project_name, "v2", "env; exit 3")
    assert cfgroll("deploy", *FAST) == 3
    assert "last log lines" in said[-1] and "FIRST_PASSWORD=***" in said[-1]
    # a release that dies a second after its start passes a short settle; rolling back to it
    # with a longer one fails, and that error shows its logs
    write_version(proj, project_name, "v4", "env; sleep 2; exit 4")
    assert cfgroll("deploy", "--settle", "0.3", "--timeout", "60") == 0, run.err
    dying = git(run.store, "describe", "--tags", "main").strip()
    assert cfgroll("rollback", live, "--yes", *FAST) == 0, run.err
    assert cfgroll("rollback", dying, "--yes", "--settle", "5", "--timeout", "60") == 3
    assert "last log lines" in said[-1] and "FIRST_PASSWORD=***" in said[-1], said[-1]
    # every value changed on disk, not deployed
    write_version(proj, project_name, "v3", "env; exec sleep 3600")
    assert cfgroll("status", "--check") == 1
    status = run.out
    for shape in SHAPES:
        for key, value in (shape.raw or shape.values).items():
            if "{v}" in value:
                assert key in status, f"status does not report {key} changed"
    cfgroll("diff")
    cfgroll("diff", live)
    cfgroll("log", "--all")
    cfgroll("show", live)
    for path in [".env", *(f"env/{i:02d}.env" for i in range(len(LISTED)))]:
        assert cfgroll("show", live, path) == 0
    failed = git(run.store, "for-each-ref", "--format=%(refname:short)", "refs/tags/failed_*")
    for tag in failed.split():
        cfgroll("show", tag)
        cfgroll("diff", live, tag)
    everything = "\n".join(said)
    shown = [value for value in secrets_of("v1", "v2", "v3", "v4") if value in everything]
    assert not shown, f"values shown: {shown}\n{everything}"
