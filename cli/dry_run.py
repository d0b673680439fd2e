"""How `deploy --dry-run` and `update --dry-run` print what a deploy would do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cfgroll.cli.common import out, print_json, table
from cfgroll.cli.status import file_json, file_line

if TYPE_CHECKING:
    from cfgroll.transactions.dry_run import DryRun, ServiceChange

_CHANGES = {
    "create": "create",
    "recreate": "recreate",
    "start": "start",
    "update": "update",
    "unchanged": "leave running",
}


def render(result: DryRun, json_: bool) -> None:
    """Print `result`: text, or JSON with `--json`."""
    if json_:
        print_json(_json(result))
        return
    over = f"over {result.live}" if result.live else "the first deploy"
    out(f"dry run: {result.action} of {result.project}, {over}; nothing was changed")
    if result.baseline:
        out("the containers running now would first be recorded as a baseline release")
    out("files:" + ("" if result.files else " as recorded" if result.live else " all new"))
    for f in result.files:
        out(file_line(f))
    out("services:")
    rows = [["  SERVICE", "WOULD", ""]]
    rows += [[f"  {s.service}", _CHANGES[s.change], _why(s)] for s in result.services]
    rows += [[f"  {name}", "not touched", "not part of this update"] for name in result.untouched]
    for line in table(rows):
        out(line)
    if result.start_first:
        out(f"start-first: {', '.join(result.start_first)} (the old container serves meanwhile)")
    for note in result.notes:
        out(f"note: {note}")
    out(f"hooks: {', '.join(result.hooks) or 'none'}")
    if result.data:
        out(f"data dumped first: {', '.join(result.data)}")
    if result.diff:
        out("")
        for line in result.diff:
            out(line)
    out("")
    verdict = "would go ahead" if result.changes else "would change nothing known before the build"
    out(f"the {result.action} {verdict}; run it without --dry-run")


def _why(s: ServiceChange) -> str:
    parts = [s.why] if s.why else []
    if s.build:
        parts.append("built first")
    return "; ".join(parts)


def _json(result: DryRun) -> dict[str, object]:
    return {
        "action": result.action,
        "project": result.project,
        "live": result.live,
        "could_go_ahead": True,
        "baseline": result.baseline,
        "files": [file_json(f) for f in result.files],
        "diff": result.diff,
        "services": [
            {"service": s.service, "change": s.change, "why": s.why, "build": s.build}
            for s in result.services
        ],
        "untouched": result.untouched,
        "start_first": result.start_first,
        "notes": result.notes,
        "hooks": result.hooks,
        "data": result.data,
    }
