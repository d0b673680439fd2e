"""`cfgroll checkout`"""

from __future__ import annotations

from typing import Annotated

import typer

from cfgroll.cli.common import (
    EnvFiles,
    Files,
    LockTimeout,
    ProjectDir,
    ProjectName,
    StorePath,
    complete_entry,
    context,
    out,
)


def checkout(
    tag: Annotated[
        str,
        typer.Argument(
            help="Release, failed attempt (failed_…) or draft_….", autocompletion=complete_entry
        ),
    ],
    project_dir: ProjectDir = None,
    file: Files = None,
    env_file: EnvFiles = None,
    project_name: ProjectName = None,
    store: StorePath = None,
    lock_timeout: LockTimeout = None,
) -> None:
    """Write a release's or attempt's files into the project folder, without deploying.

    Project files that differ from the live release are saved first as a draft.
    """
    from cfgroll.settings import Flags
    from cfgroll.transactions.rollback import checkout as run_checkout

    flags = Flags(lock_timeout=lock_timeout)
    result = run_checkout(context(project_dir, file, project_name, store, flags, env_file), tag)
    if result.draft:
        out(f"your edits were saved as {result.draft.tag}")
    if result.written:
        out(
            f"wrote {', '.join(result.written)} from {result.entry.tag}; "
            "deploy them with `cfgroll deploy`"
        )
    else:
        out(f"the project files already are those of {result.entry.tag}")
