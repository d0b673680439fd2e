"""Hooks and settings decided without an engine: which file runs, what it is told, what is
kept of its output, the time limit, `--no-hooks`, the check inside the gate, and how flags,
`x-cfgroll:` and the defaults combine."""

from __future__ import annotations

import os
import signal
import stat
import sys
import time
from pathlib import Path

import pytest

from cfgroll.capabilities import gate
from cfgroll.capabilities.hooks import HookFailed, Hooks, Occasion, describe
from cfgroll.context import Context
from cfgroll.engine.compose import Compose
from cfgroll.errors import ProjectError
from cfgroll.settings import Flags, HookSettings, effective, parse
from cfgroll.store.manifest import HookRecord, Layout, Manifest
from cfgroll.store.manifest_yaml import (
    hooks_from_yaml,
    hooks_to_yaml,
    manifest_from_yaml,
    manifest_to_yaml,
)
from tests.core.fakes import ScriptedDaemon, container, healthy
from tests.helpers import T0

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell hooks")
OCCASION = Occasion("deploy", "backup_20261127_100000", "backup_20261126_090000", ("web",), "p")


class Collecting:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.warnings: list[str] = []

    def step(self, message: str) -> None:
        self.lines.append(f"==> {message}")

    def output(self, line: str) -> None:
        self.lines.append(line)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def states(self, states: dict[str, str]) -> None:
        pass


def hooks_in(
    tmp_path: Path, scripts: dict[str, str], timeout: float = 300, secrets: tuple[str, ...] = ()
) -> tuple[Hooks, Collecting]:
    folder = tmp_path / ".cfgroll" / "hooks"
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in scripts.items():
        path = folder / name
        path.write_text("#!/bin/sh\n" + body)
        if not name.endswith(".sample"):
            path.chmod(0o755)
    reporter = Collecting()
    ctx = Context(Compose(tmp_path, ()), tmp_path / ".cfgroll" / "store.git", reporter)
    return Hooks(ctx, HookSettings(timeout=timeout), OCCASION, secrets), reporter


def test_a_hook_gets_the_context_in_its_environment_and_runs_in_the_project(
    tmp_path: Path,
) -> None:
    hooks, reporter = hooks_in(tmp_path, {"pre-deploy": "env | grep ^CFGROLL_ | sort; pwd\n"})
    hooks.before("pre-deploy", "stopped")
    (run,) = hooks.runs
    assert run.result == "ok" and run.exit_code == 0
    said = dict(line.split("=", 1) for line in run.output.splitlines() if "=" in line)
    assert said["CFGROLL_ACTION"] == "deploy"
    assert said["CFGROLL_TAG"] == "backup_20261127_100000"
    assert said["CFGROLL_LIVE_TAG"] == "backup_20261126_090000"
    assert said["CFGROLL_SERVICES"] == "web" and said["CFGROLL_PROJECT"] == "p"
    assert said["CFGROLL_PROJECT_DIR"] == str(tmp_path)
    assert said["CFGROLL_STORE"] == str(tmp_path / ".cfgroll" / "store.git")
    assert said["CFGROLL_PERFORMER"]
    assert run.output.splitlines()[-1] == str(tmp_path)  # the working folder
    assert "[hook pre-deploy] CFGROLL_ACTION=deploy" in reporter.lines


def test_output_is_prefixed_redacted_and_only_its_last_lines_kept(tmp_path: Path) -> None:
    script = 'i=0; while [ $i -lt 30 ]; do echo "line $i"; i=$((i+1)); done; echo "pw=s3cret-pw"\n'
    hooks, reporter = hooks_in(tmp_path, {"pre-deploy": script}, secrets=("s3cret-pw",))
    hooks.before("pre-deploy", "stopped")
    kept = hooks.runs[0].output.splitlines()
    assert len(kept) == 20 and kept[0] == "line 11" and kept[-1] == "pw=***"
    assert "[hook pre-deploy] pw=***" in reporter.lines
    assert not any("s3cret-pw" in line for line in reporter.lines)


def test_a_failing_pre_hook_stops_the_run_with_its_exit_code(tmp_path: Path) -> None:
    hooks, _ = hooks_in(tmp_path, {"pre-deploy": "echo database is locked >&2; exit 3\n"})
    with pytest.raises(HookFailed) as failed:
        hooks.before("pre-deploy", "the deploy was stopped before it changed anything")
    assert str(failed.value) == (
        "the pre-deploy hook failed (exit 3); the deploy was stopped before it changed anything"
    )
    assert failed.value.details == "database is locked"
    assert failed.value.exit_code == 1


