"""The fault suite: a fault at every step of deploy, update and rollback, as an unexpected
error (`STEP`) and as a crash (`STEP:exit`, the process ends at once). After each: the store
is sound (`git fsck --strict`, refs consistent), the stack runs a recorded release (or, after
a crash, `cfgroll doctor` names the drift and the stale lock), and the next deploy succeeds.

The steps are read from the code (`faults.point("…")`), so a new step is covered as soon as
it is named; the summary at the end of the module is what docs/reliability.md reports."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cfgroll
import cfgroll.cli
import cfgroll.store
from cfgroll.faults import ENV, EXIT_CODE
from tests.helpers import DOCKERFILE, build_file_tree, containers, git, http_get, web_compose

pytestmark = pytest.mark.docker
# the package and every subpackage (cli/ and store/ are top-level folders of the checkout,
# linked into it: read once each)
FOLDERS = {Path(m.__file__).parent for m in (cfgroll, cfgroll.cli, cfgroll.store)}
FILES = {p.resolve() for folder in FOLDERS for p in folder.rglob("*.py")}
SOURCE = "".join(p.read_text() for p in sorted(FILES))
ALL_STEPS = sorted(set(re.findall(r'faults\.point\("([a-z:-]+)"\)', SOURCE)))
START_FIRST = "start-first:"  # the steps of a start-first rollout (their own project)
STEPS = [s for s in ALL_STEPS if not s.startswith(START_FIRST)]
FAST = ["--settle", "0.3", "--timeout", "60"]
REACHED: dict[str, set[str]] = {}  # command -> steps its runs reached
FIRED: dict[str, list[str]] = {}  # "command, mode" -> the steps a fault was injected at
REPORT_ENV = "CFGROLL_FAULT_REPORT"  # a path: write the summary there (docs/reliability.md)


def cfgroll_run(proj: Path, *args: str, fault: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if fault:
        env[ENV] = fault
    return subprocess.run(
        [sys.executable, "-m", "cfgroll", *args, "-C", str(proj)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def doctor(proj: Path) -> dict[str, dict[str, str]]:
    run = cfgroll_run(proj, "doctor", "--json")
    assert run.returncode in (0, 1), run.stderr
    return {f["check"]: f for f in json.loads(run.stdout)["findings"]}


def assert_sound(proj: Path, step: str, code: int, crashed: bool) -> None:
    """The store is whole; the stack runs the live release (after a crash: or doctor says it
    does not). An edit that was never deployed (exit 1, nothing changed) may stay on disk."""
    store = proj / ".cfgroll" / "store.git"
    fsck = subprocess.run(
        ["git", "--git-dir", str(store), "fsck", "--strict", "--no-dangling"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert fsck.returncode == 0, f"{step}: {fsck.stdout}{fsck.stderr}"
    found = doctor(proj)
    assert found["store"]["verdict"] == "ok" and found["releases"]["verdict"] == "ok", step
    status = json.loads(cfgroll_run(proj, "status", "--json").stdout)
    services_ok = all(s["ok"] for s in status["services"])
    if not crashed:
        assert services_ok, f"{step}: the stack is not the live release: {status['services']}"
        assert code == 1 or not status["files"], f"{step}: files differ: {status['files']}"
        assert found["lock"]["verdict"] == "ok", step
        return
    assert found["lock"]["verdict"] == "problem", f"{step}: a crash leaves the lock's info"
    assert (found["drift"]["verdict"] == "problem") == bool(status["drifted"]), step


@pytest.fixture
def project(tmp_path: Path, base_image: str, project_name: str) -> Path:
    proj = build_file_tree(
        tmp_path / "p",
        {
            "compose.yaml": web_compose(project_name),
            "Dockerfile": DOCKERFILE,
            ".env": "GREETING=v0\n",
        },
    )
    assert cfgroll_run(proj, "deploy", *FAST).returncode == 0
    return proj


def served(proj: Path) -> str:
    return http_get((proj / "compose.yaml").read_text().split("\n", 1)[0].removeprefix("name: "))


@pytest.mark.parametrize("mode", ["raise", "exit"])
@pytest.mark.parametrize("command", ["deploy", "update", "rollback"])
def test_a_fault_at_every_step(project: Path, command: str, mode: str) -> None:
    proj = project
    store = proj / ".cfgroll" / "store.git"
    reached = REACHED.setdefault(command, set())
    fired_at = FIRED.setdefault(f"{command}, {mode}", [])
    for i, step in enumerate(STEPS, 1):
        version = f"{command}-{mode}-{i}"
        if command == "rollback":
            (proj / ".env").write_text(f"GREETING={version}\n")
            assert cfgroll_run(proj, "deploy", *FAST).returncode == 0
            args = ["rollback", "previous", "--yes", *FAST]
        else:
            (proj / ".env").write_text(f"GREETING={version}\n")
            args = ["deploy", *FAST] if command == "deploy" else ["update", "web", *FAST]
        run = cfgroll_run(proj, *args, fault=step + (":exit" if mode == "exit" else ""))
        if mode == "exit":
            fired = run.returncode == EXIT_CODE
        else:
            fired = f"fault injected at {step}" in run.stderr
        if not fired:
            continue  # this command never passes that step
        reached.add(step)
        fired_at.append(step)
        if mode == "raise":
            # 0: struck after the release was recorded (it stands); 3: rolled back; 1: struck
            # before anything changed (reported as the unexpected error it stands for)
            assert run.returncode in (0, 1, 3), f"{step}: {run.returncode} {run.stderr}"
            if run.returncode == 1:
                assert "please report this" in run.stderr, step
        assert_sound(proj, step, run.returncode, crashed=mode == "exit")
        assert served(proj) in (version, *_recorded_versions(store)), step
        again = cfgroll_run(proj, "deploy", *FAST)
        assert again.returncode == 0, f"after {step}: {again.stderr}"
        assert all(f["verdict"] != "problem" for f in doctor(proj).values()), step


def _recorded_versions(store: Path) -> list[str]:
    return [
        line.split("=", 1)[1]
        for tag in git(store, "tag").split()
        for line in git(store, "show", f"{tag}:.env").splitlines()
        if line.startswith("GREETING=")
    ]


SF_WEB = """\
deploy:
  update_config:
    order: start-first
