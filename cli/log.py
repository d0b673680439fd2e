"""`cfgroll log`"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cfgroll.cli.common import (
    git_source,
    local_time,
    out,
    print_json,
    table,
)
from cfgroll.cli.options import (
    HostOption,
    Json,
    complete_service,
    project_command,
)

if TYPE_CHECKING:
    from cfgroll.context import Context
    from cfgroll.history.log import LogLine


@project_command()
def log(
    ctx: Context,
    service: Annotated[
        Optional[str],
        typer.Argument(
            help="Only releases that changed this service.", autocompletion=complete_service
        ),
    ] = None,
    number: Annotated[
        Optional[int], typer.Option("--number", "-n", min=1, help="Show at most N entries.")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Include failed attempts and saved drafts.")
    ] = False,
    json_: Json = False,
    host: HostOption = None,
) -> None:
    """List the releases, newest first, with what each one changed and whether it can still be
    restored (all its images exist; `?` when the engine does not answer). With --host NAME, a
    fleet host's: the releases it ran, and its failed attempts with --all."""
    from cfgroll.history.log import changes, log_of

    lines = log_of(ctx.for_host(host), number, include_side=all_, service=service)
    if json_:
        print_json([_json(line) for line in lines])
        return
    if not lines:
        out("no releases yet; run `cfgroll deploy`")
        return
    rows = [["TAG", "TIME", "ACTION", "RESULT", "RESTORABLE", "SERVICES", "CHANGED"]]
    for line in lines:
        m = line.entry.manifest
        action = f"{m.action} to {m.target}" if m.target else m.action
        if m.git is not None:
            action += f" @{m.git.short}"
        changed = changes(line)
        rows.append(
            [
                m.tag + (" (pinned)" if line.pinned else ""),
                local_time(m.created_at),
                action,
                m.result,
                _restorable(line),
                ", ".join(m.services_changed) or "-",
                "; ".join(changed) or "-",
            ]
        )
    for text in table(rows):
        out(text)


def _json(line: LogLine) -> dict[str, object]:
    m = line.entry.manifest
    return {
        "tag": m.tag,
        "kind": m.kind,
        "commit": line.entry.commit,
        "source": git_source(m),
        "created_at": m.created_at.isoformat(),
        "action": m.action,
        "target": m.target,
        "result": m.outcome,
        "reason": m.reason or None,
        "services_changed": list(m.services_changed),
        "files_changed": list(line.files_changed),
        "file_roles": dict(line.roles),
        "images_changed": list(line.images_changed),
        "pinned": line.pinned,
        "data": {service: size for service, size in line.data},
        "restorable": None if line.restorable is None else line.restorable != "no",
        "images": line.restorable,  # yes (here) | pull (by digest) | no | null (unknown)
    }


def _restorable(line: LogLine) -> str:
    if line.entry.manifest.kind != "release":
        return "-"
    return line.restorable or "?"
