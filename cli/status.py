"""`cfgroll status`"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from cfgroll.cli.common import (
    local_time,
    out,
    print_json,
    table,
)
from cfgroll.cli.options import (
    Json,
    project_command,
)

if TYPE_CHECKING:
    from cfgroll.context import Context
    from cfgroll.history.following import Following
    from cfgroll.history.status import EnvChanges, FileDrift, Status


@project_command(model=True)
def status(
    ctx: Context,
    check: Annotated[
        bool,
        typer.Option("--check", help="Exit 1 when anything drifted, 0 otherwise (for cron)."),
    ] = False,
    json_: Json = False,
) -> None:
    """Show the live release and what drifted from it.

    Files: every file the release records (compose files, env files, mounted files and folders,
    configs, secrets, tracked files) that differs from the release, and files the stack reads
    now that the release does not hold yet (for .env-style files, the keys that were added,
    removed or changed; never their values). Not recorded: what the stack reads that no
    release versions (outside the project, writable data folders, ignored), and why.
    Containers: for each service, whether its containers run the image the release recorded,
    are running and healthy, and services found in one and not the other.

    A fleet (x-cfgroll: hosts:): instead of the services, one line per host: the release it
    runs, and its drift (behind the fleet's release, running something else, unreachable).
    """
    from cfgroll.history.status import (
        status as read_status,  # imported while Compose reads the model
    )

    result = read_status(ctx)
    if json_:
        print_json(_json(result))
    elif result.live is None:
        out("no release yet; run `cfgroll deploy`")
    else:
        m = result.live.manifest
        out(f"live release {m.tag} ({m.action}, {local_time(m.created_at)})")
        if result.hosts:
            out(f"a fleet of {len(result.hosts)} host(s); {m.tag} is the fleet's release")
        else:
            where = f"engine: {result.engine}" + (f", {result.label}" if result.label else "")
            if result.engine_changed:
                where += f"; the live release ran on another engine, {result.engine_changed}"
            out(where)
        if (follow := result.following) is not None:
            line = (
                f"pull: follows {follow.upstream}, at {follow.commit[:7] or '?'} when last fetched"
            )
            line += "" if follow.head == follow.commit else f", checked out {follow.head[:7]}"
            if (hold := follow.held) is not None:
                line += (
                    f"; held: {hold.how} ({hold.tag}); a new commit, "
                    "or `cfgroll pull --resume`, goes on"
                )
            out(line)
        if result.problem:
            out(f"warning: the project as it is now cannot be read: {result.problem}")
        out("files:" + ("" if result.files else " as recorded"))
        for f in result.files:
            out(file_line(f))
        if result.not_recorded:
            out("not recorded (cfgroll cannot put these back):")
            for u in result.not_recorded:
                out(f"  {u.path}  {u.reason}{_user(u.service, u.via)}")
        if result.hosts:
            out("hosts:")
            rows = [["  HOST", "RELEASE", "STATE", ""]]
            for h in result.hosts:
                rows.append([f"  {h.host}", h.release or "-", "ok" if h.ok else "DRIFT", h.drift])
        else:
            out("services:")
            rows = [["  SERVICE", "STATE", ""]]
            for s in result.services:
                rows.append([f"  {s.service}", "ok" if s.ok else "DRIFT", s.state])
        for line in table(rows):
            out(line)
        out("drift: " + ("yes" if result.drifted else "none"))
    if check and result.drifted:
        raise typer.Exit(1)


_STATES = {
    "modified": "modified",
    "added": "new, not in the release yet",
    "removed": "removed",
    "mode": "mode changed",
}


def file_line(f: FileDrift) -> str:
    """One drifted file as `status` (and `deploy --dry-run`) print it; values never shown."""
    role = f" ({f.role})" if f.role not in (None, "compose", "env") else ""
    return f"  {f.path}{role}  {_STATES[f.state]}{_keys(f.env)}"


def file_json(f: FileDrift) -> dict[str, object]:
    keys = None if f.env is None else {"added": f.env.added, "removed": f.env.removed}
    if keys is not None and f.env is not None:
        keys["changed"] = f.env.changed
    return {"path": f.path, "state": f.state, "role": f.role, "keys": keys}


def _user(service: str, via: str) -> str:
    if service:
        return f" ({service}, {via})"
    return f" ({via})" if via else ""


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
        "engine": result.engine,
        "engine_changed": result.engine_changed or None,
        "orchestrator": live.manifest.orchestrator if live else None,
        "drifted": result.drifted,
        "problem": result.problem or None,
        "pull": None if result.following is None else _following(result.following),
        "not_recorded": [asdict(u) for u in result.not_recorded],
        "files": [file_json(f) for f in result.files],
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
        "hosts": [asdict(h) | {"ok": h.ok} for h in result.hosts],
    }


def _following(f: Following) -> dict[str, object]:
    held = f.held
    return {
        "follows": f.upstream,
        "upstream_commit": f.commit or None,
        "head": f.head,
        "held": None
        if held is None
        else {
            "release": held.tag,
            "rolled_back_to": held.target,
            "why": held.how,
            "at": held.at.isoformat(),
        },
    }
