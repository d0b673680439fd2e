"""The project's hooks: the team's own steps at fixed points of a deploy, update or rollback.

Like git's hooks: one executable per hook point in the project's hooks folder (`.cfgroll/hooks/`
unless `x-cfgroll: hooks:` names another), found by its exact name (on Windows
`NAME.exe`, or `NAME.cmd`, `NAME.bat`, `NAME.ps1`, `NAME.py` run with their interpreter), run
in the project folder with
the run's context in `CFGROLL_*` environment variables. Its output streams live as
`[hook NAME] …` and its last lines (secrets redacted) are kept with the release or attempt.

- `pre-deploy`, `pre-rollback`: a non-zero exit stops the command before it changes anything;
- `check`: runs inside the health gate once the services are healthy, again and again until it
  passes or the gate's time is up; never passing fails the gate (automatic rollback);
- `post-deploy`, `post-rollback`, `on-failure`: run after the fact; a failure is a warning.

Each run has a time limit (`hook_timeout`, default 300 s); a hook that outlives it is killed
with its whole process group. Hooks run in a session of their own, so a Ctrl-C reaches cfgroll
alone, which kills the hook and then behaves as anywhere else in the run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Literal

from cfgroll.capabilities.gate import Check, CheckFailed
from cfgroll.context import Context, who
from cfgroll.errors import CfgrollError
from cfgroll.settings import HookSettings
from cfgroll.store import system
from cfgroll.store.manifest import Action, HookPoint, HookRecord, HookResult
from cfgroll.store.manifest_yaml import hooks_to_yaml
from cfgroll.store.secrets import redact

# How the failed command ended, for `on-failure`'s CFGROLL_RESULT.
FailureResult = Literal["rolled-back", "rollback-failed", "left-as-is", "removed"]

TAIL_LINES = 20  # the last lines of a hook's output kept in the record
LINE_WIDTH = 500
KILL_GRACE = 3.0
_NEW_GROUP: int = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)  # Windows only
# Windows has no execute bit: a hook is a program (`.exe`) or a script its interpreter runs,
# found by its name and suffix, in this order. Elsewhere a hook is an executable of the exact
# name.
_WINDOWS_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (".exe", ()),
    (".cmd", ("cmd", "/c")),
    (".bat", ("cmd", "/c")),
    (".ps1", ("powershell", "-NoProfile", "-ExecutionPolicy", "Bypass", "-File")),
    (".py", (sys.executable,)),
)


class HookFailed(CfgrollError):
    """A `pre-deploy` or `pre-rollback` hook said no: nothing was changed (exit 1)."""

    def __init__(self, record: HookRecord, what: str) -> None:
        self.record = record
        self.details = record.output
        super().__init__(f"the {record.name} hook {describe(record)}; {what}")


@dataclass(frozen=True)
class Occasion:
    """What the hooks of one run are told about it."""

    action: Action
    tag: str  # the release this run makes
    live_tag: str  # the release live before it ("" for the first deploy)
    services: tuple[str, ...]
    project: str
    target_tag: str = ""  # a rollback's target


@dataclass
class Hooks:
    """The hooks of one deploy, update or rollback, and what they did."""

    ctx: Context
    config: HookSettings
    occasion: Occasion
    secrets: Collection[str] = ()
    runs: list[HookRecord] = field(default_factory=list)  # run before the record was made
    _check_last: str | None = None  # the output of the previous `check` try

    @property
    def skipped(self) -> bool:
        return not self.config.enabled

    @property
    def folder(self) -> Path:
        return self.ctx.directory / self.config.directory

    def command(self, point: HookPoint) -> list[str] | None:
        """The argv that runs the hook for `point`, or None when the project has none."""
        path = self.folder / point
        if system.windows():
            for suffix, interpreter in _WINDOWS_KINDS:
                if path.with_name(point + suffix).is_file():
                    return [*interpreter, str(path.with_name(point + suffix))]
            return [str(path)] if path.is_file() else None
        if not path.is_file():
            return None
        if not os.access(path, os.X_OK):
            self.ctx.reporter.warn(
                f"{self.config.directory}/{point} is not executable, so it was not run "
                f"(`chmod +x {self.config.directory}/{point}` turns it on)"
            )
            return None
        return [str(path)]

    def before(self, point: HookPoint, what: str) -> None:
        """Run a `pre-` hook; `HookFailed` (saying `what` happened instead) if it fails."""
        record = self._run(point, self.config.timeout)
        if record is not None:
            self.runs.append(record)
            if record.result != "ok":
                raise HookFailed(record, what)

    def check(self, remaining: float) -> str | None:
        """One try of the `check` hook within `remaining` seconds: None when it passed (or
        there is none), else what went wrong. The last try is kept in `runs`."""
        previous = self.last_check()
        record = self._run("check", min(remaining, self.config.timeout), quiet=previous is not None)
        if record is None:
            return None
        if previous is not None:
            self.runs.remove(previous)
            record = replace(record, tries=previous.tries + 1)
        self.runs.append(record)
        return None if record.result == "ok" else f"the check hook {describe(record)}"

    @contextmanager
    def gate_check(self) -> Iterator[Check | None]:
        """The `check` hook as the health gate takes it (None: the project has none); a
        `CheckFailed` raised meanwhile carries the hook's last output as its details."""
        try:
            yield self.check if self.command("check") else None
        except CheckFailed as exc:
            last = self.last_check()
            exc.details = f"last output of the check hook:\n{last.output}" if last else ""
            raise

    def last_check(self) -> HookRecord | None:
        return next((r for r in self.runs if r.name == "check"), None)

    def after(self, point: HookPoint, keep: Callable[[str], None], **extra: str) -> None:
        """Run a hook after the fact (`post-…`, `on-failure`): a failure is a warning. `keep`
        stores what it did with the record it follows (a note on that commit)."""
        try:
            record = self._run(point, self.config.timeout, extra)
        except KeyboardInterrupt:
            self.ctx.reporter.warn(f"the {point} hook was interrupted")
            raise
        if record is None:
            return
        if record.result != "ok":
            self.ctx.reporter.warn(f"the {point} hook {describe(record)}; nothing was undone")
        try:
            keep(hooks_to_yaml([record]))
        except Exception as exc:  # noqa: BLE001 - the hook ran; failing to note it is minor
            self.ctx.reporter.warn(f"could not keep the {point} hook's output in the store: {exc}")

    # -- running one hook ------------------------------------------------------------------

    def _run(
        self,
        point: HookPoint,
        limit: float,
        extra: Mapping[str, str] | None = None,
        quiet: bool = False,
    ) -> HookRecord | None:
        if self.skipped:
            return None
        argv = self.command(point)
        if argv is None:
            return None
        if not quiet:
            self.ctx.reporter.step(f"running the {point} hook ({self.config.directory}/{point})")
        env = {**os.environ, **self.environment(), **(extra or {})}
        started = time.monotonic()
        lines: deque[str] = deque(maxlen=TAIL_LINES)
        shown: list[str] = []

        def on_line(text: str) -> None:
            text = redact(text, self.secrets)[:LINE_WIDTH]
            lines.append(text)
            shown.append(text)
            if not quiet:
                self.ctx.reporter.output(f"[hook {point}] {text}")

        try:
            proc = subprocess.Popen(  # noqa: S603 - argv list, the project's own hook
                argv,
                cwd=self.ctx.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # a process group of its own: a hook past its limit is killed with all it started
                start_new_session=sys.platform != "win32",
                creationflags=_NEW_GROUP,
            )
        except OSError as exc:
            why = exc.strerror or str(exc)
            hint = " (does it start with a #! line?)" if exc.errno == 8 else ""
            on_line(f"cannot run {argv[-1]}: {why}{hint}")
            return HookRecord(point, "not started", None, 0.0, 1, "\n".join(lines))
        result, code = _wait(proc, limit, on_line)
        output = "\n".join(lines)
        if quiet and output != self._check_last:  # a `check` whose say changed: show it
            for text in shown:
                self.ctx.reporter.output(f"[hook {point}] {text}")
        if point == "check":
            self._check_last = output
        return HookRecord(point, result, code, time.monotonic() - started, 1, output)

    def environment(self) -> dict[str, str]:
        o = self.occasion
        return {
            "CFGROLL_ACTION": o.action,
            "CFGROLL_TAG": o.tag,
            "CFGROLL_LIVE_TAG": o.live_tag,
            "CFGROLL_TARGET_TAG": o.target_tag,
            "CFGROLL_SERVICES": ",".join(o.services),
            "CFGROLL_PROJECT": o.project,
            "CFGROLL_PROJECT_DIR": str(self.ctx.directory),
            "CFGROLL_STORE": str(self.ctx.store_path),
            "CFGROLL_PERFORMER": who()[0],
            "CFGROLL_HOOK_TIMEOUT": f"{self.config.timeout:g}",
        }


