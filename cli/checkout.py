"""`cfgroll checkout`"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cfgroll.cli.common import (
    out,
)
from cfgroll.cli.options import (
    complete_entry,
    project_command,
)

if TYPE_CHECKING:
    from cfgroll.context import Context


@project_command(settings=("lock_timeout",))
def checkout(
    ctx: Context,
    tag: Annotated[
        str,
        typer.Argument(
            help="Release, failed attempt (failed_…) or draft_….", autocompletion=complete_entry
        ),
    ],
) -> None:
    """Write a release's or attempt's files into the project folder, without deploying.

    Project files that differ from the live release are saved first as a draft.
    """
    from cfgroll.transactions.rollback import checkout as run_checkout

    result = run_checkout(ctx, tag)
    if result.draft:
        out(f"your edits were saved as {result.draft.tag}")
    if result.written:
        out(
            f"wrote {', '.join(result.written)} from {result.entry.tag}; "
            "deploy them with `cfgroll deploy`"
        )
    else:
        out(f"the project files already are those of {result.entry.tag}")
