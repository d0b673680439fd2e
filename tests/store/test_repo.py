"""The store against real git repositories in tmp folders."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cfgroll.errors import StoreError, UnknownRelease
from cfgroll.store.files import FileData
from cfgroll.store.manifest import ATTEMPT, MANIFEST_PATH, Layout, Manifest, ServiceRecord
from cfgroll.store.manifest_yaml import manifest_from_yaml
from cfgroll.store.repo import Store
from cfgroll.store.worktree import tracked_paths
from tests.helpers import git

T0 = datetime(2026, 11, 26, 22, 0, 0, tzinfo=timezone.utc)


def manifest(tag: str, moment: datetime = T0, **kw: object) -> Manifest:
    base: dict[str, object] = dict(
        tag=tag,
        action="deploy",
        project="shop",
        created_at=moment,
        host="h",
        user="u",
        cfgroll_version="0",
        result="ok",
        layout=Layout({".env": "env", "compose.yaml": "compose"}, ("compose.yaml",)),
        services={"web": ServiceRecord("shop-web", "sha256:" + "a" * 64, f"shop-web:{tag}")},
    )
    base.update(kw)
    return Manifest(**base)  # type: ignore[arg-type]


FILES = {
    "compose.yaml": FileData(b"services: {}\n"),
    ".env": FileData(b"A=1\n"),
    "conf/app.env": FileData(b"B=2\n"),
}


def add(store: Store, n: int, files: dict[str, FileData] = FILES) -> list[str]:
    tags = []
    for i in range(n):
        live = store.live()
        tag = f"backup_20261126_2200{i:02d}"
        store.record(
            {**files, ".env": FileData(f"A={i}\n".encode())},
            manifest(tag, T0 + timedelta(seconds=i)),
            f"deploy: web\n\nbody {i}\n",
            live.commit if live else None,
            on_main=True,
        )
        tags.append(tag)
    return tags


def test_create_is_private_bare_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "proj" / ".cfgroll" / "store.git"
    store, created = Store.create(path)
    assert created and Store.exists(path)
    assert (path.stat().st_mode & 0o777) == 0o700
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert git(path, "rev-parse", "--is-bare-repository").strip() == "true"
    assert store.live() is None and list(store.releases()) == []
    _, again = Store.create(path)
    assert not again


def test_open_missing_store_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cfgroll init"):
        Store.open(tmp_path / "nothing")


def test_release_is_one_commit_with_annotated_tag_and_files_at_their_paths(tmp_path: Path) -> None:
    store, _ = Store.create(tmp_path / "s.git")
    (v1, v2) = add(store, 2)
    assert git(store.path, "rev-list", "--count", "main").strip() == "2"
    assert git(store.path, "cat-file", "-t", v1).strip() == "tag"
    assert git(store.path, "show", f"{v2}:conf/app.env") == "B=2\n"
    assert git(store.path, "show", f"{v2}:.env") == "A=1\n"
    assert "-A=0\n+A=1" in git(store.path, "diff", v1, v2, "--", ".env")
    assert manifest_from_yaml(git(store.path, "show", f"{v2}:{MANIFEST_PATH}")).tag == v2
    assert git(store.path, "log", "-1", "--format=%s", v2).strip() == "deploy: web"
    subprocess.run(
        ["git", "--git-dir", str(store.path), "fsck", "--strict"], check=True, capture_output=True
    )
    assert store.files(store.resolve(v1)) == {**FILES, ".env": FileData(b"A=0\n")}


def test_resolve_by_tag_stamp_and_alias(tmp_path: Path) -> None:
    store, _ = Store.create(tmp_path / "s.git")
    v1, v2, v3 = add(store, 3)
    assert store.resolve(v2).tag == v2
    assert store.resolve(v2.removeprefix("backup_")).tag == v2
    assert store.resolve("previous").tag == v2
    assert store.resolve("live").tag == v3
    with pytest.raises(UnknownRelease, match="cfgroll log"):
        store.resolve("backup_19990101_000000")
    assert [e.tag for e in store.releases()] == [v3, v2, v1]


def test_previous_without_one_is_a_clear_error(tmp_path: Path) -> None:
    store, _ = Store.create(tmp_path / "s.git")
    add(store, 1)
    with pytest.raises(UnknownRelease, match="no release before"):
        store.resolve("previous")


def test_side_commit_never_moves_main(tmp_path: Path) -> None:
    store, _ = Store.create(tmp_path / "s.git")
    (v1,) = add(store, 1)
    live = store.live()
    assert live is not None
    store.record(
        FILES,
        manifest("failed_20261126_220100", kind=ATTEMPT, result="failed: x"),
        "failed deploy: web\n",
        live.commit,
        on_main=False,
    )
    assert store.live() == live
    assert [e.tag for e in store.side_entries()] == ["failed_20261126_220100"]
    assert store.resolve("failed_20261126_220100").manifest.kind == ATTEMPT
    assert [e.tag for e in store.releases()] == [v1]


def test_refs_move_together_or_not_at_all(tmp_path: Path) -> None:
    """A release written against a stale parent leaves neither its tag nor a new main."""
    store, _ = Store.create(tmp_path / "s.git")
    (v1,) = add(store, 1)
    stale_parent = store.live()
    add_more = store.record(
        FILES,
        manifest("backup_20261126_230000"),
        "deploy: web\n",
        stale_parent.commit if stale_parent else None,
        on_main=True,
    )
    with pytest.raises(StoreError, match="nothing was recorded"):
        store.record(
            FILES,
            manifest("backup_20261126_230001"),
            "deploy: web\n",
            stale_parent.commit if stale_parent else None,
            on_main=True,
        )
    assert not store.has_tag("backup_20261126_230001")
    assert store.live() == add_more
    assert v1 in git(store.path, "tag")


def test_manifest_path_is_reserved(tmp_path: Path) -> None:
    store, _ = Store.create(tmp_path / "s.git")
    with pytest.raises(StoreError, match="cfgroll's own path"):
        store.record(
            {MANIFEST_PATH: FileData(b"x")}, manifest("backup_20261126_220000"), "x\n", None, True
        )


def test_executables_and_links_keep_their_kind(tmp_path: Path) -> None:
    """git's own modes: plain git shows an executable as 100755 and a link as 120000."""
    store, _ = Store.create(tmp_path / "s.git")
    files = {
        **FILES,
        "scripts/entry.sh": FileData(b"#!/bin/sh\n", "exec"),
        "conf/current.conf": FileData(b"v2.conf", "link"),
        "geo.db": FileData(b"\0\1binary"),
    }
    (tag,) = add(store, 1, files)
    got = store.files(store.resolve(tag))
    assert got["scripts/entry.sh"] == FileData(b"#!/bin/sh\n", "exec")
    assert got["conf/current.conf"] == FileData(b"v2.conf", "link")
    assert got["geo.db"].binary and not got["compose.yaml"].binary
    tree = git(store.path, "ls-tree", "-r", tag)
    assert "100755 blob" in tree.split("scripts/entry.sh")[0].splitlines()[-1]
    assert "120000 blob" in tree.split("conf/current.conf")[0].splitlines()[-1]
    subprocess.run(
        ["git", "--git-dir", str(store.path), "fsck", "--strict"], check=True, capture_output=True
    )


def test_tracked_paths_reads_the_work_trees_index(tmp_path: Path) -> None:
    work = tmp_path / "w"
    (work / "prom").mkdir(parents=True)
    (work / "prom" / "prometheus.yml").write_text("a\n")
    (work / "prom" / "data.db").write_text("b\n")
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "add", "prom/prometheus.yml"], check=True)
    assert tracked_paths(work / "prom") == {(work / "prom" / "prometheus.yml").resolve()}
    assert tracked_paths(tmp_path / "elsewhere") is None
