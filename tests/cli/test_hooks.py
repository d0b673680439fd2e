"""Hooks on a real engine: every hook point with its environment, a failing `pre-deploy` that
changes nothing, a failing `check` that rolls back, a hanging hook killed at its limit,
`--no-hooks`, samples that never run until renamed, hooks restored by a rollback, and the
three shipped samples run (renamed) against the example project."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import (
    BASE_IMAGE,
    DOCKERFILE,
    REPO_ROOT,
    Runner,
    build_file_tree,
    containers,
    git,
    http_get,
    live_tag,
    web_compose,
)

pytestmark = pytest.mark.docker
FAST = ["--settle", "0.5", "--timeout", "30"]
POINTS = ("pre-deploy", "check", "post-deploy", "pre-rollback", "post-rollback", "on-failure")


def write_hook(proj: Path, name: str, body: str) -> Path:
    path = proj / ".cfgroll" / "hooks" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def recording_hook(seen: Path) -> str:
    """A hook that appends its name and CFGROLL_ variables to a file outside the project."""
    return f'{{ echo "== $(basename "$0")"; env | grep ^CFGROLL_ | sort; }} >> {seen}\n'


def said(seen: Path) -> dict[str, dict[str, str]]:
    """hook name -> its CFGROLL_ variables (the last run of each)."""
    runs: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in seen.read_text().splitlines():
        if line.startswith("== "):
            current = runs[line[3:]] = {}
        else:
            key, _, value = line.partition("=")
            current[key] = value
    return runs


@pytest.fixture
def web(tmp_path: Path, base_image: str, project_name: str) -> Path:
    return build_file_tree(
        tmp_path / "proj",
        {
            "compose.yaml": web_compose(project_name),
            "Dockerfile": DOCKERFILE,
            ".env": "GREETING=v1\n",
        },
    )


def test_every_hook_point_runs_with_its_context(
    web: Path, tmp_path: Path, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Runner(web, capsys)
    seen = tmp_path / "seen.txt"
    for name in POINTS:
        write_hook(web, name, recording_hook(seen))
    assert run("deploy", *FAST) == 0
    v1 = live_tag(run.store)
    first = said(seen)
    assert list(first) == ["pre-deploy", "check", "post-deploy"]
    for name, env in first.items():
        assert env["CFGROLL_ACTION"] == "deploy", name
        assert env["CFGROLL_TAG"] == v1, name
        assert env["CFGROLL_LIVE_TAG"] == "" and env["CFGROLL_TARGET_TAG"] == ""
        assert env["CFGROLL_SERVICES"] == "web"
        assert env["CFGROLL_PROJECT"] == project_name
        assert env["CFGROLL_PROJECT_DIR"] == str(web)
        assert env["CFGROLL_STORE"] == str(run.store)
        assert env["CFGROLL_PERFORMER"]
    assert "[hook post-deploy]" not in run.err  # silent hooks print nothing but their step
    assert "==> running the check hook (.cfgroll/hooks/check)" in run.err

    (web / ".env").write_text("GREETING=v2\n")
    seen.unlink()
    assert run("deploy", *FAST) == 0
    v2 = live_tag(run.store)
    second = said(seen)
    assert second["pre-deploy"]["CFGROLL_TAG"] == v2
    assert second["pre-deploy"]["CFGROLL_LIVE_TAG"] == v1

    seen.unlink()
    assert run("rollback", v1, "--yes", *FAST) == 0
    back = said(seen)
    assert list(back) == ["pre-rollback", "check", "post-rollback"]
    rollback_tag = live_tag(run.store)
    for env in back.values():
        assert env["CFGROLL_ACTION"] == "rollback"
        assert env["CFGROLL_TAG"] == rollback_tag
        assert env["CFGROLL_LIVE_TAG"] == v2 and env["CFGROLL_TARGET_TAG"] == v1

    # a deploy whose container crashes: on-failure runs after the rollback, told why
    (web / ".env").write_text("GREETING=v3\n")
    compose = (web / "compose.yaml").read_text()
    (web / "compose.yaml").write_text(compose.replace("exec httpd", "exit 5; exec httpd"))
    seen.unlink()
    assert run("deploy", *FAST) == 3
    failed = said(seen)
    assert list(failed) == ["pre-deploy", "check", "on-failure"]  # check: of the recovery
    env = failed["on-failure"]
    assert env["CFGROLL_RESULT"] == "rolled-back"
    assert "exited with code 5" in env["CFGROLL_REASON"]
    assert env["CFGROLL_ATTEMPT_TAG"].startswith("failed_")
    assert env["CFGROLL_LIVE_TAG"] == rollback_tag
    assert http_get(project_name) == "v1"

    # `show` tells what the hooks did: before the record from the manifest, after from a note
    assert run("show", v1) == 0
    assert "hooks:" in run.out
    for name in ("pre-deploy", "check", "post-deploy"):
        assert f"  {name}  passed" in run.out
    assert run("show", env["CFGROLL_ATTEMPT_TAG"]) == 0
    assert "  on-failure  passed" in run.out
    assert "Notes:" in git(run.store, "log", "-1", v1)  # plain git log shows the post-deploy


def test_failing_pre_hooks_change_nothing(
    web: Path, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failing `pre-rollback`, then a failing `pre-deploy`: exit 1 each time, and the files,
    the store (no release, no attempt, no draft) and the containers are as they were."""
    run = Runner(web, capsys)
    assert run("deploy", *FAST) == 0
    v1 = live_tag(run.store)
    (web / ".env").write_text("GREETING=v2\n")
    assert run("deploy", *FAST) == 0
    v2 = live_tag(run.store)

    def state() -> tuple[list[str], str, str]:
        return containers(project_name), git(run.store, "show-ref"), (web / ".env").read_text()

    write_hook(web, "pre-rollback", 'echo "a migration is running" >&2\nexit 4\n')
    before = state()
    assert run("rollback", v1, "--yes", *FAST) == 1
    assert "error: the pre-rollback hook failed (exit 4); the rollback was stopped" in run.err
    assert "[hook pre-rollback] a migration is running" in run.err
    assert state() == before and http_get(project_name) == "v2"

    (web / ".env").write_text("GREETING=v3\n")
    write_hook(web, "pre-deploy", 'echo "backup volume is full" >&2\nexit 4\n')
    before = state()
    assert run("deploy", *FAST) == 1
    assert "error: the pre-deploy hook failed (exit 4); the deploy was stopped before it" in run.err
    assert "[hook pre-deploy] backup volume is full" in run.err
    assert state() == before  # no release, no attempt; the user's edit stays
    assert (web / ".env").read_text() == "GREETING=v3\n"
    assert http_get(project_name) == "v2" and live_tag(run.store) == v2


