"""The one door to the `docker compose` CLI: argv lists that always name the files."""

from __future__ import annotations

from pathlib import Path

from cfgroll.project import locate
from tests.helpers import build_file_tree


def test_argv_always_names_the_files(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {"compose.yaml": "", "prod.env": ""})
    argv = locate(tmp_path, name="shop").argv("up", "-d")
    assert argv[:4] == ["docker", "compose", "--project-directory", str(tmp_path.resolve())]
    assert argv[-4:] == ["-p", "shop", "up", "-d"]
    argv = locate(tmp_path, env_files=["prod.env"]).argv("config")
    assert argv[-3:] == ["--env-file", str(tmp_path.resolve() / "prod.env"), "config"]
