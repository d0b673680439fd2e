"""The checks before a command acts, decided without an engine."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cfgroll.transactions import preflight
from cfgroll.transactions.preflight import MIB, Needs, PreflightFailed


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


def test_the_margin_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(preflight.MIN_FREE_ENV, "10M")
    assert preflight.min_free() == 10 * MIB
    monkeypatch.setenv(preflight.MIN_FREE_ENV, "1K")  # never below the least margin
    assert preflight.min_free() == preflight.MIN_FREE
