"""Partial updates, per-service rollback, status and drift, on a real engine."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cfgroll.cli.main import main
from tests.helpers import (
    BASE_IMAGE,
    DOCKERFILE,
    build_file_tree,
    containers,
    git,
    http_get,
    image_id,
    live_tag,
    web_compose,
)

pytestmark = pytest.mark.docker
FAST = ["--settle", "0.5", "--timeout", "60"]

SIDE_SERVICES = """\
  api:
    build: {context: ., dockerfile: api.Dockerfile}
    init: true
    command: ["sleep", "600"]
  worker:
    build: .
    init: true
    command: ["sleep", "600"]
"""


@pytest.fixture
def stack(tmp_path: Path, base_image: str, project_name: str) -> tuple[Path, str]:
    """web, api and worker deployed as release v1."""
    proj = build_file_tree(tmp_path / "p", {
        "compose.yaml": web_compose(project_name, extra_services=SIDE_SERVICES),
        "Dockerfile": DOCKERFILE, "api.Dockerfile": DOCKERFILE, ".env": "GREETING=v1\n",
    })  # fmt: skip
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    return proj, live_tag(proj / ".cfgroll" / "store.git")


def container_of(project: str, service: str) -> str:
    (cid,) = containers(project, "--filter", f"label=com.docker.compose.service={service}")
    return cid


def shown(proj: Path, tag: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["show", tag, "--json", "-C", str(proj)]) == 0
    return dict(json.loads(capsys.readouterr().out))


def test_update_recreates_only_the_named_service(
    stack: tuple[Path, str], project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1 = stack
    before = {s: container_of(project_name, s) for s in ("web", "api", "worker")}
    (proj / "api.Dockerfile").write_text(DOCKERFILE + "RUN touch /api-v2\n")
    assert main(["update", "api", "--yes", "-C", str(proj), *FAST]) == 0
    after = {s: container_of(project_name, s) for s in ("web", "api", "worker")}
    assert after["web"] == before["web"] and after["worker"] == before["worker"]
    assert after["api"] != before["api"]
    v2 = live_tag(proj / ".cfgroll" / "store.git")
    release = shown(proj, v2, capsys)
    old = shown(proj, v1, capsys)
    assert release["action"] == "update" and release["services_changed"] == ["api"]
    services, old_services = release["services"], old["services"]
    assert isinstance(services, dict) and isinstance(old_services, dict)
    assert services["api"]["image_id"] != old_services["api"]["image_id"]
    for carried in ("web", "worker"):  # carried over, and tagged with the new release too
        assert services[carried]["image_id"] == old_services[carried]["image_id"]
        assert image_id(f"{project_name}-{carried}:{v2}") == old_services[carried]["image_id"]
    capsys.readouterr()
    assert main(["log", "api", "-C", str(proj)]) == 0
    text = capsys.readouterr().out
    assert v2 in text and v1 in text  # v1 deployed api too
    assert main(["log", "web", "-n", "1", "-C", str(proj)]) == 0
    text = capsys.readouterr().out
    assert v1 in text and v2 not in text


def test_services_option_and_unknown_names(
    stack: tuple[Path, str], project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1 = stack
    before = containers(project_name)
    capsys.readouterr()
    assert main(["update", "--services", "api,nope", "--yes", "-C", str(proj)]) == 1
    err = capsys.readouterr().err
    assert "no service named nope; the services of this project are: api, web, worker" in err
    assert containers(project_name) == before
    assert live_tag(proj / ".cfgroll" / "store.git") == v1
    assert main(["update", "--services", "worker,api", "--no-build", "--yes", "-C", str(proj),
                 *FAST]) == 0  # fmt: skip
    assert container_of(project_name, "web") in before
    assert container_of(project_name, "worker") not in before  # recreated without a build


def test_failing_update_rolls_back_only_that_service(
    stack: tuple[Path, str], project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1 = stack
    web = container_of(project_name, "web")
    api_image = image_id(f"{project_name}-api:{v1}")
    (proj / "api.Dockerfile").write_text(DOCKERFILE + "RUN touch /api-v2\n")
    compose = (proj / "compose.yaml").read_text()
    failing = compose.replace('command: ["sleep", "600"]', 'command: ["sh", "-c", "exit 6"]', 1)
    (proj / "compose.yaml").write_text(failing)
    capsys.readouterr()
    assert main(["update", "api", "--yes", "-C", str(proj), *FAST]) == 3
    err = capsys.readouterr().err
    assert "update of api failed (service api exited with code 6)" in err
    assert container_of(project_name, "web") == web  # untouched throughout
    assert http_get(project_name) == "v1"
    assert image_id(f"{project_name}-api") == api_image
    api = container_of(project_name, "api")
    running = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Status}} {{.Image}}", api],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert running == ["running", api_image]
    assert live_tag(proj / ".cfgroll" / "store.git") == v1
    assert "failed_" in git(proj / ".cfgroll" / "store.git", "tag")


def test_per_service_rollback(
    stack: tuple[Path, str], project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1 = stack
    (proj / "Dockerfile").write_text(DOCKERFILE + "RUN touch /v2\n")
    (proj / ".env").write_text("GREETING=v2\n")
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    v2 = live_tag(proj / ".cfgroll" / "store.git")
    web = container_of(project_name, "web")
    capsys.readouterr()
    assert main(["rollback", v1, "--services", "worker", "--yes", "-C", str(proj), *FAST]) == 0
    out = capsys.readouterr().out
    assert "the project files were left as they are; only worker changed" in out
    assert (proj / ".env").read_text() == "GREETING=v2\n"
    assert container_of(project_name, "web") == web
    assert http_get(project_name) == "v2"
    worker = container_of(project_name, "worker")
    ran = subprocess.run(["docker", "inspect", "-f", "{{.Image}}", worker], capture_output=True,
                         text=True, check=True).stdout.strip()  # fmt: skip
    assert ran == image_id(f"{project_name}-worker:{v1}") != image_id(f"{project_name}-worker:{v2}")
    v3 = live_tag(proj / ".cfgroll" / "store.git")
    release = shown(proj, v3, capsys)
    assert release["action"] == "rollback" and release["target"] == v1
    assert release["services_changed"] == ["worker"]
    # rolling back the whole release after that brings every service to what v1 recorded
    assert main(["rollback", v1, "--yes", "-C", str(proj), *FAST]) == 0
    assert http_get(project_name) == "v1"
    assert container_of(project_name, "worker") == worker  # already v1: not recreated


def test_status_reports_drift_and_check_exit_codes(
    stack: tuple[Path, str], project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1 = stack
    capsys.readouterr()
    assert main(["status", "--check", "-C", str(proj)]) == 0
    clean = capsys.readouterr().out
    assert f"live release {v1}" in clean and "drift: none" in clean

    # a container started by hand from another image, an edited .env, a stopped service
    subprocess.run(["docker", "tag", BASE_IMAGE, f"{project_name}-worker"], check=True)
    subprocess.run(["docker", "compose", "up", "-d", "--no-deps", "worker"], cwd=proj, check=True,
                   capture_output=True)  # fmt: skip
    (proj / ".env").write_text("GREETING=edited-secret-value\nNEW_KEY=x\n")
    subprocess.run(["docker", "stop", "-t", "1", container_of(project_name, "api")], check=True,
                   capture_output=True)  # fmt: skip

    assert main(["status", "--check", "-C", str(proj)]) == 1
    text = capsys.readouterr().out
    assert ".env  modified: added NEW_KEY; changed GREETING (values masked)" in text
    assert "edited-secret-value" not in text
    assert "api" in text and "exited" in text
    assert "runs image" in text and "worker" in text
    assert "drift: yes" in text
    assert main(["status", "--json", "-C", str(proj)]) == 0
    data = json.loads(capsys.readouterr().out)
    states = {s["service"]: s for s in data["services"]}
    assert data["drifted"] is True
    assert not states["api"]["ok"] and not states["worker"]["ok"] and states["web"]["ok"]
    keys = {"added": ["NEW_KEY"], "removed": [], "changed": ["GREETING"]}
    assert data["files"] == [{"path": ".env", "state": "modified", "role": "env", "keys": keys}]


def test_log_marks_releases_that_cannot_be_restored(
    stack: tuple[Path, str], project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1 = stack
    (proj / "api.Dockerfile").write_text(DOCKERFILE + "RUN touch /api-v2\n")
    assert main(["update", "api", "--yes", "-C", str(proj), *FAST]) == 0
    subprocess.run(["docker", "rmi", "-f", image_id(f"{project_name}-api:{v1}")], check=True,
                   capture_output=True)  # fmt: skip
    capsys.readouterr()
    assert main(["log", "--json", "-C", str(proj)]) == 0
    marks = {e["tag"]: e["restorable"] for e in json.loads(capsys.readouterr().out)}
    assert marks[v1] is False and list(marks.values()).count(True) == 1


def test_failing_update_of_a_new_service_leaves_the_others_alone(
    stack: tuple[Path, str], project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1 = stack
    before = {s: container_of(project_name, s) for s in ("web", "api", "worker")}
    subprocess.run(["docker", "stop", "-t", "1", before["worker"]], check=True, capture_output=True)
    extra = '  cron:\n    build: .\n    init: true\n    command: ["sh", "-c", "exit 8"]\n'
    (proj / "compose.yaml").write_text((proj / "compose.yaml").read_text() + extra)
    capsys.readouterr()
    assert main(["update", "cron", "--yes", "-C", str(proj), *FAST]) == 3
    assert "update of cron failed (service cron exited with code 8)" in capsys.readouterr().err
    assert {s: container_of(project_name, s) for s in ("web", "api", "worker")} == before
    state = subprocess.run(["docker", "inspect", "-f", "{{.State.Status}}", before["worker"]],
                           capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert state == "exited"  # a service the user stopped is not started by the rollback
    assert live_tag(proj / ".cfgroll" / "store.git") == v1
    assert "cron" not in (proj / "compose.yaml").read_text()  # the live files are back


def test_per_service_rollback_leaves_other_services_and_the_files_alone(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two services built from their own folders, both changed in v2; rolling back only `a`
    puts a's v1 image back and leaves b's container, b's image and every file as they are."""

    def dockerfile(v: str) -> str:
        return f"FROM {BASE_IMAGE}\nRUN echo {v} > /version\n"

    def version(service: str) -> str:
        cid = container_of(project_name, service)
        argv = ["docker", "exec", cid, "cat", "/version"]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()

    service = 'init: true\n    command: ["sh", "-c", "exec sleep 3600"]'
    compose = f"name: {project_name}\nservices:\n"
    compose += f"  a:\n    build: a\n    {service}\n  b:\n    build: b\n    {service}\n"
    tree = {
        "compose.yaml": compose,
        "a/Dockerfile": dockerfile("a1"),
        "b/Dockerfile": dockerfile("b1"),
    }
    proj = build_file_tree(tmp_path / "p", tree)
    store = proj / ".cfgroll" / "store.git"
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    v1 = live_tag(store)
    build_file_tree(proj, {"a/Dockerfile": dockerfile("a2"), "b/Dockerfile": dockerfile("b2")})
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    b_before = container_of(project_name, "b")
    assert main(["rollback", v1, "--services", "a", "--yes", "-C", str(proj), *FAST]) == 0
    assert version("a") == "a1"
    assert version("b") == "b2" and container_of(project_name, "b") == b_before
    assert (proj / "a/Dockerfile").read_text() == dockerfile("a2")  # files stay as they are
