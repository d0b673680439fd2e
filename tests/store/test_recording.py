"""How releases are written and read back fast: in-process objects, packing every few
releases, one reflog, and the summaries cache `log` reads from."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cfgroll.store import summaries
from cfgroll.store.repo import Store
from cfgroll.store.upkeep import TIDY_EVERY
from tests.helpers import git
from tests.store.test_repo import add


def loose_tags(store: Store) -> list[str]:
    return sorted(os.listdir(store.path / "refs" / "tags"))


def test_releases_are_packed_every_few_and_the_store_stays_sound(tmp_path: Path) -> None:
    """Releases are written loose and packed once `TIDY_EVERY` of them are: objects and tags
    end in packs, and git finds nothing wrong with the objects cfgroll wrote itself."""
    store, _ = Store.create(tmp_path / "s.git")
    tags = add(store, TIDY_EVERY - 1)
    assert loose_tags(store) == sorted(tags)  # not packed yet: no per-release packing cost
    assert not list((store.path / "objects" / "pack").glob("*.pack"))
    tags += add_more(store, 1)
    assert loose_tags(store) == []  # the eighth release packed them all
    assert list((store.path / "objects" / "pack").glob("*.pack"))
    assert "count: 0" in git(store.path, "count-objects", "-v")
    assert git(store.path, "tag").split() == sorted(tags)
    assert store.fsck() == []
    # a commit written in-process reads in plain git as any other
    assert git(store.path, "log", "-1", "--format=%s|%an|%ae", tags[-1]).strip() == (
        "deploy: web|u|u@h"
    )


def add_more(store: Store, n: int) -> list[str]:
    from datetime import timedelta

    from cfgroll.store.files import FileData
    from tests.store.test_repo import FILES, T0, manifest

    made = []
    for i in range(n):
        live = store.live()
        assert live is not None
        tag = f"backup_20261126_2210{i:02d}"
        files = {**FILES, ".env": FileData(f"B={i}\n".encode())}
        store.record(
            files, manifest(tag, T0 + timedelta(minutes=10, seconds=i)), "deploy: web\n",
            live.commit, on_main=True,
        )  # fmt: skip
        made.append(tag)
    return made


def test_main_has_one_reflog_and_head_none(tmp_path: Path) -> None:
    """Every move of the live release is in main's reflog, kept once (not again for HEAD)."""
    store, _ = Store.create(tmp_path / "s.git")
    add(store, 3)
    assert len(git(store.path, "reflog", "show", "main").splitlines()) == 3
    assert not (store.path / "logs" / "HEAD").exists()


def test_log_reads_come_from_the_cache_once_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second read of the history needs neither git's objects nor YAML: the cache, kept
    private, gives the same entries and file ids; a damaged cache is read around."""
    monkeypatch.setenv("CFGROLL_CACHE", str(tmp_path / "cache"))
    store, _ = Store.create(tmp_path / "s.git")
    add(store, 3)
    first = list(store.releases())
    ids = [store.file_ids(e) for e in first]
    store.save_cache()
    cache = next((tmp_path / "cache").glob("*.json"))
    assert (cache.stat().st_mode & 0o777) == 0o600
    assert len(json.loads(cache.read_text())["commits"]) == 3

    again = Store.open(store.path)
    monkeypatch.setattr(again, "_doc_of", lambda sha: pytest.fail("read from git"))
    monkeypatch.setattr(again, "_object", lambda *a: pytest.fail("read from git"))
    assert list(again.releases()) == first
    assert [again.file_ids(e) for e in first] == ids

    cache.write_text("{not json")
    assert list(Store.open(store.path).releases()) == first


def test_the_cache_keeps_the_newest_and_can_be_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(summaries, "KEEP", 2)
    monkeypatch.setenv("CFGROLL_CACHE", str(tmp_path / "cache"))
    store, _ = Store.create(tmp_path / "s.git")
    add(store, 4)
    newest = [e.commit for e in store.releases()]
    store.save_cache()
    kept = json.loads(next((tmp_path / "cache").glob("*.json")).read_text())["commits"]
    assert sorted(kept) == sorted(newest[:2])
    monkeypatch.setenv("CFGROLL_CACHE", "")  # off: another store's reads leave no file
    other, _ = Store.create(tmp_path / "t.git")
    add(other, 2)
    assert len(list(other.releases())) == 2
    other.save_cache()
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1