def describe(record: HookRecord) -> str:
    """`failed (exit 2)`, `timed out after 300 s`, … for messages."""
    tries = f" after {record.tries} tries" if record.tries > 1 else ""
    if record.result == "ok":
        return f"passed{tries}"
    if record.result == "timed out":
        return f"timed out after {record.seconds:.0f} s and was killed{tries}"
    if record.result == "not started":
        last = record.output.splitlines()[-1] if record.output else "it cannot be run"
        return f"could not be started ({last})"
    return f"failed (exit {record.exit_code}){tries}"


def _wait(
    proc: subprocess.Popen[bytes], limit: float, on_line: Callable[[str], None]
) -> tuple[HookResult, int | None]:
    """Stream `proc`'s output to `on_line` until it exits or `limit` seconds pass. Called at
    once after the hook started: a Ctrl-C from here on kills it (the reader's start included:
    a Ctrl-C there, on a busy machine, left the hook running)."""
    assert proc.stdout is not None
    try:
        reader = threading.Thread(target=_read, args=(proc.stdout, on_line), daemon=True)
        reader.start()
        code = proc.wait(timeout=max(limit, 0.1))
        result: HookResult = "ok" if code == 0 else "failed"
    except subprocess.TimeoutExpired:
        _kill(proc)
        on_line(f"killed: still running after {limit:g} s (hook_timeout)")
        result, code = "timed out", None
    except BaseException:  # Ctrl-C: the hook goes first, then the run ends as usual
        _kill(proc)
        raise
    # A process the hook left in the background may hold the pipe: do not wait for it long.
    reader.join(timeout=2)
    return result, code


def _read(stream: IO[bytes], on_line: Callable[[str], None]) -> None:
    try:
        for raw in stream:
            on_line(raw.decode(errors="replace").rstrip("\r\n"))
    except (OSError, ValueError):
        pass


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Stop the hook and everything it started: SIGTERM to its process group, SIGKILL after
    `KILL_GRACE` seconds."""
    if sys.platform == "win32":
        subprocess.run(  # noqa: S603, S607 - argv list
            ["taskkill", "/F", "/T", "/PID", str(proc.pid)], capture_output=True, check=False
        )
        proc.wait()
        return
    for sig, grace in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        try:  # the hook is gone; end what it started too
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        break


def gate_check(hooks: Hooks | None) -> AbstractContextManager[Check | None]:
    """`hooks.gate_check()`, or no check at all when there are no hooks."""
    return hooks.gate_check() if hooks is not None else nullcontext(None)
