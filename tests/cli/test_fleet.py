"""A fleet on real, separate engines (issue 38): three hosts, each a `dockerd` of its own in a
network namespace of its own (tests/hosts.py); host a is the canary and the only one with the
base image (so the others get the release's images sent from it); a is reached through a
docker context, b and c through their sockets' addresses."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from cfgroll.cli.main import main
from tests.fleet import FAST, Fleet, context, host_refs, on, row, tag_of
from tests.helpers import REPO_ROOT, doc_recipe, git
from tests.hosts import Engine, start

pytestmark = pytest.mark.docker


def test_a_release_reaches_three_hosts_and_a_crash_stops_at_the_canary(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = fleet.project()
    store = proj / ".cfgroll" / "store.git"
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    out = capsys.readouterr().out
    refs = host_refs(store)
    assert sorted(refs) == ["a", "b", "c"] and len(set(refs.values())) == 1
    v1 = tag_of(store, refs["a"])
    assert f"deployed {v1} to the fleet" in out
    assert git(store, "rev-parse", "main").strip() == refs["a"]
    seen = {on(e, fleet.name) for e in fleet.hosts}
    assert len(seen) == 1 and next(iter(seen))[0] == "v1"  # same greeting, same image ID
    for e in fleet.hosts:
        assert e.docker("image", "inspect", f"{fleet.name}-web:{v1}").returncode == 0

    # a release whose web crashes: the canary fails its gate, rolls back, the rollout stops
    (proj / "compose.yaml").write_text(
        (proj / "compose.yaml").read_text().replace("exec httpd", "exit 3; exec httpd")
    )
    (proj / ".env").write_text("GREETING=v2\n")
    assert main(["deploy", "-C", str(proj), *FAST]) == 3
    err = capsys.readouterr().err
    assert "a failed" in err and "b not-started" in err and "c not-started" in err
    assert host_refs(store) == refs and git(store, "rev-parse", "main").strip() == refs["a"]
    assert {on(e, fleet.name) for e in fleet.hosts} == seen

    # status: one line per host, none drifted
    assert main(["status", "-C", str(proj)]) == 0
    out = capsys.readouterr().out
    for e in fleet.hosts:
        assert row(out, e.name) == [v1, "ok"]
    assert "drift: none" in out


def assert_the_docs_error_reads_as(err: str) -> None:
    """docs/fleet.md's sample error reads as this one does, up to c's own reason (its
    release names from another run)."""
    doc = (REPO_ROOT / "docs" / "fleet.md").read_text()
    shown = next(line for line in doc.splitlines() if line.startswith("error: fleet deploy"))
    printed = next(line for line in err.splitlines() if line.startswith("error: fleet deploy"))

    def shape(line: str) -> str:
        return re.sub(r"backup_\d{8}_\d{6}(_\d+)?", "TAG", line).split("): deploy failed")[0]

    assert shape(printed) == shape(shown), (printed, shown)


def occupy(engine: Engine, port: int) -> str:
    """A container of no project holding `port` on that host (what makes its deploy fail)."""
    serve = "mkdir -p /w && exec httpd -f -p 80 -h /w"
    ran = engine.docker(
        "run", "-d", "--init", "-p", f"127.0.0.1:{port}:80", "cfgroll-test-base:latest", "sh",
        "-c", serve,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.strip()


@pytest.mark.parametrize("whole", [True, False], ids=["all-or-nothing", "each-keeps-its-own"])
def test_a_release_that_fails_on_the_third_host(
    fleet: Fleet, capsys: pytest.CaptureFixture[str], whole: bool
) -> None:
    settings = "" if whole else "fleet:\n  all_or_nothing: false\n"
    proj = fleet.project(fleet=settings)
    store = proj / ".cfgroll" / "store.git"
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    v1 = tag_of(store, host_refs(store)["a"])
    before = {e.name: on(e, fleet.name) for e in fleet.hosts}

    # v2 publishes a port that host c already has in use: a and b pass, c fails its start
    fleet.hosts[2].load("cfgroll-test-base:latest")
    blocker = occupy(fleet.hosts[2], 18080)
    try:
        compose = (proj / "compose.yaml").read_text()
        compose = compose.replace(
            "    init: true\n", '    init: true\n    ports: ["127.0.0.1:18080:8080"]\n'
        )
        (proj / "compose.yaml").write_text(compose)
        (proj / ".env").write_text("GREETING=v2\n")
        assert main(["deploy", "-C", str(proj), *FAST]) == 3
        err = capsys.readouterr().err
        assert "c failed" in err
        refs = host_refs(store)
        if whole:
            assert {tag_of(store, c) for c in refs.values()} == {v1}
            assert {e.name: on(e, fleet.name) for e in fleet.hosts} == before
            assert "a undone" in err and "b undone" in err
            assert (proj / ".env").read_text() == "GREETING=v1\n"  # the project folder too
            assert_the_docs_error_reads_as(err)
        else:
            v2 = tag_of(store, refs["a"])
            assert v2 != v1 and tag_of(store, refs["b"]) == v2 and tag_of(store, refs["c"]) == v1
            assert on(fleet.hosts[0], fleet.name)[0] == "v2" == on(fleet.hosts[1], fleet.name)[0]
            assert on(fleet.hosts[2], fleet.name) == before["c"]
            assert main(["status", "-C", str(proj), "--check"]) == 1
            out, err = capsys.readouterr()
            assert not err
            assert row(out, "c") == [v1, "DRIFT", f"not on the fleet's release {v2}"]
            assert row(out, "a") == [v2, "ok"] == row(out, "b")
        assert tag_of(store, "main") == (v1 if whole else v2)
    finally:
        fleet.hosts[2].docker("rm", "-f", blocker)


def test_an_unreachable_host_refuses_the_deploy_or_is_missed_until_the_next(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    context(["create", "fleet-c", "--docker", f"host={fleet.hosts[2].address}"])
    proj = fleet.project(c="fleet-c")
    store = proj / ".cfgroll" / "store.git"
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    v1 = tag_of(store, "main")
    seen = {e.name: on(e, fleet.name) for e in fleet.hosts}
    capsys.readouterr()

    # host c's engine is gone (its context names a socket nothing answers on): refused before
    # anything changes
    context(["update", "fleet-c", "--docker", f"host=unix://{fleet.root}/gone.sock"])
    (proj / ".env").write_text("GREETING=v2\n")
    tags = git(store, "tag").split()
    assert main(["deploy", "-C", str(proj), *FAST]) == 1
    err = capsys.readouterr().err
    assert "cannot reach host(s) c" in err and "nothing was changed" in err
    assert git(store, "tag").split() == tags
    assert {e.name: on(e, fleet.name) for e in fleet.hosts} == seen

    # --skip-unreachable: a and b get v2, c is missed and shows as drift
    assert main(["deploy", "-C", str(proj), "--skip-unreachable", *FAST]) == 0
    out = capsys.readouterr().out
    v2 = tag_of(store, "main")
    assert v2 != v1 and "c missed" in out and "not on every host" in out
    assert "fleet deploy missed: c" in git(store, "notes", "show", v2 + "^{commit}")
    assert main(["status", "-C", str(proj), "--check"]) == 1
    out = capsys.readouterr().out
    assert row(out, "a") == [v2, "ok"] and row(out, "c")[:2] == [v1, "DRIFT"]
    assert "unreachable" in row(out, "c")[2]

    # c is back: the next deploy (nothing changed) brings it to v2, the others stay
    context(["update", "fleet-c", "--docker", f"host={fleet.hosts[2].address}"])
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    out = capsys.readouterr().out
    assert "a unchanged" in out and "c deployed" in out
    assert {tag_of(store, c) for c in host_refs(store).values()} == {v2}
    assert len({on(e, fleet.name) for e in fleet.hosts}) == 1

    # rollback: one host, then the whole fleet
    assert main(["rollback", v1, "--hosts", "b", "--yes", "-C", str(proj), *FAST]) == 0
    capsys.readouterr()
    refs = host_refs(store)
    back = tag_of(store, refs["b"])
    assert tag_of(store, refs["a"]) == v2 == tag_of(store, refs["c"]) and back not in (v1, v2)
    assert on(fleet.hosts[1], fleet.name) == seen["b"] and on(fleet.hosts[0], fleet.name)[0] == "v2"
    assert (proj / ".env").read_text() == "GREETING=v2\n"  # the project folder is the fleet's
    assert tag_of(store, "main") == v2

    assert main(["rollback", "previous", "--yes", "-C", str(proj), *FAST]) == 0
    out = capsys.readouterr().out
    assert "a rolled-back" in out and "b unchanged" not in out
    assert {on(e, fleet.name)[0] for e in fleet.hosts} == {"v1"}
    last = host_refs(store)
    assert len({last["a"], last["c"]}) == 1 and tag_of(store, "main") == tag_of(store, last["a"])
    assert (proj / ".env").read_text() == "GREETING=v1\n"
    assert main(["log", "--host", "b", "-C", str(proj)]) == 0
    assert back in capsys.readouterr().out


def test_ctrl_c_in_the_middle_of_the_rollout_takes_the_fleet_back(fleet: Fleet) -> None:
    proj = fleet.project()
    store = proj / ".cfgroll" / "store.git"
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    v1 = tag_of(store, "main")
    seen = {e.name: on(e, fleet.name) for e in fleet.hosts}
    (proj / ".env").write_text("GREETING=v2\n")
    argv = [sys.executable, "-m", "cfgroll", "deploy", "-C", str(proj), "--settle", "5"]
    run = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    assert run.stderr is not None
    lines = []
    for line in run.stderr:  # Ctrl-C while host b (after the canary a) waits in its gate
        lines.append(line)
        if line.startswith("    [b] ==> waiting"):
            run.send_signal(signal.SIGINT)
            break
    rest = run.communicate(timeout=120)[1]
    said = "".join(lines) + rest
    assert run.returncode == 3, said
    assert "interrupted" in said and "a undone" in said and "c not-started" in said, said
    assert "b failed" in said  # told once, it rolled itself back (not finished, then undone)
    assert {tag_of(store, c) for c in host_refs(store).values()} == {v1}
    assert {e.name: on(e, fleet.name) for e in fleet.hosts} == seen
    assert tag_of(store, "main") == v1


def test_three_hosts_in_one_wave_record_one_release(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = "fleet:\n  canary: front\n  parallel: 3\n"  # no host in `front`: one wave of three
    proj = fleet.project(fleet=settings)
    store = proj / ".cfgroll" / "store.git"
    for greeting in ("v1", "v2"):
        (proj / ".env").write_text(f"GREETING={greeting}\n")
        assert main(["deploy", "-C", str(proj), *FAST]) == 0
        assert "deploying to a, b, c (wave 1)" in capsys.readouterr().err
        refs = host_refs(store)
        assert len(set(refs.values())) == 1 and git(store, "rev-parse", "main").strip() in (
            refs.values()
        )
        assert {on(e, fleet.name)[0] for e in fleet.hosts} == {greeting}
    assert len(git(store, "tag", "-l", "backup_*").split()) == 2


def test_the_docs_recipe_as_written(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/fleet.md's `x-cfgroll:` block, as written: its contexts are made to name the
    three test hosts; the canary goes first and is watched (`soak: 5`), then two at a time;
    edge-2 reads its own env file."""
    for i, engine in enumerate(fleet.hosts, 1):
        context(["create", f"edge-{i}", "--docker", f"host={engine.address}"])
    block = doc_recipe(REPO_ROOT / "docs" / "fleet.md", "fleet")
    proj = fleet.project()
    compose = (proj / "compose.yaml").read_text()
    (proj / "compose.yaml").write_text(compose[: compose.index("x-cfgroll:")] + block)
    (proj / "hosts").mkdir()
    (proj / "hosts" / "edge-2.env").write_text("GREETING=edge-2\n")
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    err = capsys.readouterr().err
    steps = [line for line in err.splitlines() if line.startswith("==> ")]
    order = [
        "==> deploying to edge-1 (the canary)",
        "==> watching the canary for 5 s (soak)",
        "==> deploying to edge-2, edge-3 (wave 2)",
    ]
    assert [s for s in steps if s in order] == order, steps
    store = proj / ".cfgroll" / "store.git"
    assert sorted(host_refs(store)) == ["edge-1", "edge-2", "edge-3"]
    assert len(set(host_refs(store).values())) == 1
    assert [on(e, fleet.name)[0] for e in fleet.hosts] == ["v1", "edge-2", "v1"]
    assert main(["status", "-C", str(proj)]) == 0
    out = capsys.readouterr().out
    doc = (REPO_ROOT / "docs" / "fleet.md").read_text()
    shown = doc[doc.index("$ cfgroll status") :].split("```")[0].splitlines()[1:]
    # the doc shows the lines status prints, in its order (its figures from another run)
    printed = out.splitlines()
    assert [line.split()[0] for line in shown[:3]] == [line.split()[0] for line in printed[:3]]
    assert shown[4].split() == ["HOST", "RELEASE", "STATE"] == printed[4].split()


