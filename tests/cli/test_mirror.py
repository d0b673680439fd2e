"""The mirror on a real engine, with the real age and a `git daemon` on loopback: two deploys
reach the mirror sealed; a mirror gone costs a deploy nothing but a warning, `doctor` names
what is not pushed and `cfgroll push` catches up; then the host is lost and `cfgroll clone`
brings it back, and `cfgroll deploy` serves the live release again."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cfgroll.cli.main import main
from tests.conftest import AgeKey
from tests.helpers import (
    DOCKERFILE,
    Runner,
    all_objects,
    build_file_tree,
    git,
    http_get,
    live_tag,
    web_compose,
)

pytestmark = pytest.mark.docker
FAST = ["--settle", "0.5", "--timeout", "60"]
PASSWORDS = ("pw-ONE-5f0c2d", "pw-TWO-9a7e41", "pw-THREE-c3b8e6")
TOKEN = "api-token-7d1f0b9e2c"


def project(root: Path, name: str, recipient: str) -> Path:
    web = web_compose(
        name,
        web_extra="secrets: [api_token]\n",
        extra_services=(
            "secrets:\n  api_token:\n    file: ./secrets/api_token\n"
            f"x-cfgroll:\n  recipients: [{recipient}]\n  track: [Dockerfile]\n"
            "  push_timeout: 5\n"
        ),
    )
    return build_file_tree(
        root,
        {
            "compose.yaml": web,
            "Dockerfile": DOCKERFILE,
            ".env": f"GREETING=v1\nDB_PASSWORD={PASSWORDS[0]}\n",
            "secrets/api_token": TOKEN,
        },
    )


def test_the_history_survives_the_host(
    tmp_path: Path,
    project_name: str,
    base_image: str,
    age_key: AgeKey,
    git_daemon: tuple[Path, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    served, base_url = git_daemon
    mirror_repo = served / "shop.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(mirror_repo)], check=True)
    url = f"{base_url}/shop.git"
    proj = project(tmp_path / "host" / "shop", project_name, age_key.recipient)

    run = Runner(proj, capsys)
    assert run("init") == 0
    assert run("mirror", url) == 0, run.err
    assert run("deploy", *FAST) == 0
    (proj / ".env").write_text(f"GREETING=v2\nDB_PASSWORD={PASSWORDS[1]}\n")
    assert run("deploy", *FAST) == 0
    assert "warning" not in run.err
    tags = [line.split()[0] for line in git(proj / ".cfgroll/store.git", "tag").splitlines()]
    assert len(tags) == 2

    # the mirror: both release tags, the compose file readable, no secret value in any object
    assert sorted(git(mirror_repo, "tag").split()) == sorted(tags)
    assert (
        git(mirror_repo, "show", f"{tags[1]}:compose.yaml") == (proj / "compose.yaml").read_text()
    )
    objects = all_objects(mirror_repo)
    for secret in (*PASSWORDS[:2], TOKEN):
        assert secret.encode() not in objects
    # on the host, the masked diff still says which keys changed
    assert run("diff", tags[0], tags[1]) == 0
    assert "DB_PASSWORD=***  (value changed)" in run.out and PASSWORDS[1] not in run.out
    assert run("mirror") == 0 and "secrets sealed with age to 1 recipient" in run.out

    # the mirror gone: the deploy still works, with one warning line
    shutil.move(mirror_repo, served.parent / "away.git")
    (proj / ".env").write_text(f"GREETING=v3\nDB_PASSWORD={PASSWORDS[2]}\n")
    assert run("deploy", *FAST) == 0
    warnings = [ln for ln in run.err.splitlines() if ln.startswith("warning")]
    assert len(warnings) == 1 and "the mirror was not updated" in warnings[0]
    live = live_tag(proj / ".cfgroll/store.git")
    assert run("doctor") == 1
    assert "mirror" in run.out and live in run.out and "cannot be reached" in run.out
    assert run("push") == 1
    assert run.err.startswith("error: could not push to the mirror")
    shutil.move(served.parent / "away.git", mirror_repo)
    assert run("push") == 0 and "pushed" in run.out
    assert run("doctor") == 0
    assert live in git(mirror_repo, "tag")

    # the host lost: containers down, images gone, project folder and store deleted
    kept = {p: (proj / p).read_bytes() for p in (".env", "secrets/api_token", "compose.yaml")}
    subprocess.run(
        ["docker", "compose", "-p", project_name, "down", "-t", "0"], capture_output=True
    )
    images = subprocess.run(
        ["docker", "images", "-q", "--filter", f"reference={project_name}*"],
        capture_output=True,
        text=True,
    ).stdout.split()
    subprocess.run(["docker", "rmi", "-f", *set(images)], capture_output=True)
    shutil.rmtree(tmp_path / "host")

    new = tmp_path / "newhost" / "shop"
    assert main(["clone", url, str(new), "--identity", str(age_key.identity)]) == 0
    capsys.readouterr()
    for path, data in kept.items():
        assert (new / path).read_bytes() == data
    run = Runner(new, capsys)
    assert run("deploy", *FAST) == 0, run.err
    assert http_get(project_name) == "v3"
    assert run("log") == 0
    for tag in (*tags, live):
        assert tag in run.out
