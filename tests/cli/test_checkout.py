"""`cfgroll checkout` writes a release's files back without deploying, and never loses the
edits it overwrites. No engine: the releases are written straight into the store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cfgroll.cli.main import main
from cfgroll.store.files import FileData
from cfgroll.store.repo import Store
from tests.helpers import build_file_tree, git
from tests.helpers import write_release as release


@pytest.fixture
def two_releases(tmp_path: Path) -> tuple[Path, str, str]:
    proj = build_file_tree(tmp_path / "p", {"compose.yaml": "services: {}\n"})
    store, _ = Store.create(proj / ".cfgroll" / "store.git")
    compose = FileData(b"services: {}\n")
    v1 = release(
        store,
        1,
        {
            "compose.yaml": compose,
            ".env": FileData(b"A=1\n"),
            "conf/app.conf": FileData(b"one\n"),
            "run.sh": FileData(b"#!/bin/sh\n", "exec"),
        },
    )
    v2 = release(
        store,
        2,
        {"compose.yaml": compose, ".env": FileData(b"A=2\n"), "conf/app.conf": FileData(b"two\n")},
    )
    build_file_tree(proj, {".env": "A=2\n", "conf/app.conf": "two\n"})
    return proj, v1, v2


def test_checkout_saves_unsaved_edits_as_a_draft_first(
    two_releases: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1, _v2 = two_releases
    (proj / "conf/app.conf").write_text("my unsaved edit\n")
    assert main(["checkout", v1, "-C", str(proj)]) == 0
    out = capsys.readouterr().out
    assert "your edits were saved as draft_" in out
    draft = out.split("saved as ")[1].split()[0]
    assert (proj / "conf/app.conf").read_text() == "one\n"
    assert (proj / ".env").read_text() == "A=1\n"
    assert os.access(proj / "run.sh", os.X_OK)  # the release had it, executable
    store = proj / ".cfgroll" / "store.git"
    assert git(store, "show", f"{draft}:conf/app.conf") == "my unsaved edit\n"
    assert main(["checkout", draft, "-C", str(proj)]) == 0
    assert (proj / "conf/app.conf").read_text() == "my unsaved edit\n"


def test_checkout_without_edits_saves_no_draft(
    two_releases: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1, v2 = two_releases
    assert main(["checkout", v2, "-C", str(proj)]) == 0
    assert f"the project files already are those of {v2}" in capsys.readouterr().out
    assert main(["checkout", v1, "-C", str(proj)]) == 0  # the files were the live release's
    assert "draft_" not in capsys.readouterr().out
    assert "draft_" not in git(proj / ".cfgroll" / "store.git", "tag")
    assert (proj / "conf/app.conf").read_text() == "one\n"
