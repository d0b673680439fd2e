"""`cfgroll doctor`"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from cfgroll.cli.common import (
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


@project_command()
def doctor(
    ctx: Context,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help="Repair what is safe to repair: a stale lock, temporary files, git's durability "
            "settings, a missing .gitignore entry.",
        ),
    ] = False,
    json_: Json = False,
) -> None:
    """Check the store and the stack, and say what to fix.

    Checks: the store (`git fsck --strict`, every release's manifest, release tags on main,
    durability settings), the lock (held, by whom, stale), whether each release's images still
    exist, drift from the live release, temporary files of an interrupted run, the .gitignore
    entry. Read-only unless --fix. Exit 0: healthy; 1: problems found (each with its fix);
    2: cannot run (no store).
    """
    from cfgroll.operations.doctor import doctor as run_doctor

    report = run_doctor(ctx, fix)
    if json_:
        print_json({"healthy": report.healthy, "findings": [asdict(f) for f in report.findings]})
    else:
        rows = [["CHECK", "RESULT", ""]]
        for f in report.findings:
            rows.append(
                [f.check, f.verdict.upper() if f.verdict == "problem" else f.verdict, f.message]
            )
            if f.fix:
                rows.append(["", "", f"fix: {f.fix}"])
        for line in table(rows):
            out(line)
        out("healthy" if report.healthy else "problems found")
    if not report.healthy:
        raise typer.Exit(1)
