"""The terminal reporter and small rendering helpers the commands share."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from cfgroll.history.log import Manifest
    from cfgroll.transactions.deploy import Deployed
    from cfgroll.transactions.init import Initialised


def split_services(value: str | None) -> list[str]:
    return [s.strip() for s in (value or "").split(",") if s.strip()]


def report_setup(result: Deployed) -> None:
    """What a deploy or update set up on its way: the store, the .gitignore, a baseline."""
    if result.baseline:
        err(f"recorded what was running before as {result.baseline.tag} (action baseline)")
    if result.init.created:
        err(f"created the store {result.init.store.path}")
    if result.init.gitignore:
        err(f"added /.cfgroll/ to {result.init.gitignore}")
    if result.init.samples:
        err(f"installed {len(result.init.samples)} sample hooks in {hooks_folder(result.init)}")


def hooks_folder(init: Initialised) -> str:
    """Where the sample hooks went, relative to the working folder when inside it."""
    folder = init.samples[0].parent
    try:
        return str(folder.relative_to(Path.cwd())) + "/"
    except ValueError:
        return str(folder) + "/"


def nothing_changed(live_tag: str) -> str:
    return (
        f"nothing changed since {live_tag} (same files, same images): nothing recorded; "
        "--record-unchanged records it anyway"
    )


def err(message: str = "", nl: bool = True) -> None:
    typer.echo(message, err=True, nl=nl)


def out(message: str = "") -> None:
    typer.echo(message)


def is_tty(stream: Any = None) -> bool:
    stream = stream or sys.stdin
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def confirm(question: str, yes: bool) -> None:
    """Ask on a terminal unless `--yes`; without a terminal no question is asked."""
    if yes or not is_tty():
        return
    if not typer.confirm(question, default=False, err=True):
        from cfgroll.errors import CfgrollError

        raise CfgrollError("cancelled; nothing was changed")


def local_time(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def print_json(data: Any) -> None:
    out(json.dumps(data, indent=2, sort_keys=False))


def git_source(m: Manifest) -> dict[str, str] | None:
    """The project commit a release was deployed from, as `--json` shows it."""
    if m.git is None:
        return None
    return {
        "commit": m.git.commit,
        "branch": m.git.branch,
        "remote": m.git.remote,
        "author": m.git.author,
        "committed_at": m.git.committed_at.isoformat(),
    }


def table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


class TerminalReporter:
    """Progress on stderr: steps, Compose's own lines, warnings, the health gate's view."""

    def __init__(self) -> None:
        self.tty = is_tty(sys.stderr) and os.environ.get("TERM") != "dumb"
        self._last_states: dict[str, str] | None = None
        self._open_line = False

    def _close_line(self) -> None:
        if self._open_line:
            err()
            self._open_line = False

    def step(self, message: str) -> None:
        self._close_line()
        err(typer.style(f"==> {message}", bold=True) if self.tty else f"==> {message}")

    def output(self, line: str) -> None:
        self._close_line()
        err(f"    {line}")

    def warn(self, message: str) -> None:
        self._close_line()
        err(f"warning: {message}")

    def states(self, states: dict[str, str]) -> None:
        if states == self._last_states:
            return
        self._last_states = dict(states)
        text = "    " + "  ".join(f"{name}: {state}" for name, state in sorted(states.items()))
        if self.tty:
            width = max(20, typer.get_terminal_size().columns - 1)
            err("\r\x1b[2K" + text[:width], nl=False)
            self._open_line = True
        else:
            err(text)
