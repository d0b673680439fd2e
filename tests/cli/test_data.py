"""Data with the release on a real engine: a busybox `db` with a named volume stands in for a
database (`cat` dumps it, `cat >` restores it)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from tests.conftest import AgeKey
from tests.helpers import (
    Runner,
    all_objects,
    build_file_tree,
    containers,
    git,
    interrupted,
    live_tag,
)

pytestmark = pytest.mark.docker
FAST = ["--settle", "0.5", "--timeout", "30"]

RESTORE = '[sh, -c, "cat > /data/rows"]'
COMPOSE = """\
name: {name}
services:
  db:
    image: {base}
    init: true
    environment:
      VERSION: ${{VERSION}}
    volumes: [rows:/data]
    command: ["sh", "-c", "touch /data/rows && exec sleep 100000"]
volumes:
  rows: {{}}
x-cfgroll:
  data:
    db: {{dump: {dump}, restore: {restore}, timeout: 30}}
"""


def write(
    proj: Path, name: str, base: str, dump: str = "[cat, /data/rows]", restore: str = RESTORE
) -> None:
    text = COMPOSE.format(name=name, base=base, dump=dump, restore=restore)
    (proj / "compose.yaml").write_text(text)


def rows(name: str) -> str:
    return subprocess.run(
        ["docker", "compose", "-p", name, "exec", "-T", "db", "cat", "/data/rows"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def add_row(name: str, row: str) -> None:
    subprocess.run(
        ["docker", "compose", "-p", name, "exec", "-T", "db", "sh", "-c",
         f"echo {row} >> /data/rows"],
        check=True, capture_output=True,
    )  # fmt: skip


@pytest.fixture
def proj(tmp_path: Path, project_name: str, base_image: str) -> Path:
    """The project: a `db` with a named volume and cat-style `data:` commands, VERSION 1."""
    folder = build_file_tree(tmp_path / "p", {".env": "VERSION=1\n"})
    write(folder, project_name, base_image)
    return folder


@pytest.fixture
def run(proj: Path, capsys: pytest.CaptureFixture[str]) -> Runner:
    """cfgroll in the project, keeping what each command printed."""
    return Runner(proj, capsys)


def r1_then_r2(run: Runner, proj: Path, project_name: str, row: str) -> str:
    """Deploy r1, write `row` under it, deploy r2 (its dump taken first); r1's tag."""
    assert run("deploy", *FAST) == 0, run.err
    r1 = live_tag(run.store)
    add_row(project_name, row)
    (proj / ".env").write_text("VERSION=2\n")
    assert run("deploy", *FAST) == 0, run.err
    return r1


def test_rollback_with_data_gives_back_the_releases_rows(
    proj: Path,
    project_name: str,
    run: Runner,
) -> None:
    r1 = r1_then_r2(run, proj, project_name, "row-one")
    assert "dumping db's data" in run.err
    add_row(project_name, "row-two")

    assert run("rollback", r1, "--yes", *FAST) == 0, run.err
    assert rows(project_name) == "row-one\nrow-two\n"
    assert "--with-data" in run.err  # the data stayed: said so

    assert run("show", r1) == 0 and "data (dumps taken while it was live" in run.out
    assert "data: db dumped" in git(run.store, "log", "--notes", "-1", r1)
    assert run("rollback", r1, "--with-data", "--yes", *FAST) == 0, run.err
    assert rows(project_name) == "row-one\n"
    data = proj / ".cfgroll" / "data"
    unpack = zstandard.ZstdDecompressor().decompressobj
    kept = [unpack().decompress(p.read_bytes()) for p in data.rglob("*.zst")]
    assert any(b"row-two" in k for k in kept)  # what it replaced is saved
    assert b"row-two" not in all_objects(run.store)  # in .cfgroll/data, never in git
    assert (proj / ".cfgroll").stat().st_mode & 0o777 == 0o700
    assert not list(data.rglob("*.partial"))


def test_a_failing_dump_stops_the_deploy_before_anything_changes(
    proj: Path,
    project_name: str,
    base_image: str,
    run: Runner,
) -> None:
    assert run("deploy", *FAST) == 0
    before = containers(project_name)
    tags = git(run.store, "tag")
    write(proj, project_name, base_image, dump='[sh, -c, "echo disk full >&2; exit 1"]')
    (proj / ".env").write_text("VERSION=2\n")
    assert run("deploy", *FAST) == 1
    assert "the dump of db failed" in run.err and "disk full" in run.err
    assert containers(project_name) == before and git(run.store, "tag") == tags


