"""`cfgroll mirror` and `cfgroll push` without an engine: what they refuse (a secret with no
recipient, a history the store did not write), the plaintext opt-out, showing and removing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cfgroll.store.files import FileData
from cfgroll.store.repo import Store
from tests.conftest import AgeKey
from tests.helpers import Runner, all_objects, build_file_tree, git, write_release

SECRET = b"PASSWORD=never-in-plaintext-3e9\n"


def setup(tmp_path: Path, block: str = "") -> tuple[Path, Path]:
    """A project whose store holds two releases with a `.env`, and an empty bare mirror."""
    compose = "name: shop\nservices:\n  web:\n    image: busybox\n" + block
    proj = build_file_tree(tmp_path / "shop", {"compose.yaml": compose, ".env": SECRET.decode()})
    store, _ = Store.create(proj / ".cfgroll" / "store.git")
    for n in (1, 2):
        write_release(
            store, n, {"compose.yaml": FileData(compose.encode()), ".env": FileData(SECRET)}
        )
    remote = tmp_path / "mirror.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    return proj, remote


def test_without_recipients_secrets_are_refused_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, remote = setup(tmp_path)
    run = Runner(proj, capsys)
    assert run("mirror", str(remote)) == 0
    assert "secrets refused" in run.out and "not pushed: 3 ref(s)" in run.out
    assert "recipients" in run.err and len(run.err.strip().splitlines()) == 1
    assert run("push") == 1
    assert run.err.startswith("error: ") and "recipients" in run.err
    assert len(run.err.strip().splitlines()) == 1
    assert all_objects(remote) == b""


def test_plaintext_is_an_explicit_choice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, remote = setup(tmp_path, "x-cfgroll:\n  mirror_plaintext: true\n")
    run = Runner(proj, capsys)
    assert run("mirror", str(remote)) == 0
    assert "plaintext" in run.out and "not pushed: 0 ref(s)" in run.out
    assert SECRET in all_objects(remote)
    assert git(remote, "rev-parse", "main") == git(run.store, "rev-parse", "main")


def test_sealed_to_the_project_recipients(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], age_key: AgeKey
) -> None:
    # the history was recorded before the recipients were set: it is sealed whole
    proj, remote = setup(tmp_path)
    compose = proj / "compose.yaml"
    compose.write_text(compose.read_text() + "x-cfgroll:\n  recipients: [keys.txt]\n")
    (proj / "keys.txt").write_text(f"# ops\n{age_key.recipient}\n")
    run = Runner(proj, capsys)
    assert run("mirror", str(remote)) == 0, run.err
    assert "sealed with age to 1 recipient" in run.out and "pushed 3 ref(s)" in run.out
    assert b"never-in-plaintext" not in all_objects(remote)
    assert run("push") == 0 and "up to date" in run.out


def test_a_mirror_with_another_history_is_not_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, remote = setup(tmp_path, "x-cfgroll:\n  mirror_plaintext: true\n")
    other = tmp_path / "other"
    subprocess.run(["git", "init", "-q", "-b", "main", str(other)], check=True)
    subprocess.run(
        ["git", "-C", str(other), "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q",
         "--allow-empty", "-m", "someone else's"],
        check=True,
    )  # fmt: skip
    subprocess.run(["git", "-C", str(other), "push", "-q", str(remote), "main"], check=True)
    theirs = git(remote, "rev-parse", "main")
    run = Runner(proj, capsys)
    assert run("mirror", str(remote)) == 1
    assert "never forces" in run.err and len(run.err.strip().splitlines()) == 1
    assert git(remote, "rev-parse", "main") == theirs
    assert run("mirror") == 0 and "no mirror" in run.out


def test_show_and_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proj, remote = setup(tmp_path, "x-cfgroll:\n  mirror_plaintext: true\n")
    run = Runner(proj, capsys)
    assert run("mirror") == 0 and "no mirror" in run.out
    assert run("push") == 2 and "cfgroll mirror URL" in run.err
    assert run("mirror", "https://ops:tok3n@git.example.invalid/x.git") == 0
    assert "tok3n" not in run.out + run.err and "ops:***@" in run.out
    assert run("mirror", "--remove") == 0 and "was removed" in run.out
    assert run("mirror", "--remove") == 0 and "no mirror to remove" in run.out
    assert "mirror" not in git(run.store, "config", "--list")


def test_a_mirror_that_refuses_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, remote = setup(tmp_path, "x-cfgroll:\n  mirror_plaintext: true\n")
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'this mirror is read-only' >&2\nexit 1\n")
    hook.chmod(0o755)
    run = Runner(proj, capsys)
    assert run("mirror", str(remote)) == 0  # set; the push it tried is a warning
    assert "refused the push" in run.err and "read-only" in run.err
    assert "not pushed: 3 ref(s)" in run.out
    assert run("push") == 1
    assert run.err.startswith("error: the mirror refused the push")
    assert len(run.err.strip().splitlines()) == 1
    assert all_objects(remote) == b""
