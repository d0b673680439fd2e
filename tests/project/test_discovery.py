"""Choosing the compose files and env files as Compose would."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfgroll.engine.compose import Compose
from cfgroll.errors import ProjectError
from cfgroll.project import locate
from cfgroll.project.discovery import interpolate, project_env
from tests.helpers import build_file_tree


def names(c: Compose) -> list[str]:
    return [f.name for f in c.files]


def test_default_file_and_its_override(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path,
        {"docker-compose.yml": "", "docker-compose.override.yml": "", "compose.override.yaml": ""},
    )
    assert names(locate(tmp_path)) == ["docker-compose.yml", "docker-compose.override.yml"]
    build_file_tree(tmp_path, {"compose.yaml": ""})
    assert names(locate(tmp_path)) == ["compose.yaml", "compose.override.yaml"]


def test_explicit_files_and_compose_file_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_file_tree(tmp_path, {"compose.yaml": "", "a.yml": "", "b.yml": ""})
    assert names(locate(tmp_path, ["b.yml", "a.yml"])) == ["b.yml", "a.yml"]
    monkeypatch.setenv("COMPOSE_FILE", "a.yml:b.yml")
    assert names(locate(tmp_path)) == ["a.yml", "b.yml"]
    with pytest.raises(ProjectError, match="does not exist"):
        locate(tmp_path, ["missing.yml"])


def test_compose_file_from_dot_env_with_its_separator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_file_tree(
        tmp_path,
        {
            "compose.yaml": "",
            "a.yml": "",
            "b.yml": "",
            ".env": "COMPOSE_PATH_SEPARATOR=,\nCOMPOSE_FILE=b.yml,a.yml\n",
        },
    )
    assert names(locate(tmp_path)) == ["b.yml", "a.yml"]
    monkeypatch.setenv("COMPOSE_FILE", "a.yml")  # the environment wins over .env, as in Compose
    assert names(locate(tmp_path)) == ["a.yml"]


def test_env_files_replace_dot_env(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path,
        {
            "compose.yaml": "",
            "prod.yml": "",
            ".env": "COMPOSE_FILE=compose.yaml\n",
            "prod.env": "COMPOSE_FILE=prod.yml\nTAG='1.2'\n",
        },
    )
    c = locate(tmp_path, env_files=["prod.env"])
    assert names(c) == ["prod.yml"]
    assert c.env_files == ((tmp_path / "prod.env").resolve(),)
    assert project_env(c.directory, c.env_files)["TAG"] == "1.2"
    with pytest.raises(ProjectError, match="--env-file"):
        locate(tmp_path, env_files=["nope.env"])


def test_interpolation_of_paths() -> None:
    env = {"DIR": "conf", "EMPTY": ""}
    assert interpolate("${DIR}/a.conf", env) == "conf/a.conf"
    assert interpolate("$DIR/${MISSING:-x}/${EMPTY-y}/${EMPTY:-z}", env) == "conf/x//z"
    assert interpolate("$$HOME", env) == "$HOME"


def test_files_outside_the_project_are_refused(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {"p/compose.yaml": "", "shared.env": ""})
    c = locate(tmp_path / "p")
    with pytest.raises(ProjectError, match="outside the project"):
        c.relative(tmp_path / "shared.env")
