"""What a newcomer meets first: `show` without a tag, shell completion, the example's base
image on any host, and a deploy that changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cfgroll.cli.main import main
from cfgroll.store.files import FileData
from cfgroll.store.repo import Store
from tests.helpers import (
    DOCKERFILE,
    REPO_ROOT,
    build_file_tree,
    git,
    live_tag,
    web_compose,
    write_release,
)

FAST = ["--settle", "0.3", "--timeout", "60"]


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, list[str]]:
    proj = build_file_tree(
        tmp_path / "p",
        {"compose.yaml": "services:\n  web: {image: x}\n  worker: {image: y}\n"},
    )
    store, _ = Store.create(proj / ".cfgroll" / "store.git")
    compose = FileData((proj / "compose.yaml").read_bytes())
    tags = [write_release(store, n, {"compose.yaml": compose}) for n in (1, 2, 3)]
    return proj, tags


def test_show_without_a_tag_shows_the_live_release(
    history: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    proj, tags = history
    assert main(["show", "-C", str(proj)]) == 0
    assert capsys.readouterr().out.startswith(f"release {tags[-1]}")
    assert main(["show", "--json", "-C", str(proj)]) == 0
    assert json.loads(capsys.readouterr().out)["tag"] == tags[-1]


def complete(proj: Path, words: str) -> list[str]:
    """What bash completion offers for `words` (the last one being typed)."""
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {**os.environ, "_CFGROLL_COMPLETE": "complete_bash", "COMP_WORDS": words}
    env["COMP_CWORD"] = str(cword)
    out = subprocess.run(
        [sys.executable, "-m", "cfgroll"], cwd=proj, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_completion_offers_release_tags_newest_first(history: tuple[Path, list[str]]) -> None:
    proj, tags = history
    assert complete(proj, "cfgroll rollback ") == [*reversed(tags), "live", "previous"]
    assert complete(proj, "cfgroll show backup_") == list(reversed(tags))
    assert complete(proj, "cfgroll diff p") == ["previous"]


def test_completion_is_installable_for_the_usual_shells(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "--install-completion" in text and "--show-completion" in text
    # `--show-completion` detects the shell from the parent processes; the script for a named
    # shell is what it prints, asked for directly (a test has no shell parent to detect)
    for shell in ("bash", "zsh", "fish", "powershell"):
        script = subprocess.run(
            [sys.executable, "-m", "cfgroll"],
            env={**os.environ, "_CFGROLL_COMPLETE": f"source_{shell}"},
            capture_output=True,
            text=True,
        )
        assert script.returncode == 0 and "_CFGROLL_COMPLETE" in script.stdout, shell


@pytest.mark.docker
def test_completion_offers_service_names(history: tuple[Path, list[str]]) -> None:
    proj, _ = history
    assert complete(proj, "cfgroll update ") == ["web", "worker"]
    assert complete(proj, "cfgroll log w") == ["web", "worker"]
    assert complete(proj, "cfgroll rollback live --services web,") == ["web,worker"]


FAKE_DOCKER = """\
#!/bin/sh
echo "$*" >> "$DOCKER_LOG"
case "$1 $2" in "image inspect") exit 1;; esac
[ "$1" = import ] && cat > /dev/null
exit 0
"""


@pytest.mark.parametrize("has_busybox", [True, False])
def test_the_example_base_image_with_or_without_a_static_busybox(
    tmp_path: Path, has_busybox: bool
) -> None:
    """Offline hosts import the machine's static busybox; any other host (Docker Desktop)
    pulls the pinned image. A fake `docker` records what the script asks of it."""
    bin_dir = build_file_tree(tmp_path / "bin", {"docker": FAKE_DOCKER})
    os.chmod(bin_dir / "docker", 0o755)
    if not has_busybox:  # a busybox that is not static would not run alone in an image
        os.symlink(subprocess.run(["sh", "-c", "command -v ls"], capture_output=True,
                                  text=True).stdout.strip(), bin_dir / "busybox")  # fmt: skip
    elif not subprocess.run(["sh", "-c", "command -v busybox"], capture_output=True).stdout:
        pytest.skip("no busybox on this machine")
    log = tmp_path / "docker.log"
    run = subprocess.run(
        ["bash", str(REPO_ROOT / "examples" / "make-base-image.sh")],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "DOCKER_LOG": str(log)},
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    calls = log.read_text().splitlines()
    if has_busybox:
        assert calls[-1] == "import - cfgroll-example-base:latest"
        assert "no registry needed" in run.stdout
    else:
        assert calls[1:] == [
            "pull -q busybox:1.36.1",
            "tag busybox:1.36.1 cfgroll-example-base:latest",
        ]
        assert "made cfgroll-example-base:latest from busybox:1.36.1 (pulled)" in run.stdout


@pytest.mark.docker
def test_a_deploy_that_changes_nothing_records_nothing_unless_asked(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = {"compose.yaml": web_compose(project_name), "Dockerfile": DOCKERFILE}
    proj = build_file_tree(tmp_path / "p", {**tree, ".env": "GREETING=v1\n"})
    store = proj / ".cfgroll" / "store.git"
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    v1 = live_tag(store)
    capsys.readouterr()
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    assert f"nothing changed since {v1}" in capsys.readouterr().out
    assert main(["update", "web", "--yes", "-C", str(proj), *FAST]) == 0
    assert f"nothing changed since {v1}" in capsys.readouterr().out
    assert git(store, "tag").split() == [v1]
    assert main(["deploy", "--record-unchanged", "-C", str(proj), *FAST]) == 0
    assert len(git(store, "tag").split()) == 2
    (proj / ".env").write_text("GREETING=v2\n")
    capsys.readouterr()
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    assert "nothing changed" not in capsys.readouterr().out
    assert len(git(store, "tag").split()) == 3
