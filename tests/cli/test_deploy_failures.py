"""Every way a deploy can fail, on a real engine: the live release must serve again, the
attempt must be kept with its reason, the files must be the live release's, `main` must stay."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cfgroll.cli.main import main
from tests.conftest import Collector
from tests.helpers import (
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
FAST = ["--settle", "0.5", "--timeout", "120"]
V1_ENV = "GREETING=v1\nDB_PASSWORD=pw-one-secret\n"


@pytest.fixture
def live(tmp_path: Path, base_image: str, project_name: str) -> tuple[Path, str]:
    """A project whose release v1 is live and serves `v1`."""
    proj = build_file_tree(tmp_path / "p", {
        "compose.yaml": web_compose(project_name), "Dockerfile": DOCKERFILE, ".env": V1_ENV,
    })  # fmt: skip
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    return proj, live_tag(proj / ".cfgroll" / "store.git")


def attempts(proj: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["log", "--all", "--json", "-C", str(proj)]) == 0
    return [e for e in json.loads(capsys.readouterr().out) if e["kind"] == "attempt"]


def assert_back_to_v1(
    proj: Path, v1: str, project: str, capsys: pytest.CaptureFixture[str], reason: str
) -> str:
    """The checks every failure path shares; returns the attempt's tag."""
    assert http_get(project) == "v1"
    capsys.readouterr()
    assert main(["show", v1, "--json", "-C", str(proj)]) == 0
    recorded = json.loads(capsys.readouterr().out)["services"]["web"]["image_id"]
    (web,) = containers(project, "--filter", "label=com.docker.compose.service=web")
    running = subprocess.run(
        ["docker", "inspect", "-f", "{{.Image}}", web], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert running == recorded, "web runs another image than the live release recorded"
    assert (proj / ".env").read_text() == V1_ENV
    assert (
        git(proj / ".cfgroll" / "store.git", "show", f"{v1}:compose.yaml")
        == (proj / "compose.yaml").read_text()
    )
    assert live_tag(proj / ".cfgroll" / "store.git") == v1
    (attempt,) = attempts(proj, capsys)
    assert str(attempt["tag"]).startswith("failed_")
    assert reason in str(attempt["result"])
    return str(attempt["tag"])


def make_v2(proj: Path, project: str, web_extra: str = "") -> None:
    """v2 changes the image too, so every recovery must retag the live release's image."""
    (proj / "Dockerfile").write_text(DOCKERFILE + "RUN touch /v2\n")
    (proj / ".env").write_text("GREETING=v2\nDB_PASSWORD=pw-two-secret\n")
    (proj / "compose.yaml").write_text(web_compose(project, web_extra=web_extra))


def failed_deploy(proj: Path, capsys: pytest.CaptureFixture[str], *args: str, code: int = 3) -> str:
    """Run a deploy that must fail with `code`; what it printed on stderr."""
    capsys.readouterr()
    assert main(["deploy", "-C", str(proj), *(args or FAST)]) == code
    return capsys.readouterr().err


def test_build_failure(
    live: tuple[Path, str], project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1 = live
    make_v2(proj, project_name)
    (proj / "Dockerfile").write_text(DOCKERFILE + "RUN echo building-v2 && exit 7\n")
    err = failed_deploy(proj, capsys)
    assert "docker compose up --build failed" in err and f"{v1} is running again" in err
    assert "exit code: 7" in err  # the build's own last lines, shown
    tag = assert_back_to_v1(proj, v1, project_name, capsys, "docker compose up --build failed")
    # the user's edits are not lost: the attempt has them
    assert main(["checkout", tag, "-C", str(proj)]) == 0
    assert (proj / ".env").read_text().startswith("GREETING=v2")


def test_container_exits_at_start(
    live: tuple[Path, str], project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1 = live
    make_v2(proj, project_name, 'entrypoint: ["sh", "-c", "echo bad config >&2; exit 3"]\n')
    err = failed_deploy(proj, capsys)
    assert "service web exited with code 3" in err and "bad config" in err
    assert_back_to_v1(proj, v1, project_name, capsys, "exited with code 3")


def test_container_exits_after_a_few_seconds(
    live: tuple[Path, str], project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1 = live
    make_v2(proj, project_name, 'entrypoint: ["sh", "-c", "sleep 1; exit 4"]\n')
    err = failed_deploy(proj, capsys, "--settle", "4", "--timeout", "120")
    assert "exited with code 4" in err
    assert_back_to_v1(proj, v1, project_name, capsys, "exited with code 4")


def test_healthcheck_turns_unhealthy(
    live: tuple[Path, str], project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1 = live
    make_v2(proj, project_name, """\
        healthcheck:
          test: ["CMD", "sh", "-c", "echo probe says no; exit 1"]
          interval: 1s
          retries: 1
        """)  # fmt: skip
    # A long timeout: the gate must fail on `unhealthy` at once, not when the timeout ends.
    err = failed_deploy(proj, capsys, "--settle", "0.5", "--timeout", "600")
    assert "service web is unhealthy" in err and "probe says no" in err
    assert_back_to_v1(proj, v1, project_name, capsys, "is unhealthy")


def test_never_healthy_within_timeout(
    live: tuple[Path, str], project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1 = live
    make_v2(proj, project_name, """\
        healthcheck:
          test: ["CMD", "true"]
          interval: 60s
          start_period: 60s
        """)  # fmt: skip
    err = failed_deploy(proj, capsys, "--settle", "0.5", "--timeout", "2")
    assert "was not healthy after 2s; still waiting for web (starting)" in err
    assert_back_to_v1(proj, v1, project_name, capsys, "was not healthy after 2s")


def test_live_image_deleted_by_hand_rollback_cannot_work(
    live: tuple[Path, str], project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1 = live
    store = proj / ".cfgroll" / "store.git"
    v1_image = image_id(f"{project_name}-web:{v1}")
    subprocess.run(["docker", "compose", "-p", project_name, "rm", "-sf", "web"],
                   check=True, capture_output=True)  # fmt: skip
    subprocess.run(["docker", "rmi", "-f", v1_image], check=True, capture_output=True)
    make_v2(proj, project_name)
    (proj / "Dockerfile").write_text(DOCKERFILE + "RUN exit 7\n")
    err = failed_deploy(proj, capsys, code=4)
    assert f"rolling back to {v1} failed too" in err
    assert f"release {v1} can no longer be restored" in err and "web" in err
    assert "running now: no container" in err
    assert "cfgroll checkout failed_" in err  # where the edits are
    assert live_tag(store) == v1
    (attempt,) = attempts(proj, capsys)
    assert "docker compose up --build failed" in str(attempt["result"])


def test_no_rollback_leaves_the_failure_in_place(
    live: tuple[Path, str], project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1 = live
    make_v2(proj, project_name, 'entrypoint: ["sh", "-c", "exit 5"]\n')
    err = failed_deploy(proj, capsys, "--no-rollback", *FAST, code=4)
    assert "left as it is (--no-rollback)" in err and "exited 5" in err
    assert (proj / ".env").read_text().startswith("GREETING=v2")  # nothing put back
    assert live_tag(proj / ".cfgroll" / "store.git") == v1
    assert len(attempts(proj, capsys)) == 1


def test_a_crashing_deploy_tells_once_without_a_secret(
    live: tuple[Path, str],
    project_name: str,
    capsys: pytest.CaptureFixture[str],
    notify_receiver: tuple[str, Collector],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, seen = notify_receiver
    monkeypatch.setenv("CFGROLL_NOTIFY", url)
    proj, v1 = live
    make_v2(proj, project_name, 'entrypoint: ["sh", "-c", "echo pw=$$DB_PASSWORD; exit 3"]\n')
    compose = (proj / "compose.yaml").read_text()
    with_password = "GREETING: ${GREETING}\n      DB_PASSWORD: ${DB_PASSWORD}"
    (proj / "compose.yaml").write_text(compose.replace("GREETING: ${GREETING}", with_password))
    failed_deploy(proj, capsys)
    (message,) = seen.got
    assert message["title"] == f"cfgroll: {project_name}: deploy failed, rolled back"
    assert "web exited with code 3" in message["message"] and v1 in message["message"]
    assert "pw-two-secret" not in json.dumps(message)


def test_secrets_stay_out_of_failure_output(
    live: tuple[Path, str], project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1 = live
    make_v2(proj, project_name, 'entrypoint: ["sh", "-c", "echo pw=$$DB_PASSWORD; exit 3"]\n')
    (proj / "compose.yaml").write_text(
        (proj / "compose.yaml")
        .read_text()
        .replace(
            "GREETING: ${GREETING}", "GREETING: ${GREETING}\n      DB_PASSWORD: ${DB_PASSWORD}"
        )
    )
    capsys.readouterr()
    assert main(["deploy", "-C", str(proj), *FAST]) == 3
    captured = capsys.readouterr()
    assert "pw=***" in captured.err
    assert "pw-two-secret" not in captured.err + captured.out
    tag = assert_back_to_v1(proj, v1, project_name, capsys, "exited with code 3")
    assert main(["show", tag, "-C", str(proj)]) == 0
    shown = capsys.readouterr().out
    assert "pw=***" in shown and "pw-two-secret" not in shown


def test_first_deploy_failure_removes_only_what_it_created(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = build_file_tree(tmp_path / "p", {
        "compose.yaml": web_compose(project_name, web_extra='entrypoint: ["sh", "-c", "exit 3"]\n'),
        "Dockerfile": DOCKERFILE, ".env": V1_ENV,
    })  # fmt: skip
    assert main(["deploy", "-C", str(proj), *FAST]) == 3
    err = capsys.readouterr().err
    assert "nothing ran before, so the container(s) this deploy created were removed" in err
    assert containers(project_name) == []
    assert git(proj / ".cfgroll" / "store.git", "branch").strip() == ""  # no release at all
    assert len(attempts(proj, capsys)) == 1


def test_running_stack_is_recorded_as_baseline_first(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = build_file_tree(tmp_path / "p", {
        "compose.yaml": web_compose(project_name), "Dockerfile": DOCKERFILE, ".env": V1_ENV,
    })  # fmt: skip
    subprocess.run(["docker", "compose", "up", "-d", "--build"], cwd=proj, check=True,
                   capture_output=True)  # fmt: skip
    assert http_get(project_name) == "v1"
    assert main(["init", "-C", str(proj)]) == 0
    assert "(action baseline)" in capsys.readouterr().out
    store = proj / ".cfgroll" / "store.git"
    baseline = live_tag(store)
    make_v2(proj, project_name, 'entrypoint: ["sh", "-c", "exit 3"]\n')
    assert main(["deploy", "-C", str(proj), *FAST]) == 3
    assert http_get(project_name) == "v1"
    assert live_tag(store) == baseline
    capsys.readouterr()
    assert main(["show", baseline, "--json", "-C", str(proj)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["action"] == "baseline" and shown["services"]["web"]["image_id"]


def test_deploy_over_a_running_stack_records_a_baseline_and_warns_about_edits(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = build_file_tree(tmp_path / "p", {
        "compose.yaml": web_compose(project_name), "Dockerfile": DOCKERFILE, ".env": V1_ENV,
    })  # fmt: skip
    subprocess.run(["docker", "compose", "up", "-d", "--build"], cwd=proj, check=True,
                   capture_output=True)  # fmt: skip
    make_v2(proj, project_name)
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    err = capsys.readouterr().err
    assert "recorded what was running before as backup_" in err
    assert "the baseline pairs their images with the edited files" in err
    assert len(git(proj / ".cfgroll" / "store.git", "tag").split()) == 2
    assert http_get(project_name) == "v2"


def test_two_deploys_at_once(
    live: tuple[Path, str], project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1 = live
    make_v2(proj, project_name)
    info = proj / ".cfgroll" / "store.git" / "cfgroll.lock.json"
    first = subprocess.Popen(
        [sys.executable, "-m", "cfgroll", "deploy", "-C", str(proj), "--settle", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for _ in range(300):
            if info.exists() or first.poll() is not None:
                break
            time.sleep(0.05)
        capsys.readouterr()
        assert main(["deploy", "-C", str(proj), *FAST]) == 1
        err = capsys.readouterr().err
        assert f"locked by `cfgroll deploy` (pid {first.pid}" in err
        # a third run that may wait gets its turn (same files: recorded only when asked)
        third = ["deploy", "-C", str(proj), "--lock-timeout", "120", "--record-unchanged"]
        assert main([*third, *FAST]) == 0
    finally:
        out, errs = first.communicate(timeout=120)
    assert first.returncode == 0, errs
    assert http_get(project_name) == "v2"
    assert len(git(proj / ".cfgroll" / "store.git", "tag").split()) == 3


def test_ctrl_c_during_the_gate_rolls_back(
    live: tuple[Path, str], project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, v1 = live
    make_v2(proj, project_name)
    run = subprocess.Popen(
        [sys.executable, "-m", "cfgroll", "deploy", "-C", str(proj), "--settle", "8"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # as from a terminal, whatever pytest inherited (a background job ignores SIGINT)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )  # fmt: skip
    try:
        for _ in range(600):  # until v2 is up and the gate is waiting for it to settle
            try:
                if http_get(project_name, tries=1) == "v2":
                    break
            except AssertionError:
                pass
            time.sleep(0.1)
        time.sleep(0.5)
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.kill(run.pid, signal.SIGKILL)
    assert run.returncode == 3, err
    assert "deploy failed (interrupted)" in err
    assert_back_to_v1(proj, v1, project_name, capsys, "interrupted")
    assert not (proj / ".cfgroll" / "store.git" / "cfgroll.lock.json").exists()


def test_partial_build_tags_are_put_back(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    api = """\
  api:
    build: {context: ., dockerfile: api.Dockerfile}
    init: true
    command: ["sleep", "600"]
"""
    proj = build_file_tree(tmp_path / "p", {
        "compose.yaml": web_compose(project_name, extra_services=api),
        "Dockerfile": DOCKERFILE, "api.Dockerfile": DOCKERFILE, ".env": V1_ENV,
    })  # fmt: skip
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    v1 = live_tag(proj / ".cfgroll" / "store.git")
    (proj / "Dockerfile").write_text(DOCKERFILE + "RUN touch /web-v2\n")  # builds
    (proj / "api.Dockerfile").write_text(DOCKERFILE + "RUN exit 9\n")  # does not
    (proj / ".env").write_text("GREETING=v2\n")
    err = failed_deploy(proj, capsys)
    assert "docker compose up --build failed" in err
    for service in ("web", "api"):
        assert image_id(f"{project_name}-{service}") == image_id(f"{project_name}-{service}:{v1}")
    assert http_get(project_name) == "v1"