"""


@pytest.fixture
def start_first(tmp_path: Path, base_image: str, project_name: str) -> Path:
    proj = build_file_tree(
        tmp_path / "p",
        {
            "compose.yaml": web_compose(project_name, web_extra=SF_WEB),
            "Dockerfile": DOCKERFILE,
            ".env": "GREETING=v0\n",
        },
    )
    assert cfgroll_run(proj, "deploy", *FAST).returncode == 0
    return proj


def webs(proj: Path) -> list[str]:
    project = (proj / "compose.yaml").read_text().split("\n", 1)[0].removeprefix("name: ")
    return containers(project, "--filter", "label=com.docker.compose.service=web")


@pytest.mark.parametrize("mode", ["raise", "exit"])
@pytest.mark.parametrize("command", ["deploy", "update", "rollback"])
def test_a_fault_at_every_start_first_step(start_first: Path, command: str, mode: str) -> None:
    """After an error at a start-first step the rollback leaves one set of containers; after
    a crash, `doctor` names the leftovers and `--fix` removes them: one set, on a release."""
    proj = start_first
    store = proj / ".cfgroll" / "store.git"
    reached = REACHED.setdefault(command, set())
    fired_at = FIRED.setdefault(f"{command}, {mode}, start-first", [])
    steps = [s for s in ALL_STEPS if s.startswith(START_FIRST)]
    for i, step in enumerate(steps, 1):
        version = f"sf-{command}-{mode}-{i}"
        (proj / ".env").write_text(f"GREETING={version}\n")
        if command == "rollback":
            assert cfgroll_run(proj, "deploy", *FAST).returncode == 0
            args = ["rollback", "previous", "--yes", *FAST]
        else:
            args = ["deploy", *FAST] if command == "deploy" else ["update", "web", *FAST]
        run = cfgroll_run(
            proj, *args, "--drain", "0", fault=step + (":exit" if mode == "exit" else "")
        )
        fired = (
            run.returncode == EXIT_CODE
            if mode == "exit"
            else f"fault injected at {step}" in run.stderr
        )
        assert fired, f"{command} never reached {step}: {run.stderr}"
        reached.add(step)
        fired_at.append(step)
        if mode == "raise":
            assert run.returncode in (0, 3), f"{step}: {run.returncode} {run.stderr}"
        else:
            left = doctor(proj)["duplicates"]
            assert (left["verdict"] == "problem") == (len(webs(proj)) > 1), f"{step}: {left}"
        assert_sound(proj, step, run.returncode, crashed=mode == "exit")
        if mode == "exit":
            fixed = cfgroll_run(proj, "doctor", "--fix")
            assert fixed.returncode in (0, 1), fixed.stderr
        assert len(webs(proj)) == 1, f"{step}: {webs(proj)}"
        assert served(proj) in (version, *_recorded_versions(store)), step
        again = cfgroll_run(proj, "deploy", *FAST)
        assert again.returncode == 0, f"after {step}: {again.stderr}"
        assert len(webs(proj)) == 1, step
        assert all(f["verdict"] != "problem" for f in doctor(proj).values()), step


def test_a_crash_between_the_stop_and_the_leaving(start_first: Path) -> None:
    """`retire: stop-then-leave` killed once the old container is stopped, still in its
    networks: the new one serves, is no leftover, and the next deploy clears the stopped one."""
    proj = start_first
    compose = proj / "compose.yaml"
    compose.write_text(compose.read_text() + "x-cfgroll:\n  retire: stop-then-leave\n")
    assert cfgroll_run(proj, "deploy", *FAST).returncode == 0
    (proj / ".env").write_text("GREETING=sf-stopped\n")
    run = cfgroll_run(proj, "deploy", *FAST, "--drain", "0", fault="start-first:stopped:exit")
    assert run.returncode == EXIT_CODE, run.stderr
    assert doctor(proj)["duplicates"]["verdict"] != "problem"
    assert served(proj) == "sf-stopped"
    assert cfgroll_run(proj, "deploy", *FAST).returncode == 0
    assert len(webs(proj)) == 1 and served(proj) == "sf-stopped"


def test_every_step_is_reached_by_some_command() -> None:
    """Runs after the fault tests (same module, in order): no named step went untested."""
    if len(FIRED) < 12:
        pytest.skip("the fault tests did not all run in this session")
    assert set().union(*REACHED.values()) == set(ALL_STEPS)
    if os.environ.get(REPORT_ENV):
        Path(os.environ[REPORT_ENV]).write_text(json.dumps({"steps": ALL_STEPS, "fired": FIRED}))
