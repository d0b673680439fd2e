"""Retention, digests and import on a real engine: `prune` over a 12-release history, prune
after each release with `keep:`, a registry-backed image pulled back by digest, and the old
scripts' `.backup/` folders imported and rolled back to."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.helpers import (
    BASE_IMAGE,
    DOCKERFILE,
    Runner,
    build_file_tree,
    containers,
    git,
    http_get,
    image_id,
    live_tag,
    web_compose,
)

pytestmark = pytest.mark.docker
FAST = ["--settle", "0.3", "--timeout", "60"]


def exists(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode == 0


def deploy_version(run: Runner, n: int) -> str:
    """Deploy version `n`: its own image (a distinct layer) and GREETING."""
    # the folder in the layer: no other test's build can share this image (cache hits would)
    (run.proj / "Dockerfile").write_text(DOCKERFILE + f"RUN echo {run.proj} {n} > /version\n")
    (run.proj / ".env").write_text(f"GREETING=v{n}\n")
    assert run("deploy", *FAST) == 0, run.err
    return live_tag(run.store)


def test_prune_keeps_live_last_good_pinned_and_used_images_and_never_a_way_back(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = build_file_tree(tmp_path / "p", {"compose.yaml": web_compose(project_name)})
    run = Runner(proj, capsys)
    tags = [deploy_version(run, n) for n in range(1, 13)]
    ids = [image_id(f"{project_name}-web:{t}") for t in tags]
    assert len(set(ids)) == 12
    assert run("pin", tags[2]) == 0 and f"pinned {tags[2]}" in run.out
    other = f"{project_name}-other"  # another project's container runs release 2's image
    subprocess.run(
        ["docker", "run", "-d", "--init", "--name", other, ids[1], "sleep", "3600"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        assert run("prune", "--keep", "3", "--dry-run") == 0
        assert "would remove the image tags of 8 release(s) (keep 3):" in run.out
        assert "would remove 7 image(s) no tag and no container uses" in run.out
        assert f"{tags[10]} (last good)" in run.out and f"{tags[2]} (pinned)" in run.out
        assert all(exists(f"{project_name}-web:{t}") for t in tags)  # a dry run changes nothing

        assert run("prune", "--keep", "3", "--yes") == 0, run.err
        assert "pruned 8 release(s): removed 7 image(s)" in run.out
        beyond = [0, 1, 3, 4, 5, 6, 7, 8]
        for i, tag in enumerate(tags):
            assert exists(f"{project_name}-web:{tag}") == (i not in beyond), tag
            assert exists(ids[i]) == (i not in beyond or i == 1), tag  # 2: a container uses it
        assert len(git(run.store, "log", "--oneline", "main").splitlines()) == 12

        assert run("log", "--json", "-n", "20") == 0
        marks = {e["tag"]: (e["images"], e["pinned"]) for e in json.loads(run.out)}
        for i, tag in enumerate(tags):
            assert marks[tag] == ("no" if i in beyond and i != 1 else "yes", i == 2), tag
        assert run("log") == 0 and f"{tags[2]} (pinned)" in run.out

        # a rollback to a pruned, locally built release fails before anything changes
        before = containers(project_name)
        assert run("rollback", tags[4], "--yes", *FAST) == 1
        assert f"release {tags[4]} can no longer be restored" in run.err
        assert f"`cfgroll checkout {tags[4]}`" in run.err
        assert containers(project_name) == before and live_tag(run.store) == tags[11]

        assert run("unpin", tags[2]) == 0 and f"unpinned {tags[2]}" in run.out
        assert run("prune", "--keep", "3", "--yes") == 0
        assert not exists(ids[2])
        assert run("prune", "--keep", "3") == 0 and "nothing to prune" in run.out
    finally:
        subprocess.run(["docker", "rm", "-f", other], capture_output=True)


def test_keep_prunes_after_every_release(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    compose = web_compose(project_name) + "x-cfgroll:\n  keep: 2\n"
    proj = build_file_tree(tmp_path / "p", {"compose.yaml": compose})
    run = Runner(proj, capsys)
    tags = [deploy_version(run, 1), deploy_version(run, 2)]
    ids = [image_id(f"{project_name}-web:{t}") for t in tags]
    assert "pruned" not in run.err
    tags.append(deploy_version(run, 3))
    assert "==> pruned the image tags of 1 old release(s) (keep: 2), removed 1 image(s)" in run.err
    assert not exists(ids[0]) and exists(ids[1])
    assert run("rollback", tags[1], "--yes", *FAST) == 0  # prunes after a rollback too
    assert exists(ids[1]) and http_get(project_name) == "v2"


def test_a_pruned_registry_image_is_pulled_back_by_digest(
    tmp_path: Path,
    base_image: str,
    project_name: str,
    registry: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = f"{registry}/{project_name}-web"
    try:
        pulled_back(tmp_path, project_name, repo, capsys)
    finally:  # the project fixture removes `<project>*` images; these are named by registry
        refs = subprocess.run(
            ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", repo],
            capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        if refs:
            subprocess.run(["docker", "rmi", "-f", *refs], capture_output=True)


def pulled_back(
    tmp_path: Path, project_name: str, repo: str, capsys: pytest.CaptureFixture[str]
) -> None:
    build = tmp_path / "build"
    build.mkdir()
    for n in (1, 2, 3):
        (build / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nRUN echo {repo} {n} > /version\n")
        subprocess.run(["docker", "build", "-q", "-t", f"{repo}:{n}", str(build)],
                       check=True, capture_output=True)  # fmt: skip
        subprocess.run(["docker", "push", f"{repo}:{n}"], check=True, capture_output=True)
    compose = (
        f"name: {project_name}\nservices:\n  web:\n    image: {repo}:${{WEB}}\n    init: true\n"
        '    command: ["sh", "-c", "exec sleep 3600"]\n'
    )
    proj = build_file_tree(tmp_path / "p", {"compose.yaml": compose, ".env": "WEB=1\n"})
    run = Runner(proj, capsys)
    tags = []
    for n in (1, 2, 3):
        (proj / ".env").write_text(f"WEB={n}\n")
        assert run("deploy", *FAST) == 0, run.err
        tags.append(live_tag(run.store))
    first = image_id(f"{repo}:1")
    manifest = git(run.store, "show", f"{tags[0]}:.cfgroll/manifest.yaml")
    assert f"repo_digest: {repo}@sha256:" in manifest
    assert run("prune", "--keep", "1", "--yes") == 0  # 1 is beyond; 2 is the last good
    subprocess.run(["docker", "rmi", f"{repo}:1"], check=True, capture_output=True)
    assert not exists(first)

    assert run("log", "--json") == 0
    assert {e["tag"]: e["images"] for e in json.loads(run.out)}[tags[0]] == "pull"
    assert run("log") == 0 and "pull" in run.out
    assert run("rollback", tags[0], "--dry-run") == 0
    assert f"pulled by digest {repo}@sha256:" in run.out
    assert run("rollback", tags[0], "--yes", *FAST) == 0, run.err
    assert "==> pulling 1 image(s) of" in run.err
    (cid,) = containers(project_name)
    running = subprocess.run(
        ["docker", "inspect", "-f", "{{.Image}}", cid], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert running == first


# -- import of the old scripts' backups ---------------------------------------------------------


def local_stamp_to_tag(stamp: str) -> str:
    moment = datetime.strptime(stamp, "%Y%m%d_%H%M%S").astimezone().astimezone(timezone.utc)
    return f"backup_{moment:%Y%m%d_%H%M%S}"


def test_import_of_old_backups_then_rollback_to_one(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = build_file_tree(
        tmp_path / "p",
        {
            "docker-compose.yml": web_compose(project_name),
            "Dockerfile": DOCKERFILE,
            ".env": "GREETING=now\n",
        },
    )
    compose = web_compose(project_name).encode()
    backup = proj / ".backup"
    build_file_tree(
        backup,
        {
            "20240129_143052/docker-compose.yml": compose.replace(b"\n", b"\r\n"),
            "20240129_143052/.env": b"\xef\xbb\xbfGREETING=old1\r\n",
            "20240129_143052/containers.json": json.dumps(
                [{"Name": f"{project_name}-web-1", "Service": "web", "State": "running"}]
            ),
            "update_20240129_153022/docker-compose.yml": compose,
            "update_20240129_153022/.env": "GREETING=old2\n",
            "update_20240129_153022/services.json": '["web"]',
            "update_20240129_153022/containers.json": "NAME   IMAGE   STATUS\nx  y  Up\n",
            "20240130_090000/.env": "GREETING=lost\n",  # the compose file is missing
            "notes/readme.txt": "not a backup\n",
        },
    )
    old_tag = "web:backup_20240129_153022"  # as the old update script tagged it
    build = tmp_path / "build"
    build.mkdir()
    (build / "Dockerfile").write_text(DOCKERFILE + f"RUN echo {build} old2 > /version\n")
    subprocess.run(["docker", "build", "-q", "-t", old_tag, str(build)], check=True,
                   capture_output=True)  # fmt: skip
    run = Runner(proj, capsys)
    try:
        assert run("import", ".backup", "--dry-run") == 0, run.err
        assert "would import 20240129_143052" in run.out
        assert not run.store.exists()

        assert run("import", str(backup)) == 0, run.err
        first, update = local_stamp_to_tag("20240129_143052"), local_stamp_to_tag("20240129_153022")
        assert f"imported 20240129_143052 as {first} (deploy; images: files only)" in run.out
        assert f"imported update_20240129_153022 as {update} (update; images: web)" in run.out
        assert "skipped 20240130_090000: no docker-compose.yml in it; not imported" in run.err
        assert "skipped notes: not a backup folder" in run.err
        assert "note: 20240129_143052: .env has a UTF-8 BOM and CRLF line ends; kept" in run.err
        assert "note: update_20240129_153022: containers.json is not JSON" in run.err
        kept = subprocess.run(
            ["git", "--git-dir", str(run.store), "cat-file", "blob", f"{first}:.env"],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
        assert kept == b"\xef\xbb\xbfGREETING=old1\r\n"  # the history holds what was there
        history = git(run.store, "log", "--format=%s", "main").splitlines()
        assert history == [
            "import: update of web backup update_20240129_153022",
            "import: deploy backup 20240129_143052",
        ]
        assert (backup / "20240129_143052" / ".env").read_bytes().startswith(b"\xef\xbb\xbf")

        assert run("import", ".backup") == 1  # nothing imported, a folder refused
        assert "2 folder(s) were imported before" in run.out and "nothing to import" in run.out
        assert len(git(run.store, "log", "--oneline", "main").splitlines()) == 2

        assert run("rollback", first, "--yes", *FAST) == 2
        assert "imported as files only" in run.err
        assert run("rollback", update, "--yes", *FAST) == 0, run.err
        assert http_get(project_name) == "old2"
        assert (proj / ".env").read_text() == "GREETING=old2\n"
        assert run("deploy", *FAST) == 0  # cfgroll's own releases go on top
        assert len(git(run.store, "log", "--oneline", "main").splitlines()) == 4
        assert run("import", ".backup") == 1 and "nothing to import" in run.out
    finally:
        subprocess.run(["docker", "rmi", old_tag], capture_output=True)
