"""The checks before a command acts, decided without an engine."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cfgroll.capabilities import preflight
from cfgroll.capabilities.preflight import MIB, Needs, PreflightFailed


def ctx(tmp_path: Path) -> Any:
    return SimpleNamespace(store_path=tmp_path / "store.git", directory=tmp_path, daemon=None)


def free_space(monkeypatch: pytest.MonkeyPatch, free: int) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: SimpleNamespace(free=free))


def test_room_for_the_release_and_the_margin_is_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More free space than the margin, less than the margin plus the release: refused."""
    free_space(monkeypatch, preflight.MIN_FREE + MIB)
    with pytest.raises(PreflightFailed, match="not enough room for the store"):
        preflight.check(ctx(tmp_path), Needs(store_bytes=2 * MIB, engine=False))
    preflight.check(ctx(tmp_path), Needs(store_bytes=MIB // 2, engine=False))
    # a restore's copy of the data services' folders counts too
    with pytest.raises(PreflightFailed, match="room for the copy of the data services' folders"):
        preflight.check(ctx(tmp_path), Needs(MIB // 2, engine=False, copy_bytes=MIB))


def test_the_margin_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(preflight.MIN_FREE_ENV, "10M")
    assert preflight.min_free() == 10 * MIB
    monkeypatch.setenv(preflight.MIN_FREE_ENV, "1K")  # never below the least margin
    assert preflight.min_free() == preflight.MIN_FREE


def test_a_release_needs_its_files_and_some_overhead() -> None:
    from cfgroll.store.files import FileData, Files

    files = {"a": FileData(b"x" * 10), "b": FileData(b"yy")}
    assert preflight.size_of(files) == preflight.OVERHEAD + 12
    # a file known unchanged counts by its size, unread
    unread = Files({"a": "100644 0", "b": "100644 1"}, have={"b": FileData(b"yy")}, sizes={"a": 10})
    assert preflight.size_of(unread) == preflight.OVERHEAD + 12
    assert preflight.OVERHEAD == 64 * 1024


def test_the_refusal_says_how_much_is_free_needed_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    free_space(monkeypatch, 3 * MIB)
    monkeypatch.setenv(preflight.MIN_FREE_ENV, "2M")
    with pytest.raises(PreflightFailed) as refused:
        preflight.check(ctx(tmp_path), Needs(store_bytes=1536 * 1024, engine=False))
    assert str(refused.value) == (
        f"not enough room for the store: 3.0 MiB free on the file system of {tmp_path}, the "
        "release needs about 1.5 MiB plus a margin of 2.0 MiB (CFGROLL_MIN_FREE); free some "
        "space, or keep the store elsewhere (--store); nothing was changed"
    )
    free_space(monkeypatch, 3 * MIB + 512 * 1024)  # exactly enough
    preflight.check(ctx(tmp_path), Needs(store_bytes=1536 * 1024, engine=False))


@pytest.mark.parametrize(
    ("raw", "size"), [("2G", 2 * 1024 * MIB), ("1536K", 1536 * 1024), ("3000000", 3_000_000)]
)
def test_margin_units(monkeypatch: pytest.MonkeyPatch, raw: str, size: int) -> None:
    monkeypatch.setenv(preflight.MIN_FREE_ENV, raw)
    assert preflight.min_free() == size


def test_a_margin_that_is_no_size_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(preflight.MIN_FREE_ENV, "lots")
    with pytest.raises(PreflightFailed, match="CFGROLL_MIN_FREE='LOTS' is not a size"):
        preflight.min_free()


def test_folders_that_cannot_be_written_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store not made yet is checked where it would be made; the project folder only when
    the command writes files; the engine only when it talks to it."""
    import errno
    import tempfile

    free_space(monkeypatch, 1024 * MIB)
    tried: list[str] = []
    real = tempfile.mkstemp

    def mkstemp(prefix: str, dir: Path) -> tuple[int, str]:
        tried.append(str(dir))
        if Path(dir).name == "ro":
            raise OSError(errno.EROFS, "Read-only file system")
        return real(prefix=prefix, dir=dir)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    pinged: list[bool] = []
    c = ctx(tmp_path)
    c.store_path = tmp_path / "not" / "yet" / "store.git"
    c.daemon = SimpleNamespace(ping=lambda: pinged.append(True))
    preflight.check(c, Needs())
    assert tried == [str(tmp_path)] and pinged == [True]
    c.directory = tmp_path / "ro"
    c.directory.mkdir()
    with pytest.raises(
        PreflightFailed, match=f"the project folder {c.directory} cannot be written"
    ):
        preflight.check(c, Needs(project=True, engine=False))
    assert list(tmp_path.glob(".cfgroll-preflight.*")) == []