def test_samples_and_files_that_are_not_executable_never_run(tmp_path: Path) -> None:
    hooks, reporter = hooks_in(tmp_path, {"pre-deploy.sample": "exit 1\n"})
    hooks.before("pre-deploy", "stopped")  # the sample is not the hook
    assert hooks.runs == [] and reporter.warnings == []
    plain = tmp_path / ".cfgroll" / "hooks" / "pre-deploy"
    plain.write_text("#!/bin/sh\nexit 1\n")
    hooks.before("pre-deploy", "stopped")
    assert hooks.runs == []
    assert "not executable" in reporter.warnings[0] and "chmod +x" in reporter.warnings[0]


def test_no_hooks_runs_none(tmp_path: Path) -> None:
    hooks, _ = hooks_in(tmp_path, {"pre-deploy": "exit 1\n", "check": "exit 1\n"})
    skipping = Hooks(hooks.ctx, HookSettings(enabled=False), OCCASION)
    skipping.before("pre-deploy", "stopped")
    assert skipping.check(5) is None
    assert skipping.runs == [] and skipping.skipped


def test_a_hook_past_its_limit_is_killed_with_everything_it_started(tmp_path: Path) -> None:
    """The hook starts a background child and hangs; at the limit both are gone."""
    script = f"sleep 300 & echo $! > {tmp_path}/child.pid\necho started\nsleep 300\n"
    hooks, _ = hooks_in(tmp_path, {"pre-deploy": script}, timeout=1)
    begun = time.monotonic()
    with pytest.raises(HookFailed, match="timed out after 1 s and was killed"):
        hooks.before("pre-deploy", "stopped")
    assert time.monotonic() - begun < 60  # not the hook's 300 s
    assert hooks.runs[0].result == "timed out" and hooks.runs[0].exit_code is None
    assert hooks.runs[0].output.startswith("started")
    child = int((tmp_path / "child.pid").read_text())
    for _ in range(50):
        if not alive(child):
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the hook's background child outlived the hook's time limit")


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for init to reap it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_hook_that_cannot_start_is_a_failure(tmp_path: Path) -> None:
    folder = tmp_path / ".cfgroll" / "hooks"
    hooks, _ = hooks_in(tmp_path, {})
    (folder / "pre-deploy").write_text("no shebang line here\n")
    (folder / "pre-deploy").chmod(0o755)
    with pytest.raises(HookFailed, match="could not be started"):
        hooks.before("pre-deploy", "stopped")


def test_after_hooks_only_warn_and_keep_their_record(tmp_path: Path) -> None:
    hooks, reporter = hooks_in(
        tmp_path, {"on-failure": 'echo "$CFGROLL_RESULT: $CFGROLL_REASON"; exit 2\n'}
    )
    kept: list[str] = []
    hooks.after("on-failure", kept.append, CFGROLL_RESULT="rolled-back", CFGROLL_REASON="boom")
    assert "the on-failure hook failed (exit 2)" in reporter.warnings[0]
    (record,) = hooks_from_yaml(kept[0])
    assert record.name == "on-failure" and record.output == "rolled-back: boom"
    assert hooks.runs == []  # after the record: kept apart, with the commit


def test_check_repeats_until_it_passes_inside_the_gate(tmp_path: Path) -> None:
    """The check fails twice, then passes: the gate passes, the record says three tries."""
    script = f"n=$(cat {tmp_path}/n 2>/dev/null || echo 0); echo $((n+1)) > {tmp_path}/n\n"
    script += '[ "$n" -ge 2 ] || { echo "not yet ($n)"; exit 1; }\necho ready\n'
    hooks, _ = hooks_in(tmp_path, {"check": script})
    daemon = ScriptedDaemon([[healthy(container("web"))]])
    limits = gate.Limits(timeout=30, settle=0)
    gate.wait_healthy(
        daemon, "p", ["web"], limits, gate.Baseline({}), check=hooks.check, check_pause=0.01
    )
    (record,) = hooks.runs
    assert record.result == "ok" and record.tries == 3 and record.output == "ready"


