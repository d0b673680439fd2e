"""Engine tests fail, not skip, under CI=true when no engine answers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


def run_engine_test(ci: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": ci, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/cli/test_e2e.py::test_log_show_json_and_aliases"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip


def test_engine_tests_fail_under_ci_without_engine() -> None:
    result = run_engine_test("true")
    assert result.returncode == 1, result.stdout
    assert "no Docker engine reachable" in result.stdout


def test_engine_tests_skip_elsewhere_without_engine() -> None:
    result = run_engine_test("")
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout


def test_ci_types_the_checkout_in_place_for_linux_and_windows() -> None:
    run = (REPO_ROOT / ".ci" / "run").read_text()
    assert ".venv/bin/mypy -p cfgroll" in run and "--platform win32 -p cfgroll" in run
    assert "cp -R" not in run


def test_tests_that_need_age_fail_under_ci_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests import conftest

    monkeypatch.setattr(conftest.shutil, "which", lambda tool: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="age-keygen is not installed"):
        conftest._needed("age-keygen", "age")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        conftest._needed("age-keygen", "age")
