"""Errors people can read: one line, the path, what to do; tracebacks only when asked."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from cfgroll.cli.main import main
from cfgroll.errors import StoreError, one_line, os_error


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        (errno.ENOSPC, "free some space"),
        (errno.EACCES, "check the permissions"),
        (errno.EPERM, "check the permissions"),
        (errno.EROFS, "mounted read-only"),
    ],
)
def test_os_errors_name_the_path_and_what_to_do(code: int, hint: str) -> None:
    text = os_error(OSError(code, "Some failure", "/srv/shop/.cfgroll/store.git/objects/ab"))
    assert text.startswith("Some failure (/srv/shop/.cfgroll/store.git/objects/ab); ")
    assert hint in text and "\n" not in text


def test_a_failure_reason_is_one_line() -> None:
    raw = StoreError("Cmd('git') failed due to: exit code(128)\n  cmdline: git update-ref\n")
    assert one_line(raw) == "Cmd('git') failed due to: exit code(128) cmdline: git update-ref"
    assert one_line(KeyboardInterrupt()) == "interrupted"
    assert len(one_line(RuntimeError("x" * 1000))) <= 301


def test_debug_shows_the_traceback_and_plain_runs_do_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "-C", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no compose file") and "Traceback" not in err
    assert main(["status", "-C", str(tmp_path), "--debug"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err
    monkeypatch.setenv("CFGROLL_DEBUG", "1")
    assert main(["status", "-C", str(tmp_path)]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err
