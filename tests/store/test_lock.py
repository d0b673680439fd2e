from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cfgroll.errors import LockHeld
from cfgroll.store.lock import INFO_NAME, store_lock


def test_second_run_fails_naming_the_holder(tmp_path: Path) -> None:
    with store_lock(tmp_path, "deploy"):
        with pytest.raises(LockHeld, match=rf"cfgroll deploy.*pid {os.getpid()}"):
            with store_lock(tmp_path, "rollback", timeout=0.2):
                pass
    with store_lock(tmp_path, "rollback"):  # released afterwards
        pass
    assert not (tmp_path / INFO_NAME).exists()


def test_lock_left_by_a_dead_run_is_taken_over_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / INFO_NAME).write_text(
        json.dumps(
            {"pid": 999999, "host": "h", "command": "deploy", "started": "2026-11-26T00:00:00Z"}
        )
    )
    warnings: list[str] = []
    with store_lock(tmp_path, "deploy", warn=warnings.append):
        pass
    assert warnings and "pid 999999" in warnings[0]