def test_a_failing_check_rolls_back_and_the_attempt_keeps_its_last_lines(
    web: Path, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The check passes for v1 and never for v2: exit 3, v1 serves again, and `show` of the
    attempt has the check's last lines."""
    run = Runner(web, capsys)
    check = (
        "page=$(wget -q -O - http://127.0.0.1:$(docker port $(docker ps -q --filter "
        f"label=com.docker.compose.project={project_name}) 8080 | head -n1 | cut -d: -f2)/)\n"
        'echo "got $page"\n[ "$page" = v1 ]\n'
    )
    write_hook(web, "check", check)
    assert run("deploy", *FAST) == 0
    v1 = live_tag(run.store)
    (web / ".env").write_text("GREETING=v2\n")
    assert run("deploy", "--settle", "0.5", "--timeout", "6") == 3
    assert "the check hook failed (exit 1) after" in run.err
    assert f"rolled back: {v1} is running again" in run.err
    assert "[hook check] got v2" in run.err
    assert http_get(project_name) == "v1"
    attempt = git(run.store, "tag", "-l", "failed_*").split()[-1]
    assert run("show", attempt) == 0
    assert "last output of the check hook:" in run.out and "got v2" in run.out
    assert "  check  failed (exit 1) after" in run.out


def test_a_hanging_hook_is_killed_at_its_limit(
    web: Path, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Runner(web, capsys)
    write_hook(web, "pre-deploy", "echo waiting for the lock\nsleep 600\n")
    assert run("deploy", "--hook-timeout", "2", *FAST) == 1
    assert "the pre-deploy hook timed out after 2 s and was killed" in run.err
    assert not containers(project_name)
    # the project's own setting, and the flag over it
    compose = (web / "compose.yaml").read_text()
    (web / "compose.yaml").write_text(compose + "x-cfgroll:\n  hook_timeout: 1\n")
    assert run("deploy", *FAST) == 1
    assert "timed out after 1 s" in run.err
    (web / ".cfgroll/hooks/pre-deploy").write_text("#!/bin/sh\nsleep 2\necho done\n")
    assert run("deploy", "--hook-timeout", "30", *FAST) == 0


def test_no_hooks_skips_them_and_says_so(
    web: Path, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Runner(web, capsys)
    write_hook(web, "pre-deploy", "exit 1\n")
    write_hook(web, "check", "exit 1\n")
    assert run("deploy", "--no-hooks", *FAST) == 0
    assert "[hook" not in run.err and "hook (" not in run.err
    manifest = git(run.store, "show", "main:.cfgroll/manifest.yaml")
    assert "hooks_skipped: true" in manifest
    assert run("show") == 0 and "hooks: skipped (--no-hooks)" in run.out


def test_samples_never_run_until_renamed_and_hooks_go_back_with_a_rollback(
    web: Path, tmp_path: Path, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Runner(web, capsys)
    assert run("init") == 0
    hooks = web / ".cfgroll" / "hooks"
    assert "installed 3 sample hooks" in run.out
    samples = sorted(p.name for p in hooks.iterdir())
    assert samples == ["check.sample", "on-failure.sample", "pre-deploy.sample"]
    assert all(not (p.stat().st_mode & 0o111) for p in hooks.iterdir())
    (hooks / "check.sample").write_text("#!/bin/sh\nexit 1\n")  # would fail the gate if run
    assert run("deploy", *FAST) == 0
    assert "check hook" not in run.err
    v1 = live_tag(run.store)
    recorded = git(run.store, "ls-tree", "-r", "--name-only", v1)
    assert ".cfgroll/hooks" not in recorded  # samples are not hooks

    # a second init keeps what is there
    assert run("init") == 0 and "sample hooks" not in run.out
    assert (hooks / "check.sample").read_text() == "#!/bin/sh\nexit 1\n"

    seen = tmp_path / "seen.txt"
    write_hook(web, "post-deploy", f"echo v2 >> {seen}\n")
    assert run("deploy", *FAST) == 0
    v2 = live_tag(run.store)
    assert "100755 blob" in git(run.store, "ls-tree", v2, ".cfgroll/hooks/post-deploy")
    write_hook(web, "post-deploy", f"echo v3 >> {seen}\n")
    write_hook(web, "pre-deploy", "exit 0\n")
    assert run("diff") == 0 and ".cfgroll/hooks/post-deploy" in run.out
    assert run("deploy", *FAST) == 0
    assert run("rollback", v2, "--yes", *FAST) == 0
    assert (hooks / "post-deploy").read_text() == f"#!/bin/sh\necho v2 >> {seen}\n"
    assert (hooks / "post-deploy").stat().st_mode & 0o100
    assert not (hooks / "pre-deploy").exists()  # v2 had none
    assert (hooks / "check.sample").exists()  # samples are left alone
    assert seen.read_text().splitlines() == ["v2", "v3"]


# -- the shipped samples, renamed, against the example project ------------------------------


@pytest.fixture
def shop(tmp_path: Path, base_image: str, project_name: str) -> Path:
    """examples/shop, on the test base image and under the test's project name."""
    proj = tmp_path / "shop"
    shutil.copytree(REPO_ROOT / "examples" / "shop", proj)
    dockerfile = (proj / "Dockerfile").read_text()
    (proj / "Dockerfile").write_text(dockerfile.replace("cfgroll-example-base:latest", BASE_IMAGE))
    compose = (proj / "compose.yaml").read_text()
    (proj / "compose.yaml").write_text(
        compose.replace("name: cfgroll-shop", f"name: {project_name}")
    )
    return proj


def using_sample(proj: Path, name: str, capsys: pytest.CaptureFixture[str]) -> Runner:
    """`cfgroll init`, then what the sample's header says: rename it, make it executable."""
    run = Runner(proj, capsys)
    assert run("init") == 0
    hooks = proj / ".cfgroll" / "hooks"
    (hooks / f"{name}.sample").rename(hooks / name)
    (hooks / name).chmod(0o755)
    return run


def test_the_pre_deploy_sample_dumps_the_db_service(
    shop: Path,
    project_name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compose = (shop / "compose.yaml").read_text()
    db = (
        f"  db:\n    image: {BASE_IMAGE}\n    init: true\n"
        '    command: ["sh", "-c", "echo \'CREATE TABLE orders;\' > /tmp/db.sql && sleep 3600"]\n'
    )
    (shop / "compose.yaml").write_text(compose + db)
    monkeypatch.setenv("DB_DUMP", "cat /tmp/db.sql")
    run = using_sample(shop, "pre-deploy", capsys)
    assert run("deploy", *FAST) == 0
    assert "[hook pre-deploy] no running db container: nothing to dump" in run.err
    (shop / ".env").write_text((shop / ".env").read_text().replace("v1", "v2"))
    assert run("deploy", *FAST) == 0
    v2 = live_tag(run.store)
    dump = shop / ".cfgroll" / "db-dumps" / f"db-{v2}.sql"
    assert dump.read_text() == "CREATE TABLE orders;\n"
    assert f"[hook pre-deploy] dumped db to .cfgroll/db-dumps/db-{v2}.sql" in run.err
    # a dump that fails stops the deploy before anything changes
    monkeypatch.setenv("DB_DUMP", "echo 'pg_dumpall: connection refused' >&2; exit 7")
    (shop / ".env").write_text((shop / ".env").read_text().replace("v2", "v3"))
    assert run("deploy", *FAST) == 1
    assert "the pre-deploy hook failed (exit 7)" in run.err
    assert live_tag(run.store) == v2
    assert not list(dump.parent.glob("*.partial"))  # a partial dump is no dump
    assert sorted(p.name for p in dump.parent.glob("*.sql")) == [f"db-{v2}.sql"]


def test_the_check_sample_fetches_the_page_and_a_wrong_page_rolls_back(
    shop: Path,
    project_name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = using_sample(shop, "check", capsys)
    monkeypatch.setenv("CHECK_SERVICE", "web")
    monkeypatch.setenv("CHECK_EXPECT", "from v1")  # (the whole GREETING would be masked)
    assert run("deploy", *FAST) == 0
    assert '[hook check] http://localhost:8080/ answered with "from v1"' in run.err
    v1 = live_tag(run.store)
    (shop / ".env").write_text((shop / ".env").read_text().replace("v1", "v2"))
    assert run("deploy", "--settle", "0.5", "--timeout", "5") == 3
    assert 'without "from v1"' in run.err and f"{v1} is running again" in run.err
    assert "hello from v1" in subprocess.run(
        ["docker", "compose", "-p", project_name, "exec", "-T", "web", "wget", "-q", "-O", "-",
         "http://localhost:8080/"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


class Webhook(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, str]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server protocol
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Webhook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    Webhook.received = []
    server = http.server.HTTPServer(("127.0.0.1", 0), Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/T0KEN"
    server.shutdown()


def test_the_on_failure_sample_posts_to_the_webhook(
    shop: Path,
    project_name: str,
    webhook: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = using_sample(shop, "on-failure", capsys)
    assert run("deploy", *FAST) == 0
    v1 = live_tag(run.store)
    monkeypatch.setenv("CFGROLL_WEBHOOK_URL", webhook)
    compose = (shop / "compose.yaml").read_text()
    (shop / "compose.yaml").write_text(compose.replace("exec httpd", "exit 9; exec httpd"))
    assert run("deploy", *FAST) == 3
    (message,) = Webhook.received
    text = message["text"]
    assert text.startswith(f"cfgroll: deploy of {project_name} on ")
    assert "service web exited with code 9" in text and "result: rolled-back" in text
    assert f"live before: {v1}" in text and "attempt kept as failed_" in text
    assert "[hook on-failure] notified http://127.0.0.1:" in run.err
    assert "T0KEN" not in run.err  # the URL's secret part is not printed


def test_ctrl_c_during_a_hook_kills_it_and_rolls_back(
    web: Path, tmp_path: Path, project_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A terminal's Ctrl-C (SIGINT to cfgroll's process group) while `check` runs: the hook,
    in a session of its own, is killed by cfgroll, and the deploy rolls back as on any
    interruption."""
    import os
    import signal
    import sys
    import time

    run = Runner(web, capsys)
    assert run("deploy", *FAST) == 0
    marker = tmp_path / "check.pid"
    write_hook(web, "check", f"echo $$ > {marker}\nexec sleep 120\n")
    (web / ".env").write_text("GREETING=v2\n")
    deploy = subprocess.Popen(
        [sys.executable, "-m", "cfgroll", "deploy", "-C", str(web), *FAST],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        for _ in range(600):
            if marker.exists() and marker.read_text().strip() or deploy.poll() is not None:
                break
            time.sleep(0.05)
        hook_pid = int(marker.read_text())
        os.killpg(deploy.pid, signal.SIGINT)
        _, err = deploy.communicate(timeout=60)
    finally:
        if deploy.poll() is None:
            os.killpg(deploy.pid, signal.SIGKILL)
    assert deploy.returncode == 3, err
    assert "deploy failed (interrupted); rolled back" in err
    assert http_get(project_name) == "v1"
    try:
        os.kill(hook_pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive, "the check hook outlived the interrupted deploy"
