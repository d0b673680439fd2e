"""`cfgroll log`"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cfgroll.cli.common import (
    Files,
    Json,
    ProjectDir,
    ProjectName,
    StorePath,
    context,
    local_time,
    out,
    print_json,
    table,
)


def log(
    number: Annotated[
        Optional[int], typer.Option("--number", "-n", min=1, help="Show at most N entries.")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Include failed attempts and saved drafts.")
    ] = False,
    json_: Json = False,
    project_dir: ProjectDir = None,
    file: Files = None,
    project_name: ProjectName = None,
    store: StorePath = None,
) -> None:
    """List the releases, newest first, with what each one changed."""
    from cfgroll.history import log as read_log

    ctx = context(project_dir, file, project_name, store)
    lines = read_log(ctx.open_store(), number, include_side=all_)
    if json_:
        print_json([_json(line) for line in lines])
        return
    if not lines:
        out("no releases yet; run `cfgroll deploy`")
        return
    rows = [["TAG", "TIME", "ACTION", "RESULT", "SERVICES", "CHANGED"]]
    for line in lines:
        m = line.entry.manifest
        action = f"{m.action} to {m.target}" if m.target else m.action
        changed = []
        if line.files_changed:
            changed.append("files: " + ", ".join(line.files_changed))
        if line.images_changed:
            changed.append("images: " + ", ".join(line.images_changed))
        rows.append(
            [
                m.tag,
                local_time(m.created_at),
                action,
                m.result.split(":")[0],
                ", ".join(m.services_changed) or "-",
                "; ".join(changed) or "-",
            ]
        )
    for text in table(rows):
        out(text)


def _json(line: object) -> dict[str, object]:
    from cfgroll.history import LogLine

    assert isinstance(line, LogLine)
    m = line.entry.manifest
    return {
        "tag": m.tag,
        "kind": m.kind,
        "commit": line.entry.commit,
        "created_at": m.created_at.isoformat(),
        "action": m.action,
        "target": m.target,
        "result": m.result,
        "services_changed": list(m.services_changed),
        "files_changed": list(line.files_changed),
        "images_changed": list(line.images_changed),
    }
