"""A release holds the whole configuration: include, extends, COMPOSE_FILE in .env, env_files,
bind-mounted files and read-only folders, configs, secrets and tracked files are recorded,
diffed, checked and put back, and the containers see what was put back."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from cfgroll.cli.main import main
from tests.helpers import BASE_IMAGE, build_file_tree, containers, git, live_tag

pytestmark = pytest.mark.docker
FAST = ["--settle", "0.5", "--timeout", "60"]
SECRETS = ("s3cret-v1-value", "s3cret-v2-value")


def sleepers(project: str, **services: str) -> str:
    """A compose file whose services (name -> extra YAML lines) sleep, from the test image."""
    text = f"name: {project}\nservices:\n"
    for name, extra in services.items():
        text += f"  {name}:\n    image: {BASE_IMAGE}\n    init: true\n"
        text += '    command: ["sh", "-c", "exec sleep 3600"]\n'
        text += "".join(f"    {line}\n" for line in extra.splitlines())
    return text


def exec_in(project: str, service: str, *argv: str) -> str:
    (cid,) = containers(project, "--filter", f"label=com.docker.compose.service={service}")
    return subprocess.run(
        ["docker", "exec", cid, *argv], capture_output=True, text=True, check=True
    ).stdout


def seen(project: str) -> dict[str, str]:
    """What the containers read now, one entry per kind of file."""
    web = exec_in(
        project,
        "web",
        "sh",
        "-c",
        "cat /conf/app.conf /site/a.txt /site/b.txt /etc/motd; echo $BASE $MORE; "
        "head -c 7 /run/secrets/db_password; echo",
    ).split("\n")
    return {
        "bind file": web[0],
        "ro folder": web[1] + " " + web[2],
        "config": web[3],
        "extends env_file + COMPOSE_FILE from .env": web[4],
        "secret": web[5],
        "include env_file": exec_in(project, "api", "sh", "-c", "echo $API").strip(),
    }


def project_tree(project: str) -> dict[str, str | bytes]:
    return {
        "compose.yaml": f"""\
        name: {project}
        include: [inc/compose.yaml]
        x-cfgroll:
          track: [scripts/entry.sh]
        services:
          web:
            build: .
            init: true
            extends: {{file: base.yaml, service: base}}
            command: ["/entry.sh"]
            volumes:
              - ./conf/app.conf:/conf/app.conf:ro
              - ./site:/site:ro
              - ./data:/data
              - /etc/hostname:/host-hostname:ro
            configs: [{{source: motd, target: /etc/motd}}]
            secrets: [db_password]
        configs:
          motd: {{file: ./conf/motd.txt}}
        secrets:
          db_password: {{file: ./secrets/db_password.txt}}
        """,
        "compose.more.yaml": "services:\n  web:\n    environment:\n      MORE: ${MORE_VALUE}\n",
        ".env": "COMPOSE_FILE=compose.yaml:compose.more.yaml\nMORE_VALUE=more1\n",
        "base.yaml": "services:\n  base:\n    env_file: base.env\n",
        "base.env": "BASE=base1\n",
        "inc/compose.yaml": sleepers(project, api="env_file: api.env").split("\n", 1)[1],
        "inc/api.env": "API=api1\n",
        "Dockerfile": f"FROM {BASE_IMAGE}\nCOPY scripts/entry.sh /entry.sh\n",
        "scripts/entry.sh": "#!/bin/sh\n# v1\nexec sleep 3600\n",
        "conf/app.conf": "app1\n",
        "conf/motd.txt": "motd1\n",
        "site/a.txt": "a1\n",
        "site/b.txt": "b1\n",
        "data/keep.db": "rows1\n",
        "secrets/db_password.txt": "s3cret-v1-value\n",
    }


V2_EDITS = {
    "compose.more.yaml": None,  # unchanged file; MORE changes through .env
    ".env": "COMPOSE_FILE=compose.yaml:compose.more.yaml\nMORE_VALUE=more2\n",
    "base.env": "BASE=base2\n",
    "inc/api.env": "API=api2\n",
    "scripts/entry.sh": "#!/bin/sh\n# v2\nexec sleep 3600\n",
    "conf/app.conf": "app2\n",
    "conf/motd.txt": "motd2\n",
    "site/a.txt": "a2\n",
    "site/b.txt": "b2\n",
    "site/c.txt": "c2\n",  # a new file in the read-only folder
    "secrets/db_password.txt": "s3cret-v2-value\n",
}


def snapshot(proj: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of the project but the data folder and the store: content and mode."""
    found = {}
    for path in sorted(proj.rglob("*")):
        rel = path.relative_to(proj).as_posix()
        if path.is_file() and not rel.startswith((".cfgroll/", "data/")):
            found[rel] = (path.read_bytes(), path.stat().st_mode & 0o777)
    return found


