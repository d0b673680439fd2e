"""Command-line behaviour that needs no engine: help, usage errors, init, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cfgroll.cli.main import main
from tests.helpers import build_file_tree

COMMANDS = [
    "init",
    "deploy",
    "update",
    "rollback",
    "status",
    "log",
    "show",
    "diff",
    "checkout",
    "prune",
    "pin",
    "unpin",
    "import",
    "doctor",
    "mirror",
    "push",
    "clone",
    "pull",
    "watch",
    "stats",
    "report",
]
NOT_IN_A_PROJECT = ("clone",)  # makes the project folder: takes no --project-dir


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    from cfgroll.cli.app import build

    assert sorted(c.name or "" for c in build().registered_commands) == sorted(
        COMMANDS
    )  # a new command is listed here, so its --help is checked too
    assert [c.name for c in build(command).registered_commands] == [command]
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    assert f"Usage: cfgroll {command}" in text
    assert ("--project-dir" in text) == (command not in NOT_IN_A_PROJECT)


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["log", "--bogus"]) == 2
    assert main([]) == 2
    build_file_tree(tmp_path, {"compose.yaml": "services: {}\n"})
    capsys.readouterr()
    assert main(["rollback"]) == 2  # stdin is no terminal here: cfgroll cannot ask which
    assert "without a terminal cfgroll cannot ask" in capsys.readouterr().err


def test_no_compose_file_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["log", "-C", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no compose file in") and "\n" not in err


def test_log_without_store_says_how_to_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_file_tree(tmp_path, {"compose.yaml": "services: {}\n"})
    assert main(["log"]) == 1
    assert "cfgroll init" in capsys.readouterr().err


def test_init_is_idempotent_private_and_ignored_by_git(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = build_file_tree(
        tmp_path / "proj", {"compose.yaml": "services: {}\n", ".gitignore": "node_modules"}
    )
    subprocess.run(["git", "init", "-q", str(proj)], check=True)
    assert main(["init", "-C", str(proj)]) == 0
    out = capsys.readouterr().out
    assert "store created" in out and ".gitignore" in out
    assert (
        (proj / ".gitignore")
        .read_text()
        .endswith(
            "node_modules\n# cfgroll's store: release history, including .env copies\n/.cfgroll/\n"
        )
    )
    assert ((proj / ".cfgroll" / "store.git").stat().st_mode & 0o777) == 0o700
    status = subprocess.run(
        ["git", "-C", str(proj), "status", "--porcelain", "--ignored"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "!! .cfgroll/" in status
    assert main(["init", "-C", str(proj)]) == 0
    assert "already exists" in capsys.readouterr().out
    assert (proj / ".gitignore").read_text().count("/.cfgroll/") == 1


def test_store_option_and_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    build_file_tree(tmp_path, {"compose.yaml": "services: {}\n"})
    assert main(["init", "--store", str(tmp_path / "elsewhere.git")]) == 0
    assert (tmp_path / "elsewhere.git" / "HEAD").is_file()
    monkeypatch.setenv("CFGROLL_STORE", str(tmp_path / "env.git"))
    assert main(["init"]) == 0
    assert (tmp_path / "env.git" / "HEAD").is_file()
    assert not (tmp_path / ".cfgroll").exists()


def test_python_dash_m_and_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cfgroll", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("cfgroll ")


def test_log_reads_history_without_an_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cfgroll.store.repo import Store
    from tests.store.test_repo import add

    build_file_tree(tmp_path, {"compose.yaml": "services: {}\n"})
    store, _ = Store.create(tmp_path / ".cfgroll" / "store.git")
    (v1,) = add(store, 1)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert main(["log"]) == 0
    line = capsys.readouterr().out.splitlines()[1].split()
    assert line[0] == v1 and line[4:6] == ["ok", "?"]


def test_a_fleet_refuses_what_it_does_not_take_yet_before_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Read from the model alone (no engine is asked): the refusals come first."""
    hosts = "x-cfgroll:\n  hosts:\n    - {name: a, endpoint: 'unix:///nowhere.sock'}\n"
    proj = build_file_tree(
        tmp_path / "p",
        {"compose.yaml": f"name: fleetp\nservices:\n  web:\n    image: busybox\n{hosts}"},
    )
    assert main(["deploy", "-C", str(proj), "--dry-run"]) == 1  # the dry run checks too
    assert "cannot reach host(s) a" in capsys.readouterr().err
    assert main(["deploy", "-C", str(proj), "--no-build"]) == 2
    assert main(["deploy", "-C", str(proj), "--hosts", "zz"]) == 2
    assert "no host zz" in capsys.readouterr().err
    (proj / "compose.yaml").write_text(
        (proj / "compose.yaml").read_text() + "  data:\n    web: redis\n"
    )
    for dry in ([], ["--dry-run"]):
        assert main(["deploy", "-C", str(proj), *dry]) == 2
        assert "does not take `x-cfgroll: data:` yet" in capsys.readouterr().err
    assert not (proj / ".cfgroll").exists()
    solo = build_file_tree(
        tmp_path / "s", {"compose.yaml": "name: solo\nservices:\n  web:\n    image: busybox\n"}
    )
    assert main(["deploy", "-C", str(solo), "--hosts", "a"]) == 2
    assert "names none" in capsys.readouterr().err
