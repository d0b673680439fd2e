"""A fleet on real, separate engines (issue 38): three hosts, each a `dockerd` of its own in a
network namespace of its own (tests/hosts.py); host a is the canary and the only one with the
base image (so the others get the release's images sent from it); a is reached through a
docker context, b and c through their sockets' addresses."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from cfgroll.cli.main import main
from tests.helpers import DOCKERFILE, build_file_tree, git
from tests.hosts import Engine, start

pytestmark = pytest.mark.docker
FAST = ["--settle", "0.5", "--timeout", "30"]


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Iterator[list[Engine]]:
    root = Path(tempfile.mkdtemp(prefix="cfgf-", dir="/tmp"))  # short socket paths
    found: list[Engine] = []
    try:
        for name in ("a", "b", "c"):
            found.append(start(name, root / name))
        found[0].load(base_image)
        yield found
    finally:
        for engine in found:
            engine.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def docker_config(tmp_path: Path, hosts: list[Engine], monkeypatch: pytest.MonkeyPatch) -> None:
    """A docker context `fleet-a` for host a, as a user would make one."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    subprocess.run(
        ["docker", "context", "create", "fleet-a", "--docker", f"host={hosts[0].address}"],
        check=True,
        capture_output=True,
    )


def fleet_project(
    root: Path, name: str, hosts: list[Engine], command: str = "", fleet: str = "", extra: str = ""
) -> Path:
    """A project on the three hosts (a: the canary, through its context). `fleet`: lines of
    `x-cfgroll:` below `hosts:`; `extra`: lines of the web service."""
    endpoints = ["fleet-a", hosts[1].address, hosts[2].address]
    listed = "".join(
        f"    - name: {e.name}\n      endpoint: {endpoint}\n"
        + ("      groups: [canary]\n" if e.name == "a" else "")
        for e, endpoint in zip(hosts, endpoints, strict=True)
    )
    serve = command or 'echo "$$GREETING" > /www/index.html && exec httpd -f -p 8080 -h /www'
    compose = (
        f"name: {name}\nservices:\n  web:\n    build: .\n    init: true\n"
        f"    environment:\n      GREETING: ${{GREETING}}\n"
        f"    command: [sh, -c, {json.dumps(serve)}]\n"
        + textwrap.indent(textwrap.dedent(extra), "    ")
        + "x-cfgroll:\n  hosts:\n"
        + listed
        + textwrap.indent(textwrap.dedent(fleet), "  ")
    )
    return build_file_tree(
        root, {"compose.yaml": compose, "Dockerfile": DOCKERFILE, ".env": "GREETING=v1\n"}
    )


def on(engine: Engine, project: str) -> tuple[str, str]:
    """(what web serves, its image ID) on that host; ("", "") when it runs no web."""
    ids = engine.docker(
        "ps", "-q", "--filter", f"label=com.docker.compose.project={project}"
    ).stdout.split()
    if not ids:
        return "", ""
    served = engine.docker("exec", ids[0], "cat", "/www/index.html").stdout.strip()
    image = engine.docker("inspect", "-f", "{{.Image}}", ids[0]).stdout.strip()
    return served, image


def host_refs(store: Path) -> dict[str, str]:
    out = git(store, "for-each-ref", "--format=%(refname:lstrip=2) %(objectname)", "refs/hosts")
    return dict(line.split() for line in out.splitlines())


def row(out: str, host: str) -> list[str]:
    """`status`'s line for `host`: its release, its state, its drift."""
    for line in out.splitlines():
        words = line.split(maxsplit=3)
        if line.startswith("  ") and words and words[0] == host:
            return words[1:]
    raise AssertionError(f"no line for {host} in {out}")


def tag_of(store: Path, commit: str) -> str:
    return git(store, "describe", "--tags", "--exact-match", commit).strip()


def test_a_release_reaches_three_hosts_and_a_crash_stops_at_the_canary(
    tmp_path: Path,
    hosts: list[Engine],
    docker_config: None,
    project_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    proj = fleet_project(tmp_path / "p", project_name, hosts)
    store = proj / ".cfgroll" / "store.git"
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    out = capsys.readouterr().out
    refs = host_refs(store)
    assert sorted(refs) == ["a", "b", "c"] and len(set(refs.values())) == 1
    v1 = tag_of(store, refs["a"])
    assert f"deployed {v1} to the fleet" in out
    assert git(store, "rev-parse", "main").strip() == refs["a"]
    seen = {on(e, project_name) for e in hosts}
    assert len(seen) == 1 and next(iter(seen))[0] == "v1"  # same greeting, same image ID
    for e in hosts:
        assert e.docker("image", "inspect", f"{project_name}-web:{v1}").returncode == 0

    # a release whose web crashes: the canary fails its gate, rolls back, the rollout stops
    (proj / "compose.yaml").write_text(
        (proj / "compose.yaml").read_text().replace("exec httpd", "exit 3; exec httpd")
    )
    (proj / ".env").write_text("GREETING=v2\n")
    assert main(["deploy", "-C", str(proj), *FAST]) == 3
    err = capsys.readouterr().err
    assert "a failed" in err and "b not-started" in err and "c not-started" in err
    assert host_refs(store) == refs and git(store, "rev-parse", "main").strip() == refs["a"]
    assert {on(e, project_name) for e in hosts} == seen

    # status: one line per host, none drifted
    assert main(["status", "-C", str(proj)]) == 0
    out = capsys.readouterr().out
    for e in hosts:
        assert row(out, e.name) == [v1, "ok"]
    assert "drift: none" in out


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
    tmp_path: Path,
    hosts: list[Engine],
    docker_config: None,
    project_name: str,
    capsys: pytest.CaptureFixture[str],
    whole: bool,
) -> None:
    fleet = "" if whole else "fleet:\n  all_or_nothing: false\n"
    proj = fleet_project(tmp_path / "p", project_name, hosts, fleet=fleet)
    store = proj / ".cfgroll" / "store.git"
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    v1 = tag_of(store, host_refs(store)["a"])
    before = {e.name: on(e, project_name) for e in hosts}

    # v2 publishes a port that host c already has in use: a and b pass, c fails its start
    hosts[2].load("cfgroll-test-base:latest")
    blocker = occupy(hosts[2], 18080)
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
            assert {e.name: on(e, project_name) for e in hosts} == before
            assert "a undone" in err and "b undone" in err
            assert (proj / ".env").read_text() == "GREETING=v1\n"  # the project folder too
        else:
            v2 = tag_of(store, refs["a"])
            assert v2 != v1 and tag_of(store, refs["b"]) == v2 and tag_of(store, refs["c"]) == v1
            assert on(hosts[0], project_name)[0] == "v2" == on(hosts[1], project_name)[0]
            assert on(hosts[2], project_name) == before["c"]
            assert main(["status", "-C", str(proj), "--check"]) == 1
            out, err = capsys.readouterr()
            assert not err
            assert row(out, "c") == [v1, "DRIFT", f"not on the fleet's release {v2}"]
            assert row(out, "a") == [v2, "ok"] == row(out, "b")
        assert tag_of(store, "main") == (v1 if whole else v2)
    finally:
        hosts[2].docker("rm", "-f", blocker)
