"""The stat cache: a recorded file whose `lstat` did not change is neither read nor hashed; any
change to it is seen; what the cache says is trusted only where the live release agrees. Real
files, a real store, no engine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cfgroll.project import locate, resolve
from cfgroll.project import recorded as recorded_module
from cfgroll.project.recorded import ProjectFiles
from cfgroll.store import statcache
from cfgroll.store.files import FileData, Files, changed_files, file_id, read_file
from cfgroll.store.repo import Store
from tests.helpers import build_file_tree, write_release

SITE = {f"site/d{i % 3}/f{i}.txt": f"page {i}\n" for i in range(30)}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(statcache, "RACY_NS", 0)  # the files were just written: trust them now
    return build_file_tree(tmp_path / "p", {"compose.yaml": "services: {}\n", **SITE})


def resolved(proj: Path, store: Store) -> ProjectFiles:
    config = {
        "name": "p",
        "services": {
            "web": {
                "volumes": [
                    {
                        "type": "bind",
                        "source": str(proj / "site"),
                        "target": "/s",
                        "read_only": True,
                    }
                ]
            }
        },
    }
    return resolve(locate(proj), config, store.known(proj, store.live()))


def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The project files `resolve` reads from here on."""
    seen: list[Path] = []
    real = recorded_module.read_file

    def counting(path: Path) -> FileData | None:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(recorded_module, "read_file", counting)
    return seen


def released(proj: Path, store: Store) -> ProjectFiles:
    """The project as it is, read and recorded as the live release."""
    files = resolved(proj, store)
    write_release(store, len(list(store.releases())) + 1, dict(files.content))
    return files


def test_unchanged_files_are_not_read_and_every_change_is_seen(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = Store.create(project / ".cfgroll" / "store.git")
    first = released(project, store)
    assert len(first.content) == 31
    seen = reads(monkeypatch)
    again = resolved(project, store)
    assert seen == []  # nothing read, nothing hashed
    assert changed_files(store.files(store.live()), again.content) == []  # type: ignore[arg-type]
    assert again.content["site/d0/f0.txt"].data == b"page 0\n"  # from the store, on demand

    page = project / "site/d1/f1.txt"
    page.write_text("PAGE 1\n")  # the same size: the times tell
    os.chmod(project / "site/d2/f2.txt", 0o755)  # only the kind
    (project / "compose.yaml").write_text("services: {} \n")  # one byte more
    now = resolved(project, store)
    assert sorted(p.relative_to(project).as_posix() for p in seen) == [
        "compose.yaml",
        "site/d1/f1.txt",
        "site/d2/f2.txt",
    ]
    live = store.files(store.live())  # type: ignore[arg-type]
    assert changed_files(live, now.content) == ["compose.yaml", "site/d1/f1.txt", "site/d2/f2.txt"]
    assert now.content["site/d2/f2.txt"].kind == "exec"


def test_a_cache_entry_the_live_release_does_not_hold_is_not_trusted(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = Store.create(project / ".cfgroll" / "store.git")
    released(project, store)
    page = project / "site/d0/f3.txt"
    page.write_text("draft\n")
    resolved(project, store)  # the cache now knows the draft's stat and id
    seen = reads(monkeypatch)
    resolved(project, store)
    assert [p.name for p in seen] == ["f3.txt"]  # the live release holds another id: read it


def test_a_file_changed_too_recently_is_not_kept(tmp_path: Path) -> None:
    proj = build_file_tree(tmp_path / "p", {"compose.yaml": "services: {}\n", **SITE})
    cache = statcache.StatCache(proj, tmp_path / "store")
    fresh = proj / "compose.yaml"
    old = proj / "site/d0/f0.txt"
    os.utime(old, ns=(0, 0))  # an old file (its ctime is still now: racy too)
    for path in (fresh, old):
        cache.put(path.name, path.lstat(), file_id(FileData(path.read_bytes())))
    cache.save()
    reloaded = statcache.StatCache(proj, tmp_path / "store")
    assert reloaded.get("compose.yaml", fresh.lstat()) is None
    assert reloaded.get("f0.txt", old.lstat()) is None  # changed (ctime) within the window


def test_a_release_written_from_known_ids_is_the_one_a_full_read_writes(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = Store.create(project / ".cfgroll" / "store.git")
    os.chmod(project / "site/d2/f2.txt", 0o755)
    released(project, store)
    (project / "site/d0/f0.txt").write_text("changed\n")
    lazily = resolved(project, store).content
    assert isinstance(lazily, Files)
    assert lazily.stored("site/d1/f1.txt") is not None  # not read: the store has it
    assert lazily.stored("site/d0/f0.txt") is None  # read from disk
    fully = {p: read_file(project / p) for p in lazily}
    a = write_release(store, 5, lazily)
    b = write_release(store, 6, {p: f for p, f in fully.items() if f is not None})
    assert store.file_ids(store.tag_entry(a)) == store.file_ids(store.tag_entry(b))
