"""`cfgroll diff`"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cfgroll.cli.common import (
    err,
    out,
)
from cfgroll.cli.options import (
    ShowSecrets,
    complete_entry,
    project_command,
)

if TYPE_CHECKING:
    from cfgroll.context import Context


@project_command()
def diff(
    ctx: Context,
    a: Annotated[
        Optional[str],
        typer.Argument(help="Release to compare from.", autocompletion=complete_entry),
    ] = None,
    b: Annotated[
        Optional[str], typer.Argument(help="Release to compare to.", autocompletion=complete_entry)
    ] = None,
    show_secrets: ShowSecrets = False,
) -> None:
    """Show what changed: no argument, the live release against the files on disk; A, that
    release against the live one; A B, between two releases.

    Covers every recorded file (compose files and includes, env files, mounted files and
    folders, configs, secrets, tracked files) and, against the disk, files the stack reads
    now that the release does not hold yet. Values in .env-style files are masked (keys that
    were added, removed or changed are shown, values as ***); secrets: files show only
    "changed"; binary files their sizes. --show-secrets shows everything.
    """
    from cfgroll.history.log import compare

    result = compare(ctx, a, b, show_secrets)
    if result.problem:
        err(f"warning: comparing only the files the live release holds: {result.problem}")
    for line in result.lines:
        out(line)
    if not result.lines:
        out(f"no differences between {result.old} and {result.new}")
