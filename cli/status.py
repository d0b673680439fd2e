"""`cfgroll status`"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from cfgroll.status import Status
    from cfgroll.store.secrets import EnvChanges


def status(
    check: Annotated[
        bool,
        typer.Option("--check", help="Exit 1 when anything drifted, 0 otherwise (for cron)."),
    ] = False,
    json_: Json = False,
    project_dir: ProjectDir = None,
    file: Files = None,
    project_name: ProjectName = None,
    store: StorePath = None,
) -> None:
    """Show the live release and what drifted from it.

    Files: project files that differ from the live release (for .env-style files, the keys
    that were added, removed or changed; never their values). Containers: for each service,
    whether its containers run the image the release recorded, are running and healthy, and
    services found in one and not the other.
    """
    from cfgroll.status import status as read_status

    result = read_status(context(project_dir, file, project_name, store))
    if json_:
        print_json(_json(result))
    elif result.live is None:
        out("no release yet; run `cfgroll deploy`")
    else:
        m = result.live.manifest
        out(f"live release {m.tag} ({m.action}, {local_time(m.created_at)})")
        out("files:" + ("" if result.files else " as recorded"))
        for f in result.files:
            out(f"  {f.path}  {f.state}{_keys(f.env)}")
        out("services:")
        rows = [["  SERVICE", "STATE", ""]]
        for s in result.services:
            rows.append([f"  {s.service}", "ok" if s.ok else "DRIFT", s.state])
        for line in table(rows):
            out(line)
        out("drift: " + ("yes" if result.drifted else "none"))
    if check and result.drifted:
        raise typer.Exit(1)


def _keys(env: EnvChanges | None) -> str:
    if not env:
        return ""
    parts = [
        f"{label} {', '.join(keys)}"
        for label, keys in (
            ("added", env.added),
            ("removed", env.removed),
            ("changed", env.changed),
        )
        if keys
    ]
    return ": " + "; ".join(parts) + " (values masked)"


def _json(result: Status) -> dict[str, object]:
    live = result.live
    return {
        "live": None
        if live is None
        else {
            "tag": live.tag,
            "action": live.manifest.action,
            "created_at": live.manifest.created_at.isoformat(),
            "commit": live.commit,
        },
        "drifted": result.drifted,
        "files": [
            {
                "path": f.path,
                "state": f.state,
                "keys": None
                if f.env is None
                else {"added": f.env.added, "removed": f.env.removed, "changed": f.env.changed},
            }
            for f in result.files
        ],
        "services": [
            {
                "service": s.service,
                "ok": s.ok,
                "state": s.state,
                "image_id": s.image_id,
                "recorded_image_id": s.recorded_id,
            }
            for s in result.services
        ],
    }