def test_a_host_whose_engine_dies_in_the_middle_is_named_and_the_rest_go_back(
    fleet: Fleet,
) -> None:
    """Host c's engine is killed while c waits in its gate: c cannot be put back (exit 4,
    named), a and b, already on the new release, go back to the one before."""
    root = Path(tempfile.mkdtemp(prefix="cfgd-", dir="/tmp"))
    doomed = start("d", root / "d")
    try:
        proj = fleet.project(c=doomed.address)
        store = proj / ".cfgroll" / "store.git"
        assert main(["deploy", "-C", str(proj), *FAST]) == 0
        v1 = tag_of(store, "main")
        (proj / ".env").write_text("GREETING=v2\n")
        argv = [sys.executable, "-m", "cfgroll", "deploy", "-C", str(proj), "--settle", "5"]
        run = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        assert run.stderr is not None
        lines = []
        for line in run.stderr:
            lines.append(line)
            if line.startswith("    [c] ==> waiting"):
                os.killpg(doomed.process.pid, signal.SIGKILL)
                break
        said = "".join(lines) + run.communicate(timeout=180)[1]
        assert run.returncode == 4, said
        assert "c broken" in said and "a undone" in said and "b undone" in said, said
        refs = host_refs(store)
        assert tag_of(store, refs["a"]) == v1 == tag_of(store, refs["b"])
        assert {on(e, fleet.name)[0] for e in fleet.hosts[:2]} == {"v1"}
        assert tag_of(store, "main") == v1
    finally:
        if doomed.process.poll() is not None:  # started again, it stops what it left running
            doomed = start("d", root / "d")
        doomed.stop()
        shutil.rmtree(root, ignore_errors=True)
