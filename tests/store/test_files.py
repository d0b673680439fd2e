from __future__ import annotations

import os
from pathlib import Path

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