def test_a_check_that_never_passes_fails_the_gate_at_the_timeout(tmp_path: Path) -> None:
    hooks, _ = hooks_in(tmp_path, {"check": "echo 'HTTP 502 from /health'; exit 1\n"})
    daemon = ScriptedDaemon([[healthy(container("web"))]])
    with pytest.raises(gate.CheckFailed, match=r"the check hook failed \(exit 1\) after \d+ tries"):
        gate.wait_healthy(
            daemon, "p", ["web"], gate.Limits(timeout=1.5, settle=0), gate.Baseline({}),
            check=hooks.check, check_pause=0.05,
        )  # fmt: skip
    assert hooks.last_check() is not None
    assert hooks.last_check().output == "HTTP 502 from /health"  # type: ignore[union-attr]


def test_a_crash_while_the_check_retries_fails_the_gate_at_once(tmp_path: Path) -> None:
    hooks, _ = hooks_in(tmp_path, {"check": "exit 1\n"})
    web = healthy(container("web"))
    daemon = ScriptedDaemon([[web], [web], [container("web", state="exited")]])
    with pytest.raises(gate.GateFailed, match="exited with code 0") as failed:
        gate.wait_healthy(
            daemon, "p", ["web"], gate.Limits(timeout=60, settle=0), gate.Baseline({}),
            check=hooks.check, check_pause=0.01,
        )  # fmt: skip
    assert not isinstance(failed.value, gate.CheckFailed)


# -- settings ----------------------------------------------------------------------------


def test_flags_win_over_the_block_which_wins_over_the_defaults() -> None:
    block = {"timeout": 45, "settle": "1.5", "hooks": "./ops/hooks/", "hook_timeout": 60}
    s = effective(Flags(settle=0.5, lock_timeout=9), block)
    assert (s.limits.timeout, s.limits.settle, s.lock_timeout) == (45, 0.5, 9)
    assert s.hooks == HookSettings("ops/hooks", 60, True)
    d = effective(Flags(no_hooks=True))
    assert (d.limits.timeout, d.limits.settle, d.lock_timeout) == (120, 3, 0)
    assert d.hooks == HookSettings(".cfgroll/hooks", 300, False)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"timeout": "soon"}, "timeout:` must be a number of seconds of at least 1"),
        ({"timeout": 0}, "at least 1"),
        ({"settle": -1}, "settle:` must be a number"),
        ({"hook_timeout": True}, "hook_timeout:` must be a number"),
        ({"hooks": "../elsewhere"}, "leaves the project folder"),
        ({"hooks": 3}, "must be a project-relative folder"),
        ({"timout": 5}, "unknown key.*timout"),
    ],
)
def test_bad_settings_are_refused_in_one_line(block: dict[str, object], message: str) -> None:
    with pytest.raises(ProjectError, match=message):
        parse(block)


def test_hook_records_and_settings_survive_the_manifest() -> None:
    record = HookRecord("check", "failed", 1, 2.5, 4, "HTTP 502")
    manifest = Manifest(
        tag="backup_x", action="deploy", project="p", created_at=T0, host="h", user="u",
        cfgroll_version="0", result="ok", layout=Layout(settings={"timeout": 45}),
        hooks=(record,), hooks_skipped=False,
    )  # fmt: skip
    again = manifest_from_yaml(manifest_to_yaml(manifest))
    assert again.hooks == (record,) and again.layout.settings == {"timeout": 45}
    assert hooks_from_yaml(hooks_to_yaml([record])) == [record]
    assert describe(record) == "failed (exit 1) after 4 tries"
    plain = manifest_from_yaml(
        manifest_to_yaml(
            Manifest(
                tag="t",
                action="deploy",
                project="p",
                created_at=T0,
                host="h",
                user="u",
                cfgroll_version="0",
                result="ok",
            )
        )
    )
    assert plain.hooks == () and not plain.hooks_skipped and plain.layout.settings == {}
    assert "hooks" not in manifest_to_yaml(plain) and "x-cfgroll" not in manifest_to_yaml(plain)


def test_the_shipped_samples_are_not_executable_and_say_how_to_use_them() -> None:
    from importlib.resources import files

    samples = sorted(
        p.name for p in files("cfgroll.samples").iterdir() if p.name.endswith(".sample")
    )
    assert samples == ["check.sample", "on-failure.sample", "pre-deploy.sample"]
    for name in samples:
        text = files("cfgroll.samples").joinpath(name).read_text()
        assert text.startswith("#!/bin/sh\n") and "chmod +x" in text
    repo = Path(__file__).resolve().parents[2] / "hooks"
    assert not any(p.stat().st_mode & stat.S_IXUSR for p in repo.glob("*.sample"))
