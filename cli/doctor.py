"""`cfgroll doctor`"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from cfgroll.cli.common import (
    EnvFiles,
    Files,
    Json,
    ProjectDir,
    ProjectName,
    StorePath,
    context,
    out,
    print_json,
    table,
)


def doctor(
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help="Repair what is safe to repair: a stale lock, temporary files, git's durability "
            "settings, a missing .gitignore entry.",
        ),
    ] = False,
    json_: Json = False,
    project_dir: ProjectDir = None,
    file: Files = None,
    env_file: EnvFiles = None,
    project_name: ProjectName = None,
    store: StorePath = None,
) -> None:
    """Check the store and the stack, and say what to fix.

    Checks: the store (`git fsck --strict`, every release's manifest, release tags on main,
    durability settings), the lock (held, by whom, stale), whether each release's images still
    exist, drift from the live release, temporary files of an interrupted run, the .gitignore
    entry. Read-only unless --fix. Exit 0: healthy; 1: problems found (each with its fix);
    2: cannot run (no store).
    """
    from cfgroll.capabilities.doctor import doctor as run_doctor

    report = run_doctor(context(project_dir, file, project_name, store, env_files=env_file), fix)
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
