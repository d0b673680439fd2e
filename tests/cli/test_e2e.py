"""The walking skeleton on a real engine: deploy v1, deploy v2, roll back to v1."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cfgroll.cli.main import main
from tests.helpers import DOCKERFILE, build_file_tree, git, http_get, web_compose

pytestmark = pytest.mark.docker
FAST = ["--settle", "0.5", "--timeout", "60"]


def tags_of(store: Path) -> list[str]:
    return git(store, "tag", "--sort=creatordate").split()


def test_deploy_change_env_deploy_rollback(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = build_file_tree(
        tmp_path / "shop",
        {
            "compose.yaml": web_compose(project_name),
            "Dockerfile": DOCKERFILE,
            ".env": "GREETING=v1#not-a-comment\nDB_PASSWORD=hunter2-secret\n",
        },
    )
    store = proj / ".cfgroll" / "store.git"

    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    assert http_get(project_name) == "v1#not-a-comment"
    (v1,) = tags_of(store)
    assert v1.startswith("backup_")

    (proj / ".env").write_text("GREETING=v2\nDB_PASSWORD=hunter3-secret\n")
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    assert http_get(project_name) == "v2"
    v2 = tags_of(store)[-1]
    capsys.readouterr()

    assert main(["rollback", v1, "--yes", "-C", str(proj), *FAST]) == 0
    assert http_get(project_name) == "v1#not-a-comment"
    assert (proj / ".env").read_text().startswith("GREETING=v1#not-a-comment")
    tags = tags_of(store)
    assert len(tags) == 3 and tags[:2] == [v1, v2]

    # plain git makes sense of the store on its own
    assert "GREETING=v2" in git(store, "diff", v1, v2, "--", ".env")
    assert git(store, "show", f"{v1}:.env").startswith("GREETING=v1")
    assert git(store, "cat-file", "-t", tags[2]).strip() == "tag"  # annotated
    oneline = git(store, "log", "--oneline", "--decorate")
    assert f"tag: {tags[2]}" in oneline and "rollback to " + v1 in oneline
    subprocess.run(
        ["git", "--git-dir", str(store), "fsck", "--strict"], check=True, capture_output=True
    )
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(store), str(clone)], check=True)
    assert (clone / ".cfgroll" / "manifest.yaml").is_file()

    # every release tagged its images: <repository>:<tag>
    for tag in tags:
        subprocess.run(
            ["docker", "image", "inspect", f"{project_name}-web:{tag}"],
            check=True,
            capture_output=True,
        )

    # diffs never show a secret value unless asked
    capsys.readouterr()
    assert main(["diff", v1, v2, "-C", str(proj)]) == 0
    masked = capsys.readouterr().out
    assert "GREETING=***" in masked and "DB_PASSWORD=***" in masked
    for secret in ("hunter2-secret", "hunter3-secret", "v1#not-a-comment", "GREETING=v2"):
        assert secret not in masked
    assert main(["diff", v1, v2, "--show-secrets", "-C", str(proj)]) == 0
    shown = capsys.readouterr().out
    assert "-DB_PASSWORD=hunter2-secret" in shown and "+DB_PASSWORD=hunter3-secret" in shown

    # the store is private
    assert (store.stat().st_mode & 0o777) == 0o700
    assert (store.parent.stat().st_mode & 0o777) == 0o700


def test_log_show_json_and_aliases(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    proj = build_file_tree(
        tmp_path / "p",
        {
            "compose.yaml": web_compose(project_name),
            "Dockerfile": DOCKERFILE,
            ".env": "GREETING=one\n",
        },
    )
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    (proj / ".env").write_text("GREETING=two\n")
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    capsys.readouterr()

    assert main(["log", "--json", "-C", str(proj)]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [e["action"] for e in entries] == ["deploy", "deploy"]
    assert entries[0]["files_changed"] == [".env"]
    assert entries[0]["services_changed"] == ["web"]  # its environment changed

    assert main(["log", "-n", "1", "-C", str(proj)]) == 0
    text = capsys.readouterr().out
    assert entries[0]["tag"] in text and entries[1]["tag"] not in text

    assert main(["show", "previous", "--json", "-C", str(proj)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["tag"] == entries[1]["tag"]
    web = shown["services"]["web"]
    assert web["image"] == f"{project_name}-web"
    assert web["image_id"].startswith("sha256:")
    assert web["backup_ref"] == f"{project_name}-web:{shown['tag']}"
    for key in ("action", "result", "created_at", "commit"):
        assert shown[key]

    stamp = entries[1]["tag"].removeprefix("backup_")
    assert main(["show", stamp, ".env", "-C", str(proj)]) == 0
    assert capsys.readouterr().out.strip() == "GREETING=***"
