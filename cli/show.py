"""`cfgroll show`"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from cfgroll.cli.common import (
    git_source,
    local_time,
    out,
    print_json,
    table,
)
from cfgroll.cli.options import (
    Json,
    ShowSecrets,
    complete_entry,
    project_command,
)

if TYPE_CHECKING:
    from cfgroll.context import Context
    from cfgroll.history.log import Entry, FileUse


@project_command()
def show(
    ctx: Context,
    tag: Annotated[
        str,
        typer.Argument(
            help="Release tag, its timestamp, `live` or `previous` (default: the live release).",
            autocompletion=complete_entry,
        ),
    ] = "live",
    path: Annotated[
        Optional[str], typer.Argument(help="Print this file of the release (masked).")
    ] = None,
    json_: Json = False,
    show_secrets: ShowSecrets = False,
) -> None:
    """Show a release: its manifest and its files (or one file's content with PATH).

    Files are listed with their role (compose, env, secret, config, mount, tracked) and the
    services that read them; then what the stack read that the release does not hold, and
    why. Env values and secrets: files are masked unless --show-secrets is given."""
    from cfgroll.capabilities.hooks import describe
    from cfgroll.history.log import short, shown, shown_file

    if path is not None:
        out(shown_file(ctx, tag, path, show_secrets).rstrip("\n"))
        return
    result = shown(ctx, tag)
    entry, runs = result.entry, result.hooks
    m = entry.manifest
    if json_:
        dumps = [asdict(d) for d in result.data]
        print_json({**_json(entry), "hooks": [r.to_dict() for r in runs], "data": dumps})
        return
    out(f"{m.kind} {m.tag}   commit {entry.commit[:12]}")
    out(f"  action    {m.action}" + (f" to {m.target}" if m.target else ""))
    out(f"  result    {m.outcome}")
    out(f"  time      {local_time(m.created_at)}  ({m.created_at:%Y-%m-%dT%H:%M:%SZ})")
    out(f"  by        {m.user} on {m.host}, cfgroll {m.cfgroll_version}")
    out(f"  project   {m.project}" + (f" ({result.label})" if result.label else ""))
    if m.engine is not None:
        out(f"  engine    {m.engine.name} ({m.engine.id[:14]}, context {m.engine.context})")
    out(f"  changed   {', '.join(m.services_changed) or '-'}")
    out("services:")
    rows = [["  SERVICE", "IMAGE", "IMAGE ID", "BACKUP", "CONTAINERS"]]
    for name, svc in sorted(m.services.items()):
        states = ", ".join(f"{c.state}{'/' + c.health if c.health else ''}" for c in svc.containers)
        rows.append([f"  {name}", svc.image, short(svc.image_id), svc.backup_ref, states])
    for text in table(rows):
        out(text)
    out("files:")
    users: dict[str, list[str]] = {}
    for u in m.layout.uses:
        users.setdefault(u.path, []).append(_use(u))
    for p, role in sorted(m.files.items()):
        masked = {"env": ", masked", "secret": ", hidden"}.get(role, "")
        read_by = [text for folder, texts in users.items() for text in texts if _under(p, folder)]
        out(f"  {p}  ({role}{masked})" + (f"  <- {'; '.join(read_by)}" if read_by else ""))
    if m.layout.not_recorded:
        out("not recorded:")
        for nr in m.layout.not_recorded:
            who = f" ({nr.service}, {nr.via})" if nr.service else (f" ({nr.via})" if nr.via else "")
            out(f"  {nr.path}  {nr.reason}{who}")
    if result.data:
        out("data (dumps taken while it was live; `rollback --with-data` restores the newest):")
        for d in result.data:
            out(f"  {d.service}  {d.taken_at}  {d.size} bytes  sha256 {d.sha256[:12]}  ({d.file})")
    if m.log:
        out("failure:")
        for text in m.log.splitlines():
            out(f"  {text}")
    if m.hooks_skipped:
        out("hooks: skipped (--no-hooks)")
    elif runs:
        out("hooks:")
        for r in runs:
            out(f"  {r.name}  {describe(r)} ({r.seconds:.1f} s)")
            for text in r.output.splitlines():
                out(f"    | {text}")


def _use(u: FileUse) -> str:
    where = f" {u.target}" if u.target else ""
    return f"{u.service} {u.via}{where}" + (" ro" if u.read_only and u.via == "bind" else "")


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/") or folder == ""


def _json(entry: Entry) -> dict[str, Any]:
    m = entry.manifest
    return {
        "tag": m.tag,
        "kind": m.kind,
        "action": m.action,
        "target": m.target,
        "result": m.outcome,
        "reason": m.reason or None,
        "created_at": m.created_at.isoformat(),
        "commit": entry.commit,
        "source": git_source(m),
        "project": m.project,
        "orchestrator": m.orchestrator,
        "engine": asdict(m.engine) if m.engine else None,
        "host": m.host,
        "user": m.user,
        "cfgroll_version": m.cfgroll_version,
        "services_changed": list(m.services_changed),
        "files": m.files,
        "compose_files": list(m.compose_files),
        "env_files": list(m.layout.env_files),
        "uses": [asdict(u) for u in m.layout.uses],
        "not_recorded": [asdict(u) for u in m.layout.not_recorded],
        "services": {
            name: {
                "image": s.image,
                "image_id": s.image_id,
                "backup_ref": s.backup_ref,
                "containers": [
                    {"name": c.name, "state": c.state, "health": c.health} for c in s.containers
                ],
            }
            for name, s in sorted(m.services.items())
        },
        "log": m.log,
        "hooks_skipped": m.hooks_skipped,
    }
