"""Writing recorded files back: byte for byte, with their kind, nothing else touched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cfgroll.errors import ProjectError
from cfgroll.project import read, write
from cfgroll.store.files import FileData
from tests.helpers import build_file_tree


def test_write_back_content_kinds_and_removals(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path,
        {"entry.sh": "#!/bin/sh\nv2\n", "conf/app.conf": "v2\n", "conf/new.conf": "n\n", "x": "u"},
    )
    os.chmod(tmp_path / "entry.sh", 0o640)
    wanted: dict[str, FileData | None] = {
        "entry.sh": FileData(b"#!/bin/sh\nv1\n", "exec"),
        "conf/app.conf": FileData(b"v1\n"),
        "conf/current": FileData(b"app.conf", "link"),
        "conf/new.conf": None,  # the live release had it, the target did not
        "secrets/db.txt": FileData(b"s3cret\n"),
    }
    changed = write(tmp_path, wanted, {"secrets/db.txt": "secret"})
    assert changed == sorted(wanted)
    assert read(tmp_path, wanted) == {p: f for p, f in wanted.items() if f is not None}
    assert (tmp_path / "entry.sh").stat().st_mode & 0o777 == 0o750  # exec where read was
    assert os.readlink(tmp_path / "conf/current") == "app.conf"
    assert (tmp_path / "secrets/db.txt").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "x").read_text() == "u"  # not in the set: untouched
    assert write(tmp_path, wanted, {}) == []  # already so: nothing rewritten


def test_a_mode_change_alone_is_written(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {"run.sh": "x"})
    os.chmod(tmp_path / "run.sh", 0o755)
    assert write(tmp_path, {"run.sh": FileData(b"x")}, {}) == ["run.sh"]
    assert (tmp_path / "run.sh").stat().st_mode & 0o111 == 0


def test_paths_leaving_the_project_are_never_written(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="outside the project"):
        write(tmp_path / "p", {"../escape": FileData(b"x")}, {})
    assert not (tmp_path / "escape").exists()


def test_a_folder_in_the_way_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    with pytest.raises(ProjectError, match="folder of that name is in the way"):
        write(tmp_path, {"conf": FileData(b"x")}, {})
