"""Choosing the compose files as Compose would, and the files each project reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfgroll.engine.compose import Compose
from cfgroll.errors import ProjectError
from tests.helpers import build_file_tree


def names(c: Compose) -> list[str]:
    return [f.name for f in c.files]


def test_default_file_and_its_override(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path,
        {"docker-compose.yml": "", "docker-compose.override.yml": "", "compose.override.yaml": ""},
    )
    assert names(Compose.locate(tmp_path)) == ["docker-compose.yml", "docker-compose.override.yml"]
    build_file_tree(tmp_path, {"compose.yaml": ""})
    assert names(Compose.locate(tmp_path)) == ["compose.yaml", "compose.override.yaml"]


def test_explicit_files_and_compose_file_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_file_tree(tmp_path, {"compose.yaml": "", "a.yml": "", "b.yml": ""})
    assert names(Compose.locate(tmp_path, ["b.yml", "a.yml"])) == ["b.yml", "a.yml"]
    monkeypatch.setenv("COMPOSE_FILE", "a.yml:b.yml")
    assert names(Compose.locate(tmp_path)) == ["a.yml", "b.yml"]
    with pytest.raises(ProjectError, match="does not exist"):
        Compose.locate(tmp_path, ["missing.yml"])


def test_argv_always_names_the_files(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {"compose.yaml": ""})
    argv = Compose.locate(tmp_path, name="shop").argv("up", "-d")
    assert argv[:4] == ["docker", "compose", "--project-directory", str(tmp_path.resolve())]
    assert argv[-4:] == ["-p", "shop", "up", "-d"]


def test_env_files_of_active_services(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path,
        {
            "compose.yaml": """\
            services:
              api: {image: x, env_file: conf/api.env}
              web: {image: x, env_file: [web.env, {path: opt.env, required: false}]}
              off: {image: x, env_file: off.env}
            """,
            "conf/api.env": "A=1\n",
            "web.env": "B=1\n",
            "off.env": "C=1\n",
        },
    )
    c = Compose.locate(tmp_path)
    found = [c.relative(p) for p in c.env_files(["api", "web"])]
    assert found == ["conf/api.env", "web.env"]


def test_files_outside_the_project_are_refused(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {"p/compose.yaml": "", "shared.env": ""})
    c = Compose.locate(tmp_path / "p")
    with pytest.raises(ProjectError, match="outside the project"):
        c.relative(tmp_path / "shared.env")
