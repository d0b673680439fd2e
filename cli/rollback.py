"""`cfgroll rollback`"""

from __future__ import annotations

from typing import Annotated

import typer

from cfgroll.cli.common import (
    Files,
    LockTimeout,
    ProjectDir,
    ProjectName,
    Settle,
    StorePath,
    Timeout,
    Yes,
    confirm,
    context,
    out,
)


def rollback(
    tag: Annotated[
        str, typer.Argument(help="Release tag, its timestamp (20261126_221530), or `previous`.")
    ],
    yes: Yes = False,
    project_dir: ProjectDir = None,
    file: Files = None,
    project_name: ProjectName = None,
    store: StorePath = None,
    timeout: Timeout = 120.0,
    settle: Settle = 3.0,
    lock_timeout: LockTimeout = 0.0,
) -> None:
    """Put a recorded release back: its images, its files, its containers.

    Checks that every image of the release still exists (else changes nothing), retags them
    under the references Compose uses, writes the release's files into the project (edits that
    were never deployed are saved first as a draft), runs `docker compose up -d` without build
    or pull, waits until healthy, and records the rollback as a new release.
    """
    from cfgroll.rollback import plan
    from cfgroll.rollback import rollback as run_rollback

    ctx = context(project_dir, file, project_name, store, lock_timeout)
    planned = plan(ctx, tag)
    t = planned.target.manifest
    confirm(
        f"roll {t.project} back from {planned.live.tag} to {t.tag} "
        f"({len(planned.images)} service(s))?",
        yes,
    )
    result = run_rollback(ctx, planned, timeout=timeout, settle=settle)
    if result.draft:
        out(
            f"your edits were saved as {result.draft.tag}; `cfgroll checkout "
            f"{result.draft.tag}` writes them back"
        )
    out(f"rolled back to {t.tag}; recorded as {result.entry.tag}")
