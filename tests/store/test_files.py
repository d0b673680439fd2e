from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pytest

from cfgroll.store.files import write_atomic


def test_atomic_write_keeps_mode_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / ".env"
    target.write_text("OLD=1\n")
    os.chmod(target, 0o640)
    write_atomic(target, b"NEW=1\n")
    assert target.read_text() == "NEW=1\n"
    assert (target.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


def test_new_private_file_is_0600(tmp_path: Path) -> None:
    write_atomic(tmp_path / "sub" / "app.env", b"A=1\n", private=True)
    assert ((tmp_path / "sub" / "app.env").stat().st_mode & 0o777) == 0o600


@pytest.mark.parametrize("failing", ["fsync", "replace", "disk full"])
def test_a_write_that_fails_midway_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """Readers see the old file or the new one, never a mix; no temporary file is left."""
    target = tmp_path / ".env"
    target.write_bytes(b"OLD=1\n" * 1000)

    def boom(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    if failing == "fsync":
        monkeypatch.setattr(os, "fsync", boom)
    elif failing == "replace":
        monkeypatch.setattr(os, "replace", boom)
    else:  # the data itself cannot be written
        real_fdopen = os.fdopen

        class Full(io.BufferedWriter):
            def write(self, data: object) -> int:
                raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, "wb", buffering=0)))
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, b"NEW=2\n")
    assert target.read_bytes() == b"OLD=1\n" * 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


def test_the_temporary_file_is_made_beside_the_target_and_its_folder_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rename cannot cross file systems, so the temporary file lives in the target's own
    folder; after the rename the folder itself is synced, or the new name may not survive a
    power cut."""
    from cfgroll.store import files

    renames: list[tuple[Path, Path]] = []
    synced: list[Path] = []
    real_replace = os.replace

    def replace(src: str, dst: object) -> None:
        renames.append((Path(src), Path(str(dst))))
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(files, "fsync_dir", synced.append)
    target = tmp_path / "sub" / ".env"
    write_atomic(target, b"A=1\n")
    assert [(src.parent, dst) for src, dst in renames] == [(target.parent, target)]
    assert synced == [target.parent]


def test_git_rules_for_binary_files() -> None:
    from cfgroll.store.files import FileData

    assert FileData(b"a\0b").binary and FileData(b"\xff\xfe").binary
    assert not FileData("é\n".encode()).binary
    assert not FileData(b"x" * 8000 + b"\0").binary  # git looks at the first 8000 bytes
    assert not FileData(b"\xff", "link").binary  # a link's target is never binary


def test_files_are_read_with_their_kind(tmp_path: Path) -> None:
    from cfgroll.store.files import FileData, read_file

    (tmp_path / "plain").write_bytes(b"p")
    (tmp_path / "run.sh").write_bytes(b"#!/bin/sh\n")
    (tmp_path / "run.sh").chmod(0o755)
    (tmp_path / "group-only").write_bytes(b"g")
    (tmp_path / "group-only").chmod(0o650)
    (tmp_path / "current").symlink_to("plain")
    (tmp_path / "folder").mkdir()
    assert read_file(tmp_path / "plain") == FileData(b"p", "file")
    assert read_file(tmp_path / "run.sh") == FileData(b"#!/bin/sh\n", "exec")
    assert read_file(tmp_path / "group-only") == FileData(b"g", "file")  # owner's bit decides
    assert read_file(tmp_path / "current") == FileData(b"plain", "link")
    assert read_file(tmp_path / "folder") is None and read_file(tmp_path / "none") is None


def test_files_are_written_with_their_kind_and_modes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cfgroll.store.files import FileData, write_file

    monkeypatch.setattr(os, "umask", lambda _m=0: 0o022)  # a process's usual umask
    write_file(tmp_path / "a" / "b" / "new.conf", FileData(b"n"))
    assert (tmp_path / "a" / "b" / "new.conf").stat().st_mode & 0o777 == 0o644
    write_file(tmp_path / "run.sh", FileData(b"x", "exec"))
    assert (tmp_path / "run.sh").stat().st_mode & 0o777 == 0o755
    (tmp_path / "run.sh").chmod(0o740)
    write_file(tmp_path / "run.sh", FileData(b"y", "exec"))  # +x where read is allowed
    assert (tmp_path / "run.sh").stat().st_mode & 0o777 == 0o750
    write_file(tmp_path / "run.sh", FileData(b"z", "file"))
    assert (tmp_path / "run.sh").stat().st_mode & 0o777 == 0o640
    write_file(tmp_path / "secret.env", FileData(b"s"), private=True)
    assert (tmp_path / "secret.env").stat().st_mode & 0o777 == 0o600
    write_file(tmp_path / "l" / "current", FileData(b"../run.sh", "link"))
    write_file(tmp_path / "l" / "current", FileData(b"../secret.env", "link"))  # replaced
    assert os.readlink(tmp_path / "l" / "current") == "../secret.env"
    assert sorted(p.name for p in (tmp_path / "l").iterdir()) == ["current"]
    write_file(tmp_path / "run.sh", FileData(b"plain", "link"))  # a file becomes a link
    assert os.readlink(tmp_path / "run.sh") == "plain"


def test_a_link_that_cannot_be_renamed_into_place_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cfgroll.store.files import FileData, write_file

    def refuse(*_a: object) -> None:
        raise OSError(errno.EBUSY, "busy")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="busy"):
        write_file(tmp_path / "current", FileData(b"x", "link"))
    assert list(tmp_path.iterdir()) == []
