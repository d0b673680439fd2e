"""Rollback on a real engine: what it refuses, what it keeps, how it undoes itself."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cfgroll.cli.main import main
from tests.helpers import (
    DOCKERFILE,
    build_file_tree,
    cfgroll_on_terminal,
    git,
    http_get,
    image_id,
    live_tag,
    web_compose,
)

pytestmark = pytest.mark.docker
FAST = ["--settle", "0.5", "--timeout", "30"]


def two_releases(tmp_path: Path, name: str, web_extra: str = "") -> tuple[Path, str, str]:
    proj = build_file_tree(
        tmp_path / "p",
        {
            "compose.yaml": web_compose(name, web_extra=web_extra),
            "Dockerfile": DOCKERFILE,
            ".env": "GREETING=v1\n",
        },
    )
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    (proj / ".env").write_text("GREETING=v2\n")
    (proj / "Dockerfile").write_text(DOCKERFILE + "RUN touch /v2\n")  # a new image too
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    tags = git(proj / ".cfgroll" / "store.git", "tag", "--sort=creatordate").split()
    return proj, tags[0], tags[1]


def container_ids(name: str) -> str:
    return subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={name}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_missing_image_changes_nothing(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1, v2 = two_releases(tmp_path, project_name)
    v1_image = image_id(f"{project_name}-web:{v1}")
    subprocess.run(["docker", "rmi", "-f", v1_image], check=True, capture_output=True)
    before = container_ids(project_name)
    capsys.readouterr()
    assert main(["rollback", v1, "--yes", "-C", str(proj)]) == 1
    err = capsys.readouterr().err
    assert f"release {v1} can no longer be restored" in err and "web" in err
    assert "nothing was changed" in err
    assert container_ids(project_name) == before
    assert (proj / ".env").read_text() == "GREETING=v2\n"
    assert live_tag(proj / ".cfgroll" / "store.git") == v2
    assert http_get(project_name) == "v2"


def test_unsaved_edits_are_kept_as_a_draft(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1, _v2 = two_releases(tmp_path, project_name)
    (proj / ".env").write_text("GREETING=v3-not-deployed\n")
    capsys.readouterr()
    assert main(["rollback", "previous", "--yes", "-C", str(proj), *FAST]) == 0
    out = capsys.readouterr().out
    assert "saved as draft_" in out
    draft = out.split("saved as ")[1].split(";")[0]
    assert http_get(project_name) == "v1"
    assert main(["checkout", draft, "-C", str(proj)]) == 0
    assert (proj / ".env").read_text() == "GREETING=v3-not-deployed\n"
    assert main(["log", "--all", "-C", str(proj)]) == 0
    assert draft in capsys.readouterr().out


def test_failed_rollback_puts_the_live_release_back(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # web refuses to start when /flag/<its greeting> exists: v1 can be made to fail, not v2
    extra = """\
        volumes: ["./flag:/flag"]
        entrypoint: ["sh", "-c", "test ! -e /flag/$$GREETING || exit 3; exec \\"$$@\\"", "--"]
        """
    proj, v1, v2 = two_releases(tmp_path, project_name, web_extra=extra)
    (proj / "flag").mkdir(exist_ok=True)
    (proj / "flag" / "v1").write_text("")
    store = proj / ".cfgroll" / "store.git"
    capsys.readouterr()
    assert main(["rollback", v1, "--yes", "-C", str(proj), *FAST]) == 3
    err = capsys.readouterr().err
    assert f"rollback to {v1} failed" in err and "exited with code 3" in err
    assert f"{v2} is running again" in err
    assert http_get(project_name) == "v2"
    assert (proj / ".env").read_text() == "GREETING=v2\n"
    assert live_tag(store) == v2
    assert len(git(store, "tag").split()) == 2
    assert image_id(f"{project_name}-web") == image_id(f"{project_name}-web:{v2}")


def test_failed_build_records_nothing(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, _v1, v2 = two_releases(tmp_path, project_name)
    (proj / "Dockerfile").write_text(DOCKERFILE + "RUN exit 7\n")
    capsys.readouterr()
    assert main(["deploy", "-C", str(proj), *FAST]) != 0
    err = capsys.readouterr().err
    assert "docker compose up --build failed" in err
    assert live_tag(proj / ".cfgroll" / "store.git") == v2
    assert http_get(project_name) == "v2"


def test_rollback_removes_files_the_release_did_not_have(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = build_file_tree(
        tmp_path / "p",
        {
            "compose.yaml": web_compose(project_name),
            "Dockerfile": DOCKERFILE,
            ".env": "GREETING=a\n",
        },
    )
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    build_file_tree(
        proj,
        {
            "compose.override.yaml": "services:\n  web:\n    environment:\n"
            "      GREETING: from-override\n"
        },
    )
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    assert http_get(project_name) == "from-override"
    capsys.readouterr()
    assert main(["show", "live", "--json", "-C", str(proj)]) == 0
    assert '"compose.override.yaml"' in capsys.readouterr().out
    assert main(["rollback", "previous", "--yes", "-C", str(proj), *FAST]) == 0
    assert not (proj / "compose.override.yaml").exists()
    assert http_get(project_name) == "a"


def test_rollback_asks_on_a_terminal_and_no_changes_nothing(
    tmp_path: Path, base_image: str, project_name: str
) -> None:
    proj, v1, v2 = two_releases(tmp_path, project_name)
    result = cfgroll_on_terminal(["rollback", v1, "-C", str(proj)], b"n\n")
    assert result.returncode == 1
    assert f"to {v1}" in result.stderr and "cancelled; nothing was changed" in result.stderr
    assert live_tag(proj / ".cfgroll" / "store.git") == v2
    assert http_get(project_name) == "v2"


def test_dry_run_changes_nothing_and_masks(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1, v2 = two_releases(tmp_path, project_name)
    (proj / ".env").write_text("GREETING=v2\nSECRET_KEY=do-not-print\n")
    capsys.readouterr()
    assert main(["rollback", v1, "--dry-run", "-C", str(proj)]) == 0
    out = capsys.readouterr().out
    assert f"from {v2} to {v1} would change" in out
    assert "-SECRET_KEY=***" in out and "do-not-print" not in out
    assert "+GREETING=***  (value changed)" in out
    assert f"service web: {image_id(f'{project_name}-web:{v2}')[7:19]} ->" in out
    assert (proj / ".env").read_text() == "GREETING=v2\nSECRET_KEY=do-not-print\n"
    assert live_tag(proj / ".cfgroll" / "store.git") == v2
    assert http_get(project_name) == "v2"


def test_rollback_without_tag_lists_releases_and_asks(
    tmp_path: Path, base_image: str, project_name: str
) -> None:
    proj, v1, v2 = two_releases(tmp_path, project_name)
    result = cfgroll_on_terminal(["rollback", "-C", str(proj), *FAST], b"2\ny\n")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].split() == ["#", "TAG", "TIME", "ACTION", "SERVICES", "RESTORABLE"]
    assert lines[1].split()[:3] == ["1", v2, "(live)"] and lines[1].endswith("yes")
    assert lines[2].split()[:2] == ["2", v1]
    assert f"rolled back to {v1}" in result.stdout
    assert http_get(project_name) == "v1"