def test_log_and_doctor_know_the_dumps(
    proj: Path,
    project_name: str,
    run: Runner,
) -> None:
    r1 = r1_then_r2(run, proj, project_name, "row-one")
    assert run("log") == 0
    line = next(ln for ln in run.out.splitlines() if ln.startswith(r1))
    assert "data: db" in line
    assert run("doctor") == 0 and "data" in run.out
    (dump,) = (proj / ".cfgroll" / "data").rglob("*.zst")
    dump.write_bytes(dump.read_bytes() + b"x")
    (dump.parent / "db.cut.zst.partial").write_bytes(b"half")
    assert run("doctor") == 1
    assert "dumps missing or not as written: db of " + r1 in run.out
    assert "cut short" in run.out
    assert run("doctor", "--fix") == 1 and "removed 1 dump(s)" in run.out
    assert not list((proj / ".cfgroll" / "data").rglob("*.partial"))


def test_a_failed_restore_brings_the_live_release_and_its_data_back(
    proj: Path,
    project_name: str,
    base_image: str,
    run: Runner,
) -> None:
    # r1's restore writes the rows, then fails: the transaction must undo it
    write(proj, project_name, base_image, restore='[sh, -c, "cat > /data/rows; exit 1"]')
    assert run("deploy", *FAST) == 0
    r1 = live_tag(run.store)
    add_row(project_name, "row-one")
    write(proj, project_name, base_image)
    (proj / ".env").write_text("VERSION=2\n")
    assert run("deploy", *FAST) == 0
    r2 = live_tag(run.store)
    add_row(project_name, "row-two")
    assert run("rollback", r1, "--with-data", "--yes", *FAST) == 3, run.err
    assert "the restore" in run.err
    assert live_tag(run.store) == r2
    assert rows(project_name) == "row-one\nrow-two\n"


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_a_dump_cut_short_is_never_used_and_the_next_deploy_works(
    proj: Path, project_name: str, base_image: str, how: signal.Signals
) -> None:
    write(proj, project_name, base_image, dump='[sh, -c, "cat /data/rows; sleep 60"]')
    cfg = [sys.executable, "-m", "cfgroll"]
    assert (
        subprocess.run([*cfg, "deploy", *FAST, "-C", str(proj)], capture_output=True).returncode
        == 0
    )
    add_row(project_name, "row-one")
    (proj / ".env").write_text("VERSION=2\n")
    code, _rest = interrupted(proj, ["deploy", *FAST], "dumping db's data", how)
    assert code != 0
    data = proj / ".cfgroll" / "data"
    index = json.loads((data / "index.json").read_text()) if (data / "index.json").exists() else {}
    assert index.get("dumps", []) == []  # nothing cut short is ever listed
    write(proj, project_name, base_image)  # a quick dump again
    done = subprocess.run([*cfg, "deploy", *FAST, "-C", str(proj)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert rows(project_name) == "row-one\n"
    assert len(json.loads((data / "index.json").read_text())["dumps"]) == 1


def test_with_recipients_dumps_are_sealed_at_rest(
    proj: Path,
    project_name: str,
    run: Runner,
    age_key: AgeKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compose = proj / "compose.yaml"
    compose.write_text(compose.read_text() + f"  recipients: [{age_key.recipient}]\n")
    r1 = r1_then_r2(run, proj, project_name, "row-secret-one")
    (dump,) = (proj / ".cfgroll" / "data").rglob("*.zst.age")
    assert dump.read_bytes().startswith(b"age-encryption.org/v1")
    add_row(project_name, "row-two")
    monkeypatch.delenv("CFGROLL_IDENTITY", raising=False)
    assert run("rollback", r1, "--with-data", "--yes", *FAST) == 1
    assert "CFGROLL_IDENTITY" in run.err and rows(project_name) == "row-secret-one\nrow-two\n"
    monkeypatch.setenv("CFGROLL_IDENTITY", str(age_key.identity))
    assert run("rollback", r1, "--with-data", "--yes", *FAST) == 0, run.err
    assert rows(project_name) == "row-secret-one\n"


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_a_restore_cut_short_leaves_a_store_the_next_command_works_with(
    proj: Path, project_name: str, base_image: str, how: signal.Signals
) -> None:
    slow = '[sh, -c, "cat > /data/rows; sleep 60"]'
    write(proj, project_name, base_image, restore=slow)  # r1 restores slowly
    cfg = [sys.executable, "-m", "cfgroll"]
    assert (
        subprocess.run([*cfg, "deploy", *FAST, "-C", str(proj)], capture_output=True).returncode
        == 0
    )
    store = proj / ".cfgroll" / "store.git"
    r1 = live_tag(store)
    add_row(project_name, "row-one")
    write(proj, project_name, base_image)
    (proj / ".env").write_text("VERSION=2\n")
    assert (
        subprocess.run([*cfg, "deploy", *FAST, "-C", str(proj)], capture_output=True).returncode
        == 0
    )
    add_row(project_name, "row-two")
    code, rest = interrupted(
        proj, ["rollback", r1, "--with-data", "--yes", *FAST], "restoring db's data", how
    )
    if how == signal.SIGINT:
        # the transaction: the live release back, with the data it had
        assert code == 3, rest
        assert rows(project_name) == "row-one\nrow-two\n"
    git(store, "fsck", "--strict")
    done = subprocess.run([*cfg, "deploy", *FAST, "-C", str(proj)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
