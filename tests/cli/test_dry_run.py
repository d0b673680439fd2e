"""`deploy --dry-run` on a real engine: it names what a deploy would change and changes
nothing (containers, images, store, served content, lock); a refused deploy exits 1."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from cfgroll.cli.main import main
from tests.helpers import DOCKERFILE, Runner, build_file_tree, git, http_get, web_compose

pytestmark = pytest.mark.docker
FAST = ["--settle", "0.5", "--timeout", "60"]


def state(proj: Path, project_name: str) -> tuple[str, ...]:
    """What a dry run must leave as it was: containers, images, the store's refs and files."""
    store = proj / ".cfgroll"
    label = f"label=com.docker.compose.project={project_name}"
    ps = ["docker", "ps", "-a", "--filter", label, "--format", "{{.ID}} {{.Image}} {{.State}}"]
    images = ["docker", "images", "--filter", f"reference={project_name}*"]
    images += ["--format", "{{.ID}} {{.Repository}}:{{.Tag}}"]
    listing = sorted(
        f"{Path(root, n).relative_to(store)} {os.stat(Path(root, n)).st_mtime_ns}"
        for root, _, names in os.walk(store)
        for n in names
    )
    return (
        subprocess.run(ps, capture_output=True, text=True, check=True).stdout,
        subprocess.run(images, capture_output=True, text=True, check=True).stdout,
        git(store / "store.git", "for-each-ref"),
        "\n".join(listing),
    )


def test_a_dry_run_names_the_change_and_changes_nothing(
    tmp_path: Path,
    base_image: str,
    project_name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = (
        "  worker:\n    image: " + base_image + "\n    init: true\n    command: [sleep, '3600']\n"
    )
    proj = build_file_tree(
        tmp_path / "shop",
        {
            "compose.yaml": web_compose(project_name, extra_services=worker),
            "Dockerfile": DOCKERFILE,
            ".env": "GREETING=v1\nDB_PASSWORD=hunter2-secret\n",
        },
    )
    cfg = Runner(proj, capsys)
    assert cfg("deploy", *FAST) == 0
    (proj / ".env").write_text("GREETING=v2-unseen\nDB_PASSWORD=hunter3-secret\n")
    before = state(proj, project_name)

    assert cfg("deploy", "--dry-run") == 0, cfg.err
    text = cfg.out
    assert ".env" in text and "changed DB_PASSWORD, GREETING" in text
    web = next(line for line in text.splitlines() if line.strip().startswith("web "))
    assert "recreate" in web and "configuration changed" in web
    assert "leave running" in next(line for line in text.splitlines() if "worker" in line)
    for secret in ("hunter2-secret", "hunter3-secret", "v2-unseen", "GREETING=v1"):
        assert secret not in text + cfg.err

    assert cfg("deploy", "--dry-run", "--json") == 0
    doc = json.loads(cfg.out)
    assert [f["path"] for f in doc["files"]] == [".env"]
    changes = {s["service"]: s["change"] for s in doc["services"]}
    assert changes == {"web": "recreate", "worker": "unchanged"}
    assert "hunter3-secret" not in cfg.out

    assert cfg("update", "web", "--dry-run") == 0
    assert "worker" in cfg.out and "not touched" in cfg.out

    assert state(proj, project_name) == before
    assert http_get(project_name) == "v1"

    # from a subfolder, the project is found as Compose finds it
    deeper = proj / "sub" / "deeper"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)
    assert main(["status"]) == 0
    assert f"live release {git(proj / '.cfgroll' / 'store.git', 'tag').split()[0]}" in (
        capsys.readouterr().out
    )

    # a deploy that would be refused: exit 1, the refusal, still nothing changed
    compose = proj / "compose.yaml"
    compose.write_text(compose.read_text() + "x-cfgroll:\n  track: [missing.conf]\n")
    before = state(proj, project_name)
    assert cfg("deploy", "--dry-run") == 1
    assert "missing.conf" in cfg.err
    assert state(proj, project_name) == before
