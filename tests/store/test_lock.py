from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cfgroll.errors import LockHeld
from cfgroll.store.lock import INFO_NAME, clear_stale, state, store_lock


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


def test_lock_state_free_held_and_stale_from_another_machine(tmp_path: Path) -> None:
    """A store copied or shared from another host may carry that host's lock info: the OS lock
    here is free, so it is stale (doctor --fix clears it; the next run takes it over)."""
    assert state(tmp_path) == "free"
    with store_lock(tmp_path, "deploy"):
        assert state(tmp_path) == "held"
    assert state(tmp_path) == "free"
    info = {"pid": 4242, "host": "build-02", "command": "deploy", "started": "2026-11-26T00:00:00Z"}
    (tmp_path / INFO_NAME).write_text(json.dumps(info))
    assert state(tmp_path) == "stale"
    clear_stale(tmp_path)
    assert state(tmp_path) == "free"


def test_an_info_file_without_its_lock_file_is_stale_not_free(tmp_path: Path) -> None:
    """A run killed before the OS lock file was made, or a store copied without it: the info
    file alone still says a run ended without cleaning up."""
    (tmp_path / INFO_NAME).write_text(json.dumps({"pid": 4242, "command": "deploy"}))
    assert state(tmp_path) == "stale"


def test_the_holder_is_named_in_full(tmp_path: Path) -> None:
    """While a run holds the lock its info file says who; a second run's error names it."""
    import socket

    from cfgroll.store.lock import describe, holder

    with store_lock(tmp_path, "deploy"):
        info = holder(tmp_path)
        assert info is not None
        assert (info["command"], info["pid"], info["host"]) == (
            "deploy", os.getpid(), socket.gethostname()
        )  # fmt: skip
        assert str(info["started"]).endswith("Z") and isinstance(info["time"], float)
        with pytest.raises(LockHeld) as held:
            with store_lock(tmp_path, "rollback"):
                pass
        assert str(held.value) == (
            f"the store is locked by {describe(info)}; wait for it to finish, or pass "
            "--lock-timeout SECONDS to wait"
        )
    assert describe(None) == "another cfgroll run"
    assert describe({"command": "prune"}) == "`cfgroll prune` (pid ? on ?, started ?)"
    assert holder(tmp_path) is None
    clear_stale(tmp_path)  # nothing to clear is fine
