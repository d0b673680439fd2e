"""How `deploy --dry-run` and `update --dry-run` print what a deploy would do."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from cfgroll.cli.common import out, print_json, table
from cfgroll.cli.status import file_json, file_line
from cfgroll.errors import CfgrollError

if TYPE_CHECKING:
    from cfgroll.operations.fleet_preview import FleetPreview
    from cfgroll.transactions.dry_run import DryRun, ServiceChange

_CHANGES = {
    "create": "create",
    "recreate": "recreate",
    "start": "start",
    "update": "update",
    "unchanged": "leave running",
}


def render_fleet(result: FleetPreview, json_: bool) -> None:
    """Print a fleet's dry run: each host's own (text, or JSON with `--json`), then raise when
    a host's deploy would be refused (exit 1)."""
    if json_:
        print_json(
            {
                "project": result.project,
                "release": result.release or None,
                "hosts": [
                    {
                        "host": h.host,
                        "live": h.live or None,
                        "missed": h.missed or None,
                        "exit": h.answer.code if h.answer else None,
                        "error": (h.answer.error or None) if h.answer else None,
                        "dry_run": _parsed(h.answer.out) if h.answer else None,
                    }
                    for h in result.hosts
                ],
            }
        )
    else:
        fleet = f"the fleet runs {result.release}" if result.release else "the first deploy"
        out(f"dry run: fleet deploy of {result.project} ({fleet}); nothing was changed")
        for h in result.hosts:
            out("")
            if h.answer is None:
                out(f"== {h.host}: not asked, unreachable ({h.missed}): it would be missed")
                continue
            out(f"== {h.host} (runs {h.live or 'nothing yet'}) ==")
            for line in h.answer.out.splitlines():
                out(f"  {line}" if line else "")
            if h.answer.code != 0:
                out(f"  error: {h.answer.error or f'exit {h.answer.code}'}")
    if result.refused:
        raise CfgrollError(f"the deploy would be refused on {', '.join(result.refused)}")


def _parsed(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None


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
