"""Failures from outside, on a real engine: a full disk, a damaged store, a read-only project,
odd files, ten deploys at once. Each ends in one line (no traceback) with nothing changed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cfgroll.cli.main import main
from tests.helpers import (
    DOCKERFILE,
    build_file_tree,
    containers,
    git,
    http_get,
    live_tag,
    web_compose,
)

pytestmark = pytest.mark.docker
FAST = ["--settle", "0.3", "--timeout", "60"]


def mount(*argv: str) -> None:
    """Mount as root; without the right to, skip (fail under CI=true, where CI is root)."""
    run = subprocess.run(["mount", *argv], capture_output=True, text=True)
    if run.returncode != 0:
        message = f"cannot mount ({run.stderr.strip()}); these tests need root"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def live(tmp_path: Path, base_image: str, project_name: str) -> Path:
    tree = {"compose.yaml": web_compose(project_name), "Dockerfile": DOCKERFILE}
    return build_file_tree(tmp_path / "p", {**tree, ".env": "GREETING=v1\n"})


def state(proj: Path, store: Path, project: str) -> tuple[object, ...]:
    """Everything a refused command must leave as it was."""
    files = {p.name: p.read_bytes() for p in proj.iterdir() if p.is_file()}
    return containers(project), git(store, "tag"), git(store, "rev-parse", "main"), files


def one_line_error(err: str) -> None:
    lines = [line for line in err.strip().splitlines() if not line.startswith("==>")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB file system for the store."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder))
    yield folder
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path, leave: int) -> None:
    """Fill the file system of `folder` until `leave` bytes are free (0: full)."""
    chunk = b"\0" * 65536
    with open(folder / "filler", "ab") as fh:
        try:
            while os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize > leave:
                free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
                fh.write(chunk[: max(1, min(len(chunk), free - leave))])
                fh.flush()
        except OSError:
            pass  # full


@pytest.mark.parametrize("leave", [0, 64 * 1024, 700 * 1024])
def test_a_full_disk_is_refused_in_one_line_before_anything_changes(
    live: Path, tiny: Path, project_name: str, leave: int, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tiny / "store.git"
    assert main(["deploy", "-C", str(live), "--store", str(store), *FAST]) == 0
    (live / ".env").write_text("GREETING=v2\n")
    fill(tiny, leave)
    before = state(live, store, project_name)
    capsys.readouterr()
    for command in (["deploy"], ["rollback", "live", "--yes"]):
        assert main([*command, "-C", str(live), "--store", str(store), *FAST]) == 1
        err = capsys.readouterr().err
        one_line_error(err)
        assert "not enough room for the store" in err or "No space left" in err
        assert state(live, store, project_name) == before
    (tiny / "filler").unlink()
    assert main(["deploy", "-C", str(live), "--store", str(store), *FAST]) == 0


def test_a_read_only_project_folder_is_refused_before_anything_changes(
    live: Path, tmp_path: Path, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store.git"
    args = ["-C", str(live), "--store", str(store), *FAST]
    assert main(["deploy", *args]) == 0
    (live / ".env").write_text("GREETING=v2\n")
    assert main(["deploy", *args]) == 0
    mount("--bind", str(live), str(live))
    try:
        mount("-o", "remount,ro,bind", str(live))
        before = state(live, store, project_name)
        capsys.readouterr()
        assert main(["rollback", "previous", "--yes", *args]) == 1
        err = capsys.readouterr().err
        one_line_error(err)
        assert "the project folder" in err and "read-only" in err
        assert state(live, store, project_name) == before
    finally:
        subprocess.run(["umount", "-l", str(live)], capture_output=True)


def test_a_store_missing_an_object_says_so_and_changes_nothing(
    live: Path, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = live / ".cfgroll" / "store.git"
    assert main(["deploy", "-C", str(live), *FAST]) == 0
    v1 = live_tag(store)
    (live / ".env").write_text("GREETING=v2\n")
    assert main(["deploy", "-C", str(live), *FAST]) == 0
    # unpack the store, then lose v1's .env: the damage a bad disk or a careless hand does
    packs = sorted((store / "objects" / "pack").glob("*.pack"))
    for pack in packs:
        moved = pack.with_suffix(".moved")
        pack.rename(moved)
        pack.with_suffix(".idx").unlink()
        with moved.open("rb") as fh:
            subprocess.run(
                ["git", "--git-dir", str(store), "unpack-objects", "-q"], stdin=fh, check=True
            )
        moved.unlink()
    blob = git(store, "rev-parse", f"{v1}:.env").strip()
    (store / "objects" / blob[:2] / blob[2:]).unlink()
    before = state(live, store, project_name)
    capsys.readouterr()
    assert main(["rollback", v1, "--yes", "-C", str(live), *FAST]) == 1
    err = capsys.readouterr().err
    one_line_error(err)
    assert "damaged or unreadable" in err and "cfgroll doctor" in err
    assert state(live, store, project_name) == before
    assert main(["doctor", "-C", str(live)]) == 1
    out = capsys.readouterr().out
    assert "store       PROBLEM" in out and blob[:7] in out


def test_a_compose_file_linking_outside_the_project_is_one_line(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = build_file_tree(tmp_path / "p", {"Dockerfile": DOCKERFILE, ".env": "GREETING=v1\n"})
    outside = build_file_tree(tmp_path / "elsewhere", {"compose.yaml": web_compose(project_name)})
    os.symlink(outside / "compose.yaml", proj / "compose.yaml")
    assert main(["deploy", "-C", str(proj), *FAST]) == 1
    err = capsys.readouterr().err
    one_line_error(err)
    assert "outside the project folder" in err
    assert containers(project_name) == []


def test_a_dot_env_that_is_a_folder_is_no_env_file(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Compose reads no `.env` then, and neither does cfgroll: nothing breaks, nothing of
    the folder is recorded or touched, and a rollback leaves it be."""
    proj = build_file_tree(
        tmp_path / "p", {"compose.yaml": web_compose(project_name), "Dockerfile": DOCKERFILE}
    )
    (proj / ".env").mkdir()
    (proj / ".env" / "keep").write_text("mine\n")
    store = proj / ".cfgroll" / "store.git"
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    v1 = live_tag(store)
    assert ".env" not in git(store, "ls-tree", "--name-only", v1).split()
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    assert main(["rollback", v1, "--yes", "-C", str(proj), *FAST]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert (proj / ".env" / "keep").read_text() == "mine\n"


def test_ten_deploys_at_once_are_serialized_or_refused_and_none_is_lost(live: Path) -> None:
    store = live / ".cfgroll" / "store.git"
    assert main(["deploy", "-C", str(live), *FAST]) == 0
    runs = [
        subprocess.Popen(
            # the same files each time: every deploy that gets the lock records a release
            [sys.executable, "-m", "cfgroll", "deploy", "--record-unchanged", "-C", str(live)]
            + FAST,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(10)
    ]
    results = [(r.wait(timeout=300), *r.communicate()) for r in runs]
    deployed = [out.split()[1] for code, out, _ in results if code == 0]
    for code, _out, err in results:
        assert code == 0 or (code == 1 and "the store is locked by" in err), err
        assert "Traceback" not in err
    assert deployed
    history = git(store, "rev-list", "--first-parent", "main").split()
    assert len(history) == 1 + len(deployed)  # linear: the first release and each success
    assert git(store, "rev-list", "--merges", "main").split() == []
    tags = git(store, "tag").split()
    assert all(tag in tags for tag in deployed)


def test_an_engine_that_is_gone_is_one_line(
    live: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    for command in (["deploy"], ["status"], ["doctor"]):
        assert main([*command, "-C", str(live)]) in (1, 2)
        err = capsys.readouterr().err
        one_line_error(err)
        assert "cannot reach the Docker engine" in err or "store" in err
    assert not (live / ".cfgroll").exists()  # the deploy stopped before creating anything


def _dockerd() -> tuple[int, list[str]]:
    pid = int(subprocess.run(["pgrep", "-xo", "dockerd"], capture_output=True, text=True).stdout)
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    return pid, [a.decode() for a in argv]


def _wait(ready: bool, seconds: float = 60) -> None:
    for _ in range(int(seconds * 4)):
        up = subprocess.run(["docker", "info"], capture_output=True).returncode == 0
        if up == ready:
            return
        time.sleep(0.25)
    raise AssertionError(f"the engine did not {'come back' if ready else 'stop'}")


def test_the_engine_stopped_and_restarted_mid_gate(
    live: Path, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The deploy cannot know what runs: it says so (exit 4, one line naming it); once the
    engine is back, doctor names the drift and the next deploy succeeds."""
    store = live / ".cfgroll" / "store.git"
    assert main(["deploy", "-C", str(live), *FAST]) == 0
    (live / ".env").write_text("GREETING=v2\n")
    pid, argv = _dockerd()
    run = subprocess.Popen(
        [sys.executable, "-m", "cfgroll", "deploy", "-C", str(live), "--settle", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for _ in range(300):  # until v2 serves and the gate waits for it to settle
            try:
                if http_get(project_name, tries=1) == "v2":
                    break
            except AssertionError:
                time.sleep(0.1)
        os.kill(pid, signal.SIGTERM)
        _, err = run.communicate(timeout=120)
    finally:
        for _ in range(240):  # the old daemon must be gone (with its pid file) first
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.25)
        if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
            with open("/tmp/dockerd.log", "ab") as log:
                subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
            _wait(ready=True)
        if run.poll() is None:
            run.kill()
    assert run.returncode == 4, err
    assert "Traceback" not in err
    message = [line for line in err.splitlines() if line.startswith("error: ")]
    # which request meets the stopped engine first decides the words (cfgroll's own, or
    # Compose's during the rollback's `up`); either way the one line names the engine
    gone = ("Docker engine did not answer", "Cannot connect to the Docker daemon")
    assert len(message) == 1 and any(g in message[0] for g in gone), err
    assert "running now:" in message[0] and "rollback" in message[0]  # what runs, what to do
    fsck = subprocess.run(["git", "--git-dir", str(store), "fsck", "--strict"], capture_output=True)
    assert fsck.returncode == 0
    capsys.readouterr()
    assert main(["doctor", "-C", str(live)]) == 1
    assert "drift       PROBLEM" in capsys.readouterr().out
    # The rollback may have written v1's files before Compose met the stopped engine; then
    # the v2 edits are in the kept attempt. Nothing is lost either way, and the next deploy
    # runs what the files say.
    now = (live / ".env").read_text().strip().removeprefix("GREETING=")
    if now != "v2":
        attempt = next(t for t in git(store, "tag").split() if t.startswith("failed_"))
        assert git(store, "show", f"{attempt}:.env").strip() == "GREETING=v2"
    assert main(["deploy", "-C", str(live), *FAST]) == 0
    assert http_get(project_name) == now
    assert main(["doctor", "-C", str(live)]) == 0