def edit(proj: Path, changes: dict[str, str | None]) -> None:
    """Replace files the way editors do: a new file renamed over the old one."""
    for rel, text in changes.items():
        if text is None:
            continue
        path = proj / rel
        tmp = path.with_name(path.name + ".swp")
        tmp.write_text(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)


def test_every_kind_of_file_is_recorded_diffed_and_rolled_back(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = build_file_tree(tmp_path / "p", project_tree(project_name))
    os.chmod(proj / "scripts/entry.sh", 0o755)
    store = proj / ".cfgroll" / "store.git"
    printed: list[str] = []  # stdout then stderr of every command
    outs: list[str] = []

    def run(*args: str) -> int:
        code = main([*args, "-C", str(proj)])
        out, err = capsys.readouterr()
        printed.append(out + err)
        outs.append(out)
        return code

    assert run("deploy", *FAST) == 0
    v1 = live_tag(store)
    v1_files = snapshot(proj)
    v1_seen = seen(project_name)
    assert v1_seen == {
        "bind file": "app1",
        "ro folder": "a1 b1",
        "config": "motd1",
        "extends env_file + COMPOSE_FILE from .env": "base1 more1",
        "secret": "s3cret-",
        "include env_file": "api1",
    }
    recorded = git(store, "ls-tree", "-r", "--name-only", v1).split()
    for rel in project_tree(project_name):
        if rel.startswith("data/"):
            assert rel not in recorded
        elif rel != "Dockerfile":
            assert rel in recorded, rel
    assert "100755" in git(store, "ls-tree", v1, "scripts/entry.sh")

    # the service writes its data; people edit every kind of file
    (proj / "data/keep.db").write_text("rows2\n")
    edit(proj, V2_EDITS)
    assert run("status", "--json") == 0
    status = json.loads(outs[-1])
    drifted = {f["path"]: f["state"] for f in status["files"]}
    changed = {p for p, t in V2_EDITS.items() if t is not None}
    assert set(drifted) == changed and drifted["site/c.txt"] == "added"
    not_recorded = {(u["path"], u["reason"]) for u in status["not_recorded"]}
    assert ("data", "writable folder") in not_recorded
    assert ("/etc/hostname", "outside the project") in not_recorded
    assert run("diff") == 0
    for rel in changed:
        assert f"b/{rel}\t" in printed[-1], rel
    assert "a secrets: file, changed" in printed[-1]

    assert run("deploy", *FAST) == 0
    v2 = live_tag(store)
    assert seen(project_name) == {
        "bind file": "app2",
        "ro folder": "a2 b2",
        "config": "motd2",
        "extends env_file + COMPOSE_FILE from .env": "base2 more2",
        "secret": "s3cret-",
        "include env_file": "api2",
    }
    assert exec_in(project_name, "web", "cat", "/run/secrets/db_password") == "s3cret-v2-value\n"
    assert run("log", "-n", "1", "--json") == 0
    roles = json.loads(outs[-1])[0]["file_roles"]
    assert roles["site/c.txt"] == "mount" and roles["secrets/db_password.txt"] == "secret"
    assert set(roles) == changed
    assert run("log") == 0
    assert "conf/app.conf (mount)" in outs[-1]
    assert run("show", "live") == 0
    assert "secrets/db_password.txt  (secret, hidden)  <- web secret" in printed[-1]
    assert run("show", "live", "secrets/db_password.txt") == 0
    assert run("diff", v1, v2) == 0

    assert run("rollback", v1, "--yes", *FAST) == 0
    assert seen(project_name) == v1_seen
    assert exec_in(project_name, "web", "cat", "/run/secrets/db_password") == "s3cret-v1-value\n"
    assert snapshot(proj) == v1_files  # byte for byte, modes kept, site/c.txt gone
    assert (proj / "data/keep.db").read_text() == "rows2\n"  # data is not configuration
    assert run("status", "--check") == 0

    for text in printed:
        for secret in SECRETS:
            assert secret not in text


def test_a_changed_mounted_file_reaches_the_container(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only a bind-mounted file changes: Compose alone would leave the container running with
    the old file (the old inode, after an editor's rename), so cfgroll recreates it."""
    proj = build_file_tree(
        tmp_path / "p",
        {
            "compose.yaml": sleepers(
                project_name, app='volumes: ["./app.conf:/app.conf:ro"]', other=""
            ),
            "app.conf": "one\n",
        },
    )
    store = proj / ".cfgroll" / "store.git"
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    v1 = live_tag(store)
    other = containers(project_name, "--filter", "label=com.docker.compose.service=other")
    edit(proj, {"app.conf": "two\n"})
    capsys.readouterr()
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    assert "recreating app: files they mount changed" in capsys.readouterr().err
    assert exec_in(project_name, "app", "cat", "/app.conf") == "two\n"
    assert containers(project_name, "--filter", "label=com.docker.compose.service=other") == other

    assert main(["rollback", v1, "--yes", "-C", str(proj), *FAST]) == 0
    assert exec_in(project_name, "app", "cat", "/app.conf") == "one\n"
    assert (proj / "app.conf").read_text() == "one\n"


def test_a_file_over_the_limit_is_refused_before_anything_changes(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = build_file_tree(
        tmp_path / "p",
        {
            "compose.yaml": sleepers(project_name, app='volumes: ["./site:/site:ro"]'),
            "site/index.html": "v1\n",
        },
    )
    store = proj / ".cfgroll" / "store.git"
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    before = (containers(project_name), git(store, "tag"), snapshot(proj))
    (proj / "site/geo.db").write_bytes(b"\1" * (6 * 1024 * 1024))
    (proj / "site/index.html").write_text("v2\n")
    capsys.readouterr()
    assert main(["deploy", "-C", str(proj), *FAST]) == 1
    err = capsys.readouterr().err
    assert "site/geo.db (6.0 MiB) over the 5.0 MiB limit" in err and "x-cfgroll: ignore:" in err
    assert len(err.strip().splitlines()) == 1
    (proj / "site/index.html").write_text("v1\n")
    (proj / "site/geo.db").unlink()
    assert (containers(project_name), git(store, "tag"), snapshot(proj)) == before


def test_env_file_flag_is_recorded_and_rolled_back(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--env-file prod.env` replaces `.env` (as in Compose): recorded, and used again by the
    rollback even when it is not given then."""
    proj = build_file_tree(
        tmp_path / "p",
        {
            "compose.yaml": sleepers(project_name, app='environment: ["STAGE=${STAGE}"]'),
            ".env": "STAGE=dev\n",
            "prod.env": "STAGE=prod1\n",
        },
    )
    store = proj / ".cfgroll" / "store.git"
    deploy = ["deploy", "-C", str(proj), "--env-file", "prod.env", *FAST]
    assert main(deploy) == 0
    v1 = live_tag(store)
    assert exec_in(project_name, "app", "sh", "-c", "echo $STAGE") == "prod1\n"
    assert git(store, "ls-tree", "-r", "--name-only", v1).split() == [
        ".cfgroll/manifest.yaml",
        "compose.yaml",
        "prod.env",
    ]
    (proj / "prod.env").write_text("STAGE=prod2\n")
    assert main(deploy) == 0
    assert exec_in(project_name, "app", "sh", "-c", "echo $STAGE") == "prod2\n"
    assert main(["rollback", v1, "--yes", "-C", str(proj), *FAST]) == 0
    assert exec_in(project_name, "app", "sh", "-c", "echo $STAGE") == "prod1\n"
    assert (proj / "prod.env").read_text() == "STAGE=prod1\n"


@pytest.fixture
def mounted(tmp_path: Path, base_image: str, project_name: str) -> tuple[Path, str]:
    """`app` mounts app.conf; release v1 ("one") is live."""
    compose = sleepers(project_name, app='volumes: ["./app.conf:/app.conf:ro"]')
    proj = build_file_tree(tmp_path / "p", {"compose.yaml": compose, "app.conf": "one\n"})
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    return proj, live_tag(proj / ".cfgroll" / "store.git")


def test_rollback_keeps_an_unsaved_mounted_file_as_a_draft(
    mounted: tuple[Path, str], project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1 = mounted
    edit(proj, {"app.conf": "two\n"})
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    edit(proj, {"app.conf": "three, never deployed\n"})
    capsys.readouterr()
    assert main(["rollback", v1, "--yes", "-C", str(proj), *FAST]) == 0
    out = capsys.readouterr().out
    draft = out.split("your edits were saved as ")[1].split(";")[0]
    assert exec_in(project_name, "app", "cat", "/app.conf") == "one\n"
    assert main(["checkout", draft, "-C", str(proj)]) == 0
    assert (proj / "app.conf").read_text() == "three, never deployed\n"


def test_status_check_fails_on_a_drifted_mounted_file(
    mounted: tuple[Path, str], project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, _v1 = mounted
    assert main(["status", "--check", "-C", str(proj)]) == 0
    os.chmod(proj / "app.conf", 0o755)
    assert main(["status", "--check", "-C", str(proj)]) == 1
    assert "app.conf (mount)  mode changed" in capsys.readouterr().out
    os.chmod(proj / "app.conf", 0o644)
    (proj / "app.conf").write_text("edited in place\n")
    assert main(["status", "--check", "-C", str(proj)]) == 1
    assert "app.conf (mount)  modified" in capsys.readouterr().out
    (proj / "app.conf").write_text("one\n")
    assert main(["status", "--check", "-C", str(proj)]) == 0
